#!/bin/bash
# kafka-run-class.sh of the stand-in: runs a Java main class on the Kafka classpath with the
# documented KAFKA_HEAP_OPTS / KAFKA_JVM_PERFORMANCE_OPTS / KAFKA_LOG4J_OPTS / KAFKA_OPTS.
set -euo pipefail
: "${KAFKA_HEAP_OPTS:=-Xmx256M}"
: "${KAFKA_LOG4J_OPTS:=-Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.yaml}"
[[ -f ${KAFKA_LOG4J_OPTS#*=} ]] || KAFKA_LOG4J_OPTS=-Dlog4j2.configurationFile=/etc/kafka/docker/tools-log4j2.yaml
# shellcheck disable=SC2086  # the *_OPTS variables are word lists by contract
exec java $KAFKA_HEAP_OPTS ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC} $KAFKA_LOG4J_OPTS \
    ${KAFKA_JMX_OPTS:-} ${KAFKA_OPTS:-} -cp "${CLASSPATH:+$CLASSPATH:}/opt/kafka/libs/*" "$@"
