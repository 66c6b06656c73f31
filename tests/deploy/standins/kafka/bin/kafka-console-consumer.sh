#!/bin/bash
# kafka-console-consumer.sh of the stand-in: read a topic.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.consumer.ConsoleConsumer "$@"
