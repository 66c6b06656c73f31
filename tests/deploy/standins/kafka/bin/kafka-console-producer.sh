#!/bin/bash
# kafka-console-producer.sh of the stand-in: write to a topic.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.ConsoleProducer "$@"
