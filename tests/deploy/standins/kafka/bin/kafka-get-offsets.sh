#!/bin/bash
# kafka-get-offsets.sh of the stand-in: a topic's offsets.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.GetOffsetShell "$@"
