#!/usr/bin/env bash
# Shell blocks of the docs: checked with bash -n, never run.
exit 0

# [snippet:build]
cmake --preset release && cmake --build --preset release -j2
cmake --install build/release --prefix /opt/keel
# [end]
