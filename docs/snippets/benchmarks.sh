#!/usr/bin/env bash
# Shell blocks of the docs: checked with bash -n, never run.
exit 0

# [snippet:commands]
scripts/bench --report    # runs the two below, then writes this page and its plots
scripts/bench --peers     # keel against cockatiel, opossum and tenacity: peers.json
scripts/bench --figures   # instructions and system calls per call: figures.json
scripts/bench             # every benchmark, the time ratios and the figures above
# [end]
