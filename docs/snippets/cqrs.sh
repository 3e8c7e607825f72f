#!/usr/bin/env bash
# Shell blocks of the docs: checked with bash -n, never run.
exit 0

# [snippet:run]
scripts/demo                         # 2,000 orders, every fault
scripts/demo --orders 200 --faults none
scripts/demo --help
# [end]

# [snippet:real-servers]
scripts/demo --kafka broker1:9092,broker2:9092 --pg "host=db.internal user=demo password=..."
# or two databases on different servers:
scripts/demo --kafka broker1:9092 --event-store-dsn "..." --read-model-dsn "..."
# [end]
