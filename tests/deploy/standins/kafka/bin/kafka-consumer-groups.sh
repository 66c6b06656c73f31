#!/bin/bash
# kafka-consumer-groups.sh of the stand-in: consumer group offsets and lag.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@"
