# shellcheck shell=bash
# Helpers shared by scripts/*. Source it; do not execute it.
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Absolute path of the repository root (the parent of scripts/).
KEEL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KEEL_ROOT

keel_log() { printf '==> %s\n' "$*" >&2; }
keel_warn() { printf 'warning: %s\n' "$*" >&2; }
keel_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

keel_have() { command -v "$1" >/dev/null 2>&1; }

# Run a command as root: directly when we are root, else through sudo.
keel_as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif keel_have sudo; then
        sudo "$@"
    else
        keel_die "need root (or sudo) to run: $*"
    fi
}

# Make sure the build dependencies are installed (scripts/deps).
keel_deps() {
    "${KEEL_ROOT}/scripts/deps"
}

# Configure a CMake preset and build it (optionally only some targets).
#   keel_configure_build <preset> [target...]
keel_configure_build() {
    local preset="$1"
    shift
    local -a targets=()
    local t
    for t in "$@"; do
        targets+=(--target "$t")
    done
    keel_log "configure: ${preset}"
    cmake --preset "${preset}"
    keel_log "build: ${preset}${*:+ ($*)}"
    cmake --build --preset "${preset}" -j "${KEEL_JOBS:-2}" "${targets[@]}"
}
