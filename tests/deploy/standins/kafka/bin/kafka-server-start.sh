#!/bin/bash
# kafka-server-start.sh of the stand-in: the broker with its own log4j2 config and a 1 GB heap
# unless KAFKA_HEAP_OPTS says otherwise.
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml}
exec "$(dirname "$0")/kafka-run-class.sh" kafka.Kafka "$@"
