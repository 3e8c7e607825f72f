#!/usr/bin/env bash
# Shell blocks of the docs: checked with bash -n, never run.
exit 0

# [snippet:commands]
scripts/demo    # build (release) and run the main job: the CQRS pipeline under faults (about 1 min after the build)
scripts/test    # every test: release, ASan+UBSan, TSan, a consumer of the installed package, 30 s of fuzzing
scripts/bench   # build and run the benchmarks (release); JSON in build/release/bench/
scripts/fuzz    # fuzz the configuration loader (libFuzzer, clang-14) for 600 s or $1 seconds
# [end]
