#!/bin/bash
# kafka-topics.sh of the stand-in: create, list and describe topics.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.TopicCommand "$@"
