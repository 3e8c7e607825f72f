#!/usr/bin/env python3
"""keel against its peers: merge one run of bench/peers/ and check the targets.

    python3 bench/peers/compare.py KEEL.json NODE.json PYTHON.json --out peers.json

KEEL.json is keel_bench_peers' Google Benchmark output (median aggregates),
NODE.json and PYTHON.json what node_peers.mjs and tenacity_peers.py wrote.
Writes the merged figures to --out (build/release/bench/peers.json from
bench/peers/run), prints a table, then PASS or FAIL per target (issue 27), and
exits 1 if a target fails, 2 if a figure a target needs is missing.

Every figure is per call; a case's added cost is its time minus the same
library's bare call (the _fail2 cases: minus the operation called until it
succeeds by hand, bare_fail2). Times are CPU time per call: Google
Benchmark's cpu_time for keel, process.cpuUsage for Node, process_time for
Python, the median of interleaved repetitions.
"""

import argparse
import json
import pathlib
import sys

# keel's benchmarks and their case names.
KEEL_CASES = {
    "BM_peer_bare": "bare",
    "BM_peer_retry_timeout": "retry_timeout",
    "BM_peer_breaker": "breaker",
    "BM_peer_bulkhead": "bulkhead",
    "BM_peer_chain": "chain",
    "BM_peer_bare_fail2": "bare_fail2",
    "BM_peer_retry_timeout_fail2": "retry_timeout_fail2",
    "BM_peer_chain_fail2": "chain_fail2",
    "BM_peer_one_attempt": "one_attempt",
}

# What each case is, in the order of the table.
CASE_TITLES = {
    "bare": "bare call",
    "bare_fail2": "bare, fails twice, called again by hand",
    "retry_timeout": "retry (3, exponential) + timeout (1 s)",
    "retry": "retry (3, exponential), no timeout",
    "breaker": "closed circuit breaker",
    "breaker_timeout": "closed circuit breaker with its timeout (1 s)",
    "bulkhead": "uncontended bulkhead",
    "chain": "retry + timeout + breaker + bulkhead",
    "retry_timeout_fail2": "retry + timeout, fails twice, zero backoff",
    "retry_fail2": "retry, fails twice, zero backoff",
    "chain_fail2": "the four, fails twice, zero backoff",
    "one_attempt": "(diagnostic) a pipeline, one attempt, nothing",
}

# (keel's case, the peer's "library/case", at most this fraction of the peer's
# added cost). The "Must show".
TARGETS = [
    ("retry_timeout", "cockatiel/retry_timeout", 1 / 20),
    ("breaker", "opossum/breaker", 1 / 10),
    ("breaker", "cockatiel/breaker", 1.0),
    ("bulkhead", "cockatiel/bulkhead", 1.0),
    ("chain", "cockatiel/chain", 1 / 20),
]
# keel's cases that must allocate nothing.
ZERO_ALLOCATION_CASES = ["retry_timeout", "breaker", "bulkhead", "chain",
                         "retry_timeout_fail2", "chain_fail2"]


def keel_figures(run):
    """{case: {cpu_ns, wall_ns, allocs_per_call, bytes_per_call}} from a
    Google Benchmark run: the median aggregates, else the iterations' own."""
    figures = {}
    for b in run.get("benchmarks", []):
        name = b["name"].split("/")[0]
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        case = KEEL_CASES.get(name)
        if case is None or (case in figures and b.get("run_type") != "aggregate"):
            continue
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        allocs = b.get("allocs_per_op")
        figures[case] = {
            "cpu_ns": b["cpu_time"] * scale,
            "wall_ns": b["real_time"] * scale,
            "allocs_per_call": allocs,
            # The counter sees allocations, not their sizes: none is 0 bytes.
            "bytes_per_call": 0.0 if allocs == 0 else None,
        }
    return figures


def peer_figures(run):
    """{"library/case": figures} from node_peers.mjs' or tenacity_peers.py's
    output; each library's cases are named "<library>_<case>", the baselines
    "bare" and "bare_fail2" are shared by the run's libraries."""
    libraries = sorted(run.get("versions", {}))
    results = run.get("results", {})
    figures = {}
    for name, fig in results.items():
        for library in libraries:
            if name.startswith(library + "_"):
                figures[f"{library}/{name[len(library) + 1:]}"] = fig
    for name in ("bare", "bare_fail2"):
        # A library's baseline, when it has a case measured against it.
        suffix = "_fail2" if name == "bare_fail2" else ""
        for library in libraries:
            if name in results and any(n.startswith(library + "_") and
                                       n.endswith("_fail2") == bool(suffix) for n in results):
                figures[f"{library}/{name}"] = results[name]
    return figures


