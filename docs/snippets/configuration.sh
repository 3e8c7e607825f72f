#!/usr/bin/env bash
# Shell blocks of the docs: checked with bash -n, never run.
exit 0

# [snippet:keel-check]
keel-check FILE...                                  # validate; exit 0, or 1 with every error listed
keel-check --explain FILE [DEPENDENCY]              # the effective policies, as loadable YAML
keel-check --schedule FILE DEPENDENCY [--seed N]    # what one request can cost the dependency
# [end]
