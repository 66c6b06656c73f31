#!/bin/bash
# kafka-storage.sh of the stand-in: format and inspect KRaft storage.
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