def baseline(case):
    return "bare_fail2" if case.endswith("_fail2") else "bare"


def added(figures, case):
    """The case's added CPU time over its library's own baseline, or None."""
    library, _, name = case.rpartition("/")
    prefix = library + "/" if library else ""
    own = figures.get(case)
    bare = figures.get(prefix + baseline(name))
    if own is None or bare is None:
        return None
    return own["cpu_ns"] - bare["cpu_ns"]


def merge(keel_run, node_run, python_run):
    """All figures, keyed "library/case" ("keel/chain", "cockatiel/breaker"),
    each with its added cost."""
    merged = {f"keel/{c}": f for c, f in keel_figures(keel_run).items()}
    for run in (node_run, python_run):
        if run:
            merged.update(peer_figures(run))
    for key, fig in merged.items():
        fig = dict(fig)
        fig["added_ns"] = added(merged, key)
        merged[key] = fig
    return merged


def check(merged):
    """[(ok or None when a figure is missing, description)] per target."""
    results = []
    for keel_case, peer, fraction in TARGETS:
        mine = merged.get(f"keel/{keel_case}", {}).get("added_ns")
        theirs = merged.get(peer, {}).get("added_ns")
        limit = "no more than" if fraction == 1 else f"<= 1/{round(1 / fraction)} of"
        what = f"keel {keel_case} added {limit} {peer} added"
        if mine is None or theirs is None:
            results.append((None, what))
            continue
        ok = mine <= theirs * fraction
        results.append((ok, f"{what}: {mine:.0f} ns vs {theirs:.0f} ns "
                            f"(ratio {mine / theirs:.4f})" if theirs else what))
    for case in ZERO_ALLOCATION_CASES:
        allocs = merged.get(f"keel/{case}", {}).get("allocs_per_call")
        what = f"keel {case} allocates 0 bytes per call"
        if allocs is None:
            results.append((None, what))
        else:
            results.append((allocs == 0, f"{what}: {allocs:g} allocations per call"))
    return results


def fmt(value, unit=""):
    if value is None:
        return "-"
    if abs(value) >= 10_000:
        return f"{value / 1000:.1f} µs" if unit == "ns" else f"{value / 1000:.1f} K"
    return f"{value:.0f}{' ' + unit if unit else ''}"


def table(merged):
    lines = [f"{'case':<48} {'library':<10} {'per call':>10} {'added':>10} {'bytes':>8}"]
    order = {c: i for i, c in enumerate(CASE_TITLES)}
    keys = sorted(merged, key=lambda k: (order.get(k.split("/")[1], 99), k))
    for key in keys:
        library, case = key.split("/")
        fig = merged[key]
        title = CASE_TITLES.get(case, case)
        lines.append(f"{title:<48} {library:<10} {fmt(fig['cpu_ns'], 'ns'):>10} "
                     f"{fmt(fig.get('added_ns'), 'ns'):>10} {fmt(fig.get('bytes_per_call')):>8}")
    return "\n".join(lines)


def load(path):
    if path is None or not pathlib.Path(path).exists():
        return None
    return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("keel")
    parser.add_argument("node")
    parser.add_argument("python")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    keel_run, node_run, python_run = load(args.keel), load(args.node), load(args.python)
    if keel_run is None:
        print(f"missing: {args.keel}", file=sys.stderr)
        return 2
    merged = merge(keel_run, node_run, python_run)
    versions = {"keel": "this tree"}
    runtimes = []
    for run in (node_run, python_run):
        if run:
            versions.update(run.get("versions", {}))
            runtimes.append(run.get("runtime"))
    results = check(merged)
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps({
            "versions": versions,
            "runtimes": [r for r in runtimes if r],
            "machine": {k: keel_run.get("context", {}).get(k)
                        for k in ("host_name", "num_cpus", "mhz_per_cpu")},
            "figures": merged,
            "targets": [{"ok": ok, "what": what} for ok, what in results],
        }, indent=2), encoding="utf-8")
    print(table(merged))
    print("\ntargets (added CPU time per call over each library's own bare call):")
    for ok, what in results:
        print(f"  {'MISSING' if ok is None else 'PASS' if ok else 'FAIL':<8} {what}")
    if any(ok is None for ok, _ in results):
        return 2
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
