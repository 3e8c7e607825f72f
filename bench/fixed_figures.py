#!/usr/bin/env python3
"""Cost figures that do not move with the machine: instructions and system
calls per call (issue 27).

    python3 bench/fixed_figures.py [--build build/release] [--out FILE]
                                   [--from FILE]

For each benchmark below, runs it with KEEL_BENCH_ITERATIONS at two counts
N1 < N2 under callgrind (instructions: the `summary` line of the profile) and
under `strace -f -c` (system calls: the `total` line), and divides the
difference by N2 - N1: what start-up, warm-up and shutdown cost cancels out.
Writes the figures to build/release/bench/figures.json, prints them with the
system calls each benchmark makes per call, then PASS or FAIL per target, and
exits 1 if a target fails. --from prints and checks a figures file again
without measuring.

Targets:
  - BM_keel_pipeline makes as many system calls per call as BM_bare_op: no
    timer syscall per timeout (BM_naive_timeout's count shows what one costs);
  - the full chain (retry + timeout + closed breaker + uncontended bulkhead,
    keel_bench_peers' BM_peer_chain) makes as many as BM_bare_op, and adds at
    most 600 instructions per call over the bare operation driven the same
    way (BM_peer_bare, the same binary);
  - a call carrying a fallback that it does not need (BM_keel_pipeline_fallback)
    adds at most 30 instructions over BM_keel_pipeline: the fallback is a
    word copied into the call until the call fails (issue 25).
"""

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

N1, N2 = 20_000, 40_000

# (name shown, binary under the build's bench/, Google Benchmark name)
BENCHMARKS = [
    ("BM_bare_op", "keel_bench_core", "BM_bare_op"),
    ("BM_naive_timeout", "keel_bench_core", "BM_naive_timeout"),
    ("BM_keel_pipeline", "keel_bench_core", "BM_keel_pipeline"),
    ("BM_keel_pipeline_fallback", "keel_bench_core", "BM_keel_pipeline_fallback"),
    ("BM_peer_bare", "keel_bench_peers", "BM_peer_bare"),
    ("full chain", "keel_bench_peers", "BM_peer_chain"),
]

SAME_SYSCALLS_AS_BARE = ["BM_keel_pipeline", "full chain"]
# (benchmark, its baseline in the same binary, at most this many
# instructions added). keel_bench_peers drives its loop through KeepRunning
# (16 instructions a call more than keel_bench_core's driver): its own
# BM_peer_bare, the same posted operation, is the full chain's baseline.
MAX_ADDED_INSTRUCTIONS = [("full chain", "BM_peer_bare", 600),
                          ("BM_keel_pipeline_fallback", "BM_keel_pipeline", 30)]
# Per-call figures from differences of whole-run counts: anything closer
# than this to the bare operation's count is the same.
SYSCALL_TOLERANCE = 0.001


def parse_callgrind_summary(text):
    """The total instructions of a callgrind profile (its `summary:` line)."""
    m = re.search(r"^summary:\s+(\d+)", text, re.MULTILINE)
    if not m:
        raise ValueError("no summary line in the callgrind profile")
    return int(m.group(1))


def parse_strace_counts(text):
    """{syscall: calls} and the total from `strace -c`'s table."""
    counts, total = {}, None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or not re.fullmatch(r"[\d.]+", fields[0]):
            continue
        calls = int(fields[3])
        if fields[-1] == "total":
            total = calls
        else:
            counts[fields[-1]] = calls
    if total is None:
        raise ValueError("no total line in the strace summary")
    return counts, total


def per_call(at_n1, at_n2):
    return (at_n2 - at_n1) / (N2 - N1)


