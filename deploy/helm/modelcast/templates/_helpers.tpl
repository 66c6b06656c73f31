{{/* Name of a release's object: <release>-modelcast-<component>, or <release>-<component> when
the release name already says modelcast. */}}
{{- define "modelcast.fullname" -}}
{{- if contains "modelcast" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-modelcast" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "modelcast.labels" -}}
app.kubernetes.io/name: modelcast
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "pusher") */}}
{{- define "modelcast.selector" -}}
app.kubernetes.io/name: modelcast
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "modelcast.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ required "image.tag is required (a pinned version)" .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "modelcast.secretName" -}}{{ include "modelcast.fullname" . }}{{- end -}}

{{/* Environment every service gets: Kafka, log level, tracing, extraEnv. */}}
{{- define "modelcast.commonEnv" -}}
- name: MC_KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required" .Values.kafka.bootstrapServers | quote }}
{{- range $k, $v := .Values.kafka.properties }}
- name: {{ printf "MC_KAFKA_%s" ($k | upper | replace "." "_") }}
  value: {{ $v | quote }}
{{- end }}
{{- range $k, $v := .Values.kafka.secretProperties }}
- name: {{ printf "MC_KAFKA_%s" ($k | upper | replace "." "_") }}
  valueFrom:
    secretKeyRef: {name: {{ $v.secret }}, key: {{ $v.key }}}
{{- end }}
- name: MC_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- with .Values.tracing }}
{{- if .otlpEndpoint }}
- name: MC_OTLP_ENDPOINT
  value: {{ .otlpEndpoint | quote }}
{{- with .sample }}
- name: MC_TRACE_SAMPLE
  value: {{ . | toString | quote }}
{{- end }}
{{- if .headersSecret.name }}
- name: MC_OTLP_HEADERS
  valueFrom:
    secretKeyRef: {name: {{ .headersSecret.name }}, key: {{ required "tracing.headersSecret.key is required with its name" .headersSecret.key }}}
{{- end }}
{{- end }}
{{- end }}
- name: MC_HTTP_BIND
  value: "0.0.0.0"
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Token settings of model-api and authz: a key (from a Secret) or a JWKS URL. */}}
{{- define "modelcast.jwtEnv" -}}
{{- if .Values.jwt.jwksUrl }}
- name: MC_JWT_JWKS_URL
  value: {{ .Values.jwt.jwksUrl | quote }}
{{- with .Values.jwt.jwksAlgs }}
- name: MC_JWT_JWKS_ALGS
  value: {{ . | quote }}
{{- end }}
{{- else }}
- name: MC_JWT_ALG
  value: {{ .Values.jwt.alg | quote }}
- name: MC_JWT_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.jwt.existingSecret | default (include "modelcast.secretName" .) }}
      key: {{ if .Values.jwt.existingSecret }}{{ .Values.jwt.existingSecretKey }}{{ else }}jwt-key{{ end }}
{{- end }}
{{- with .Values.jwt.issuer }}
- name: MC_JWT_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with .Values.jwt.audience }}
- name: MC_JWT_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by the three workloads. */}}
{{- define "modelcast.podCommon" -}}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.hostAliases }}
hostAliases:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* HTTP probes on the named port "http". */}}
{{- define "modelcast.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* An optional MC_* setting: (list "MC_NAME" value) gives its env entry, or nothing when the
value is empty (the service's own default applies). Whole numbers stay whole (not 1e+06). */}}
{{- define "modelcast.optEnv" -}}
{{- $v := index . 1 -}}
{{- if $v -}}
- name: {{ index . 0 }}
  value: {{ ternary (printf "%.0f" $v) (toString $v) (kindIs "float64" $v) | quote }}
{{- end -}}
{{- end -}}
