#!/bin/bash
# Usage: modelcast-healthcheck [PATH...]   (default /healthz)
# The image's health check: GET each PATH from the service in this container; exit 0 when
# every one answers 200 (`modelcast-healthcheck /healthz /readyz`: alive and ready).
# The port is MC_HTTP_PORT, or the default of the service PID 1 runs (model-api 8701,
# authz 8702, pusher 8703). Plain bash (/dev/tcp): the image carries no HTTP client.
set -uo pipefail
port=${MC_HTTP_PORT:-}
if [[ -z $port ]]; then
    case $(tr '\0' ' ' </proc/1/cmdline 2>/dev/null) in
    *modelcast-authz*) port=8702 ;;
    *modelcast-pusher*) port=8703 ;;
    *) port=8701 ;;
    esac
fi
get() {
    local status
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$1" >&3
    IFS= read -r -t 3 status <&3 || {
        exec 3<&-
        return 1
    }
    exec 3<&-
    [[ $status == HTTP/1.?' 200 '* ]]
}
(($#)) || set -- /healthz
for path in "$@"; do
    get "$path" || exit 1
done
exit 0