def run_benchmark(binary, name, n, wrapper):
    env = dict(os.environ, KEEL_BENCH_ITERATIONS=str(n))
    subprocess.run([*wrapper, str(binary), f"--benchmark_filter=^{name}/iterations",
                    "--benchmark_repetitions=1"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(build):
    figures = {}
    with tempfile.TemporaryDirectory(prefix="keel-figures-") as tmp:
        for shown, binary, name in BENCHMARKS:
            path = pathlib.Path(build) / "bench" / binary
            instructions, syscalls, by_call = {}, {}, {}
            for n in (N1, N2):
                profile = pathlib.Path(tmp) / f"{name}.{n}.callgrind"
                run_benchmark(path, name, n, ["valgrind", "--tool=callgrind",
                                              f"--callgrind-out-file={profile}"])
                instructions[n] = parse_callgrind_summary(profile.read_text(encoding="utf-8"))
                trace = pathlib.Path(tmp) / f"{name}.{n}.strace"
                run_benchmark(path, name, n, ["strace", "-f", "-c", "-o", str(trace)])
                by_call[n], syscalls[n] = parse_strace_counts(trace.read_text(encoding="utf-8"))
            names = set(by_call[N1]) | set(by_call[N2])
            each = {s: per_call(by_call[N1].get(s, 0), by_call[N2].get(s, 0)) for s in names}
            figures[shown] = {
                "benchmark": f"{binary} {name}",
                "instructions_per_call": per_call(instructions[N1], instructions[N2]),
                "syscalls_per_call": per_call(syscalls[N1], syscalls[N2]),
                "syscalls_by_name": {s: v for s, v in sorted(each.items()) if abs(v) > 1e-4},
            }
            print(f"  measured {shown}", file=sys.stderr)
    return {"iterations": [N1, N2], "figures": figures}


def check(figures):
    """[(ok or None when a figure is missing, description)] per target."""
    results = []
    bare = figures.get("BM_bare_op")
    for name in SAME_SYSCALLS_AS_BARE:
        fig = figures.get(name)
        what = f"{name} makes as many system calls per call as BM_bare_op"
        if fig is None or bare is None:
            results.append((None, what))
            continue
        mine, theirs = fig["syscalls_per_call"], bare["syscalls_per_call"]
        results.append((abs(mine - theirs) <= SYSCALL_TOLERANCE,
                        f"{what}: {mine:.3f} vs {theirs:.3f}"))
    for name, base, limit in MAX_ADDED_INSTRUCTIONS:
        fig, own_bare = figures.get(name), figures.get(base)
        what = f"{name} adds at most {limit} instructions per call over {base}"
        if fig is None or own_bare is None:
            results.append((None, what))
            continue
        added = fig["instructions_per_call"] - own_bare["instructions_per_call"]
        results.append((added <= limit, f"{what}: {added:.0f}"))
    return results


def report(run):
    figures = run["figures"]
    print(f"{'benchmark':<20} {'instructions':>13} {'syscalls':>9}   per call (N = "
          f"{run['iterations'][0]} and {run['iterations'][1]})")
    for name, fig in figures.items():
        calls = ", ".join(f"{s} {v:.3g}" for s, v in fig["syscalls_by_name"].items())
        print(f"{name:<20} {fig['instructions_per_call']:>13.0f} "
              f"{fig['syscalls_per_call']:>9.3f}   {calls}")
    print("\nfixed-figure targets:")
    results = check(figures)
    for ok, what in results:
        print(f"  {'MISSING' if ok is None else 'PASS' if ok else 'FAIL':<8} {what}")
    if any(ok is None for ok, _ in results):
        return 2
    return 0 if all(ok for ok, _ in results) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build/release")
    parser.add_argument("--out", default=None)
    parser.add_argument("--from", dest="source", default=None)
    args = parser.parse_args(argv)
    if args.source:
        run = json.loads(pathlib.Path(args.source).read_text(encoding="utf-8"))
    else:
        run = measure(args.build)
        out = pathlib.Path(args.out or pathlib.Path(args.build) / "bench" / "figures.json")
        out.write_text(json.dumps(run, indent=2), encoding="utf-8")
    return report(run)


if __name__ == "__main__":
    sys.exit(main())
