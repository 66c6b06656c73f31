#!/bin/bash
# kafka-broker-api-versions.sh of the stand-in: the broker's API versions (a readiness probe).
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
