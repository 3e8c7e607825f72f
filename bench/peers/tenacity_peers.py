"""The Python side of bench/peers: Debian's python3-tenacity doing the work
keel_bench_peers gives keel. Run by bench/peers/run with the system Python
(/usr/bin/python3, which sees the Debian package) as

    /usr/bin/python3 bench/peers/tenacity_peers.py OUT.json

The operation is a plain function that returns at once. tenacity retries; it
has no per-attempt timeout for a plain function, no circuit breaker and no
bulkhead, so its cases are the bare call, the retry (3 attempts, exponential
backoff), and the retry path (failing twice, then succeeding, zero backoff)
against the function called until it succeeds by hand. Repetitions of the
cases are interleaved in a random order; each reports the median CPU time
per call (time.process_time_ns) and the wall time. Bytes per call are not
reported: CPython does not count what it allocates over a run.
"""

import json
import os
import random
import statistics
import sys
import time

import tenacity

CALLS = int(os.environ.get("PEERS_CALLS", "200000"))
# The retry path costs tenacity tens of microseconds a call: fewer calls.
RETRY_PATH_CALLS = int(os.environ.get("PEERS_PYTHON_RETRY_PATH_CALLS", "20000"))
REPETITIONS = int(os.environ.get("PEERS_REPETITIONS", "5"))


def succeed():
    return 42


class Refused(Exception):
    pass


def fail_twice():
    """An operation failing on its first two calls, then succeeding; every
    third call starts a new cycle."""
    state = [0]

    def op():
        state[0] += 1
        if state[0] % 3:
            raise Refused()
        return 42

    return op


def retrying(wait):
    return tenacity.Retrying(stop=tenacity.stop_after_attempt(3), wait=wait, reraise=True)


def bare_fail_twice():
    op = fail_twice()

    def call():
        while True:
            try:
                return op()
            except Refused:
                pass

    return call


def cases():
    exponential = retrying(tenacity.wait_exponential())
    zero = retrying(tenacity.wait_none())
    failing = fail_twice()
    return {
        "bare": (succeed, CALLS),
        "tenacity_retry": (lambda: exponential(succeed), CALLS),
        "bare_fail2": (bare_fail_twice(), RETRY_PATH_CALLS),
        "tenacity_retry_fail2": (lambda: zero(failing), RETRY_PATH_CALLS),
    }


def timed(call, calls):
    cpu0 = time.process_time_ns()
    wall0 = time.perf_counter_ns()
    for _ in range(calls):
        if call() != 42:
            raise RuntimeError("wrong result")
    wall = time.perf_counter_ns() - wall0
    cpu = time.process_time_ns() - cpu0
    return cpu / calls, wall / calls


def main(out_path):
    calls = cases()
    for call, _ in calls.values():  # warm-up
        for _ in range(1000):
            call()
    samples = {name: [] for name in calls}
    for _ in range(REPETITIONS):
        for name in random.sample(list(calls), len(calls)):
            samples[name].append(timed(*calls[name]))
    results = {
        name: {
            "calls": calls[name][1],
            "cpu_ns": statistics.median(s[0] for s in samples[name]),
            "wall_ns": statistics.median(s[1] for s in samples[name]),
            "bytes_per_call": None,
        }
        for name in calls
    }
    out = {
        "runtime": "python " + sys.version.split()[0],
        "versions": {"tenacity": tenacity_version()},
        "repetitions": REPETITIONS,
        "results": results,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)


def tenacity_version():
    try:
        from importlib.metadata import version

        return version("tenacity")
    except Exception:  # pylint: disable=broad-except
        return "unknown"


if __name__ == "__main__":
    main(sys.argv[1])
