#!/usr/bin/env python3
"""Summarise a keel_bench_core JSON run and check it against the targets.

    python3 bench/compare.py [build/release/bench/core.json] [--metric cpu_time]
                             [--http build/release/bench/http.json]
                             [--pg build/release/bench/pg.json]
                             [--kafka build/release/bench/kafka.json]
                             [--sim build/release/bench/sim.json]

Reads the Google Benchmark JSON that scripts/bench writes, prints each
benchmark's median time and allocs_per_op, then the target checks, and exits
1 if a check fails (2 if the file lacks a benchmark a check needs).

A target against a baseline other than the bare operation compares the cost
each adds over the bare operation: "BM_keel_pipeline / BM_naive_timeout <=
0.25" is checked as (BM_keel_pipeline - BM_bare_op) / (BM_naive_timeout -
BM_bare_op) <= 0.25, because every posted operation pays the same epoll_wait
and a ratio of totals cannot fall below bare / naive whatever keel does. A
target against the bare operation itself (BM_keel_pipeline / BM_bare_op) is
a ratio of totals: there is nothing to subtract. A refused call against the
bare operation (BM_keel_breaker_rejects / BM_bare_op <= 1.0) is decided on
BM_keel_breaker_rejects_paired's ratio: the median per-pair ratio of
alternating batches of the two in one process. The paired targets (BM_keel_pipeline_metrics_paired,
BM_keel_pipeline_chain_paired, BM_keel_pipeline_breaker_paired,
BM_keel_pipeline_bulkhead_paired, BM_keel_pipeline_rate_limit_paired,
BM_keel_pipeline_budget_paired, BM_keel_pipeline_hedged_paired,
BM_keel_pipeline_faults_off_paired, BM_keel_pipeline_fallback_paired) are
median per-call differences of alternating batches in one run.

With --http (default: build/release/bench/http.json when it exists), also
summarises a keel_bench_http run: each benchmark's requests/s and allocations
per request, and the throughput target keel::http (with its pipeline) >=
HTTP_MIN_RATIO x the plain libcurl multi loop of the same run. A missing http
file is MISSING only when --http was given.

With --pg (default: build/release/bench/pg.json when it exists), also
summarises a keel_bench_pg run: each benchmark's queries/s and allocations per
query, and the targets keel::pg (through its pipeline) >= PG_MIN_RATIO x raw
non-blocking libpq on the same loop, for one connection and for a pool of 4
at concurrency 16.
With --kafka (default: build/release/bench/kafka.json when it exists), also
summarises a keel_bench_kafka run: messages/s and allocations per message,
and the target keel::kafka's producer >= 0.9 x plain librdkafka producing to
the same mock cluster in the same run.

With --sim (default: build/release/bench/sim.json when it exists), also
checks keel-sim's speed: a million simulated calls (bench/sim_million_calls.yaml)
in under SIM_MAX_SECONDS, the median of the runs scripts/bench timed, and
prints the simulated calls per second.

Medians come from the run's "median" aggregates (--benchmark_repetitions=N);
a run without repetitions is summarised by the median of its iterations.

With --runs FILE..., further runs of the core benchmarks, each in a process of
its own (scripts/bench makes them with the paired benchmarks, BM_bare_op and
BM_keel_breaker_rejects): each time target is then computed in every run that
has its benchmarks, and decided on the median over the runs, the figure of
each run shown beside it. The repetitions of one process share one address
layout, and a paired difference moved from -5 to +37 ns between processes of
the same build (the layout of two pipelines' state in the caches, which
address randomisation redraws for every process), while the repetitions
inside each process agreed within a few nanoseconds.
"""

import argparse
import re
import json
import pathlib
import statistics
import sys

# (numerator, denominator, maximum ratio, bare operation or None). Without
# one it is a ratio of totals (the denominator is the bare operation). With a
# bare operation the ratio compares *added* cost over it:
# (numerator - bare) / (denominator - bare). A ratio of totals is bounded
# below by bare / denominator (0.26-0.29 for the naive timeout on these VMs,
# since every posted operation pays an epoll_wait), whatever keel does.
RATIO_TARGETS = [
    ("BM_keel_pipeline", "BM_bare_op", 2.0, None),
    ("BM_keel_pipeline", "BM_naive_timeout", 0.25, "BM_bare_op"),
    ("BM_keel_pipeline_coro", "BM_bare_op_coro", 1.5, None),
]
# (paired benchmark, its counter, what it measures, maximum ratio): the
# median per-pair ratio of alternating batches of the two (see ADDED_TARGETS).
PAIRED_RATIO_TARGETS = [
    ("BM_keel_breaker_rejects_paired", "ratio", "BM_keel_breaker_rejects / BM_bare_op", 1.0),
]
# (paired benchmark, its counter, what it measures, maximum nanoseconds). A
# paired benchmark alternates batches of the two variants, so its added_ns
# (median per-call difference over the pairs) is robust to the drift of a
# shared VM, which moves separate medians by +-20%.
ADDED_TARGETS = [
    ("BM_keel_pipeline_metrics_paired", "added_ns",
     "BM_keel_pipeline_metrics - BM_keel_pipeline", 100.0),
    ("BM_keel_pipeline_chain_paired", "added_ns",
     "BM_keel_pipeline_chain - BM_keel_pipeline", 20.0),
    ("BM_keel_pipeline_breaker_paired", "added_ns",
     "BM_keel_pipeline_breaker - BM_keel_pipeline", 30.0),
    ("BM_keel_pipeline_bulkhead_paired", "added_ns",
     "BM_keel_pipeline_bulkhead - BM_keel_pipeline", 25.0),
    ("BM_keel_pipeline_rate_limit_paired", "added_ns",
     "BM_keel_pipeline_rate_limit - BM_keel_pipeline", 25.0),
    ("BM_keel_pipeline_budget_paired", "added_ns",
     "BM_keel_pipeline_budget - BM_keel_pipeline", 20.0),
    ("BM_keel_pipeline_hedged_paired", "added_ns",
     "BM_keel_pipeline_hedged - BM_keel_pipeline", 40.0),
    ("BM_keel_pipeline_faults_off_paired", "added_ns",
     "BM_keel_pipeline_faults_off - BM_keel_pipeline", 5.0),
    ("BM_keel_pipeline_fallback_paired", "added_ns",
     "BM_keel_pipeline_fallback - BM_keel_pipeline", 10.0),
]
# The same difference from the separate medians, shown for context.
INFO_DIFFS = [
    ("BM_keel_pipeline_metrics", "BM_keel_pipeline"),
    ("BM_keel_pipeline_chain", "BM_keel_pipeline"),
    ("BM_keel_pipeline_breaker", "BM_keel_pipeline"),
    ("BM_keel_pipeline_bulkhead", "BM_keel_pipeline"),
    ("BM_keel_pipeline_rate_limit", "BM_keel_pipeline"),
    ("BM_keel_pipeline_budget", "BM_keel_pipeline"),
    ("BM_keel_pipeline_hedged", "BM_keel_pipeline"),
    ("BM_keel_pipeline_faults_off", "BM_keel_pipeline"),
    ("BM_keel_pipeline_fallback", "BM_keel_pipeline"),
]
# Benchmarks whose steady state must not touch the heap.
ZERO_ALLOC_TARGETS = ["BM_keel_pipeline", "BM_keel_pipeline_coro", "BM_keel_pipeline_metrics",
                      "BM_keel_pipeline_chain", "BM_keel_pipeline_breaker",
                      "BM_keel_breaker_rejects", "BM_keel_pipeline_bulkhead",
                      "BM_keel_pipeline_rate_limit", "BM_keel_pipeline_budget",
                      "BM_keel_pipeline_hedged", "BM_keel_pipeline_faults_off",
                      "BM_keel_pipeline_fallback"]
# Shown for context, not checked.
INFO_RATIOS = [
    ("BM_keel_breaker_rejects", "BM_bare_op"),  # separate medians; the target is paired
    ("BM_keel_pipeline", "BM_naive_timeout"),  # totals; the target compares added cost
    ("BM_keel_timeout", "BM_bare_op"),
    ("BM_keel_retry", "BM_bare_op"),
    ("BM_keel_timeout", "BM_naive_timeout"),
    ("BM_naive_timeout", "BM_bare_op"),
    ("BM_keel_pipeline_metrics_runtime", "BM_keel_pipeline"),
]
ORDER = [
    "BM_bare_op",
    "BM_naive_timeout",
    "BM_keel_timeout",
    "BM_keel_retry",
    "BM_keel_pipeline",
    "BM_keel_pipeline_chain",
    "BM_keel_pipeline_breaker",
    "BM_keel_breaker_rejects",
    "BM_keel_pipeline_bulkhead",
    "BM_keel_bulkhead_contended",
    "BM_keel_pipeline_rate_limit",
    "BM_keel_rate_limit_contended",
    "BM_keel_pipeline_budget",
    "BM_keel_pipeline_hedged",
    "BM_keel_pipeline_faults_off",
    "BM_keel_pipeline_fallback",
    "BM_bare_op_coro",
    "BM_keel_pipeline_coro",
    "BM_keel_pipeline_metrics",
]
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# keel_bench_http: (keel, baseline, minimum ratio of requests per second).
HTTP_RATIO_TARGETS = [
    ("BM_http_keel_pipeline", "BM_http_raw_curl_multi", 0.9),
]
# Shown for context, not checked.
HTTP_INFO_RATIOS = [
    ("BM_keel_breaker_rejects", "BM_bare_op"),  # separate medians; the target is paired
    ("BM_http_keel_client", "BM_http_raw_curl_multi"),
    ("BM_http_keel_pipeline", "BM_http_keel_client"),
    ("BM_http_raw_curl_multi_keel_setup", "BM_http_raw_curl_multi"),
    ("BM_http_raw_curl_multi_socket", "BM_http_raw_curl_multi"),
    ("BM_http_keel_pipeline", "BM_http_raw_curl_multi_socket"),
]
HTTP_ORDER = ["BM_http_raw_curl_multi", "BM_http_keel_pipeline", "BM_http_keel_client",
              "BM_http_raw_curl_multi_keel_setup", "BM_http_raw_curl_multi_socket"]
# keel_bench_pg: (keel, baseline, minimum ratio of queries per second).
PG_RATIO_TARGETS = [
    ("BM_pg_keel_one_connection", "BM_pg_raw_one_connection", 0.9),
    ("BM_pg_keel_pool4_c16", "BM_pg_raw_pool4_c16", 0.9),
]
PG_ORDER = ["BM_pg_raw_one_connection", "BM_pg_keel_one_connection", "BM_pg_raw_pool4_c16",
            "BM_pg_keel_pool4_c16"]
# keel_bench_kafka: (keel, baseline, minimum ratio of messages per second).
KAFKA_RATIO_TARGETS = [
    ("BM_kafka_keel_producer", "BM_kafka_raw_librdkafka", 0.9),
]
KAFKA_ORDER = ["BM_kafka_raw_librdkafka", "BM_kafka_keel_producer"]
# keel-sim: how many simulated calls, in at most how many seconds.
SIM_CALLS = 1_000_000
SIM_MAX_SECONDS = 10.0
# The per-benchmark counters load() keeps (median over the repetitions).
COUNTERS = ["allocs_per_op", "added_ns", "ratio", "base_ns", "chain_ns", "metrics_ns", "breaker_ns", "requests_per_second", "allocs_per_request",
            "user_us_per_request", "kernel_us_per_request", "server_sleeps_per_request",
            "queries_per_second",
            "allocs_per_query", "messages_per_second", "allocs_per_message"]


def load(path, metric):
    """Returns (context, {name: {"time_ns": median, "cpu_ns": median, counter: median or
    None for each of COUNTERS}})."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    medians, samples = {}, {}
    for b in data.get("benchmarks", []):
        name = b.get("run_name") or b["name"]
        # UseRealTime() and Threads(n) benchmarks: one variant of each is run
        name = re.sub(r"/(real_time|threads:\d+)", "", name)
        if b.get("error_occurred"):
            print(f"warning: {name}: {b.get('error_message', 'error')}", file=sys.stderr)
            continue
        unit = TO_NS[b.get("time_unit", "ns")]
        values = {"time_ns": b[metric] * unit, "cpu_ns": b["cpu_time"] * unit}
        for c in COUNTERS:
            values[c] = b.get(c)
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = values
        else:
            samples.setdefault(name, []).append(values)
    for name, runs in samples.items():
        if name in medians:
            continue
        merged = {}
        for key in ["time_ns", "cpu_ns"] + COUNTERS:
            present = [r[key] for r in runs if r[key] is not None]
            merged[key] = statistics.median(present) if present else None
        medians[name] = merged
    return data.get("context", {}), medians


def fmt_rate(v):
    return "-" if v is None else f"{v:.0f}"


def fmt_allocs(v):
    return "-" if v is None else f"{v:.2f}"


def fmt_us(v):
    return "-" if v is None else f"{v:.1f}us"


# One throughput run (keel_bench_http, _pg, _kafka): what its table shows and
# what it checks. Columns are (header, width, value of a benchmark's medians).
RUNS = {
    "http": {
        "rate": "requests_per_second", "unit": "requests/s", "order": HTTP_ORDER,
        "targets": HTTP_RATIO_TARGETS, "info": HTTP_INFO_RATIOS,
        "columns": [("requests/s", 10, lambda m: fmt_rate(m["requests_per_second"])),
                    ("allocs/request", 14, lambda m: fmt_allocs(m["allocs_per_request"])),
                    ("cpu/request", 11, lambda m: fmt_us(m["cpu_ns"] / 1e3)),
                    ("user", 7, lambda m: fmt_us(m["user_us_per_request"])),
                    ("kernel", 7, lambda m: fmt_us(m["kernel_us_per_request"])),
                    ("server sleeps", 13, lambda m: fmt_allocs(m["server_sleeps_per_request"]))],
    },
    "pg": {
        "rate": "queries_per_second", "unit": "queries/s", "order": PG_ORDER,
        "targets": PG_RATIO_TARGETS, "info": [],
        "columns": [("queries/s", 10, lambda m: fmt_rate(m["queries_per_second"])),
                    ("allocs/query", 12, lambda m: fmt_allocs(m["allocs_per_query"])),
                    ("cpu/query", 10, lambda m: fmt_us(m["cpu_ns"] / 1e3))],
    },
    "kafka": {
        "rate": "messages_per_second", "unit": "messages/s", "order": KAFKA_ORDER,
        "targets": KAFKA_RATIO_TARGETS, "info": [],
        "columns": [("messages/s", 10, lambda m: fmt_rate(m["messages_per_second"])),
                    ("allocs/message", 14, lambda m: fmt_allocs(m["allocs_per_message"]))],
    },
}


def check_run(kind, path, metric):
    """Prints a throughput run (RUNS[kind]) and its target checks: returns (failed, missing)."""
    spec = RUNS[kind]
    rate, unit = spec["rate"], spec["unit"]
    try:
        context, medians = load(path, metric)
    except (OSError, ValueError, KeyError) as e:
        print(f"\nerror: cannot read {path}: {e}", file=sys.stderr)
        print(f"\n{kind} targets:")
        for num, den, limit in spec["targets"]:
            print(f"  MISSING  {num} / {den} {unit} >= {limit}")
        return False, True

    print(f"\n{path}  ({context.get('date', '?')}, {context.get('host_name', '?')}, "
          f"{context.get('num_cpus', '?')} cpus, medians)")
    if context.get("load"):
        print(f"load: {context['load']}")
    names = [n for n in spec["order"] if n in medians] + sorted(
        n for n in medians if n not in spec["order"])
    width = max([len(n) for n in names] + [10])
    print(f"\n{'benchmark':<{width}}" +
          "".join(f"  {header:>{w}}" for header, w, _ in spec["columns"]))
    for n in names:
        print(f"{n:<{width}}" + "".join(f"  {value(medians[n]):>{w}}"
                                         for _, w, value in spec["columns"]))

    failed = missing = False
    print(f"\n{kind} targets:")
    for num, den, limit in spec["targets"]:
        a = medians.get(num, {}).get(rate)
        b = medians.get(den, {}).get(rate)
        if a is None or b is None or b <= 0:
            print(f"  MISSING  {num} / {den} {unit} >= {limit}")
            missing = True
            continue
        ratio = a / b
        ok = ratio >= limit
        failed |= not ok
        print(f"  {'PASS' if ok else 'FAIL'}     {num} / {den} {unit} = {ratio:.3f}"
              f"  (target >= {limit})")
    info = [(a, b) for a, b in spec["info"]
            if medians.get(a, {}).get(rate) and medians.get(b, {}).get(rate)]
    if info:
        print("\nfor context:")
        for a, b in info:
            print(f"           {a} / {b} {unit} = {medians[a][rate] / medians[b][rate]:.3f}")
    return failed, missing


def check_sim(path):
    """Prints keel-sim's timed runs and its target: returns (failed, missing)."""
    print("\nkeel-sim targets:")
    try:
        with open(path) as f:
            run = json.load(f)
        calls, median_ns = int(run["calls"]), float(run["median_ns"])
    except (OSError, ValueError, KeyError) as e:
        print(f"  MISSING  {SIM_CALLS:,} simulated calls in < {SIM_MAX_SECONDS:.0f} s "
              f"(cannot read {path}: {e})")
        return False, True
    seconds = median_ns / 1e9
    runs = ", ".join(f"{ns / 1e9:.2f}" for ns in run.get("runs_ns", []))
    ok = calls == SIM_CALLS and seconds < SIM_MAX_SECONDS
    print(f"  {'PASS' if ok else 'FAIL'}     {calls:,} simulated calls in {seconds:.2f} s "
          f"= {calls / seconds:,.0f} calls/s  (target: {SIM_CALLS:,} in < {SIM_MAX_SECONDS:.0f} s;"
          f" runs {runs} s)")
    return not ok, False


def ratio_figure(medians, num, den, bare):
    """(value, error) of a RATIO_TARGETS entry in one run; (None, None) if the
    run lacks one of its benchmarks."""
    needed = [num, den] + ([bare] if bare else [])
    if any(n not in medians for n in needed):
        return None, None
    if bare:
        base = medians[bare]["time_ns"]
        added_den = medians[den]["time_ns"] - base
        if added_den <= 0:
            return None, f"{den} costs no more than {bare}"
        return (medians[num]["time_ns"] - base) / added_den, None
    return medians[num]["time_ns"] / medians[den]["time_ns"], None


def time_targets(runs):
    """Every time target (RATIO_TARGETS, ADDED_TARGETS) over `runs`, a list of
    load()'s medians, one per process: each target's figure in every run that
    has it, and the median of those, which decides."""
    out = []
    for num, den, limit, bare in RATIO_TARGETS:
        what = f"({num} - {bare}) / ({den} - {bare})" if bare else f"{num} / {den}"
        values, error = [], None
        for medians in runs:
            value, why = ratio_figure(medians, num, den, bare)
            if why:
                error = why
            elif value is not None:
                values.append(value)
        out.append({"what": what, "limit": limit, "values": values, "error": error,
                    "value": statistics.median(values) if values else None,
                    "digits": 3, "unit": "", "note": "", "limit_text": f"{limit}"})
    for name, counter, what, limit in PAIRED_RATIO_TARGETS:
        values = [m[name][counter] for m in runs
                  if m.get(name, {}).get(counter) is not None]
        out.append({"what": what, "limit": limit, "values": values, "error": None,
                    "value": statistics.median(values) if values else None,
                    "digits": 3, "unit": ", paired", "note": f"{name} {counter}; ",
                    "limit_text": f"{limit}"})
    for name, counter, what, limit in ADDED_TARGETS:
        values = [m[name][counter] for m in runs
                  if m.get(name, {}).get(counter) is not None]
        out.append({"what": what, "limit": limit, "values": values, "error": None,
                    "value": statistics.median(values) if values else None,
                    "digits": 1, "unit": " ns per call, paired",
                    "note": f"{name} {counter}; ", "limit_text": f"{limit:.0f} ns"})
    return out


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="?", default=str(root / "build/release/bench/core.json"))
    parser.add_argument("--metric", choices=["real_time", "cpu_time"], default="real_time",
                        help="which time to compare (default: real_time)")
    parser.add_argument("--alloc-tolerance", type=float, default=1e-3,
                        help="allocs_per_op at or below this counts as zero (default: 1e-3, "
                             "i.e. rare amortised allocations such as a deadline-queue timer "
                             "re-arm are tolerated, one per call is not)")
    parser.add_argument("--http", metavar="PATH", default=None,
                        help="a keel_bench_http JSON run to summarise and check as well "
                             "(default: build/release/bench/http.json if it exists)")
    parser.add_argument("--pg", metavar="PATH", default=None,
                        help="a keel_bench_pg JSON run to summarise and check as well "
                             "(default: build/release/bench/pg.json if it exists)")
    parser.add_argument("--kafka", metavar="PATH", default=None,
                        help="a keel_bench_kafka JSON run to summarise and check as well "
                             "(default: build/release/bench/kafka.json if it exists)")
    parser.add_argument("--sim", metavar="PATH", default=None,
                        help="keel-sim's timed runs (scripts/bench) to check as well "
                             "(default: build/release/bench/sim.json if it exists)")
    parser.add_argument("--runs", metavar="PATH", nargs="*", default=[],
                        help="further keel_bench_core JSON runs, each from a process of its "
                             "own: every time target is decided on the median over all runs")
    args = parser.parse_args()
    http_path, http_explicit = args.http, args.http is not None
    pg_path, pg_explicit = args.pg, args.pg is not None
    if pg_path is None:
        default_pg = root / "build/release/bench/pg.json"
        if default_pg.exists():
            pg_path = str(default_pg)
    kafka_path, kafka_explicit = args.kafka, args.kafka is not None
    if kafka_path is None:
        default_kafka = root / "build/release/bench/kafka.json"
        if default_kafka.exists():
            kafka_path = str(default_kafka)
    if http_path is None:
        default_http = root / "build/release/bench/http.json"
        if default_http.exists():
            http_path = str(default_http)

    try:
        context, medians = load(args.json, args.metric)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: cannot read {args.json}: {e}", file=sys.stderr)
        return 2

    host = context.get("host_name", "?")
    print(f"{args.json}  ({context.get('date', '?')}, {host}, "
          f"{context.get('num_cpus', '?')} cpus, {args.metric}, medians)")
    names = [n for n in ORDER if n in medians] + sorted(n for n in medians if n not in ORDER)
    width = max([len(n) for n in names] + [10])
    print(f"\n{'benchmark':<{width}}  {'median':>10}  {'allocs_per_op':>13}")
    for n in names:
        m = medians[n]
        allocs = "-" if m["allocs_per_op"] is None else f"{m['allocs_per_op']:.3f}"
        print(f"{n:<{width}}  {m['time_ns']:>8.1f}ns  {allocs:>13}")

    runs = [medians]
    for extra in args.runs:
        try:
            runs.append(load(extra, args.metric)[1])
        except (OSError, ValueError, KeyError) as e:
            print(f"error: cannot read {extra}: {e}", file=sys.stderr)
            return 2

    failed = missing = False
    print("\ntargets:" + (f" (each decided on the median over {len(runs)} processes)"
                           if len(runs) > 1 else ""))
    for target in time_targets(runs):
        if target["value"] is None:
            print(f"  MISSING  {target['what']} <= {target['limit_text']}")
            missing = True
            continue
        if target["error"]:
            print(f"  FAIL     {target['what']}: {target['error']}")
            failed = True
            continue
        ok = target["value"] <= target["limit"]
        failed |= not ok
        each = ""
        if len(target["values"]) > 1:
            each = "; each process: " + ", ".join(f"{v:.{target['digits']}f}"
                                                   for v in target["values"])
        print(f"  {'PASS' if ok else 'FAIL'}     {target['what']} = "
              f"{target['value']:.{target['digits']}f}{target['unit']}  "
              f"({target['note']}target <= {target['limit_text']}{each})")
    for n in ZERO_ALLOC_TARGETS:
        allocs = medians.get(n, {}).get("allocs_per_op")
        if allocs is None:
            print(f"  MISSING  {n} allocs_per_op == 0")
            missing = True
            continue
        ok = allocs <= args.alloc_tolerance
        failed |= not ok
        print(f"  {'PASS' if ok else 'FAIL'}     {n} allocs_per_op = {allocs:.3f}  (target 0)")

    info = [(a, b) for a, b in INFO_RATIOS if a in medians and b in medians]
    diffs = [(a, b) for a, b in INFO_DIFFS if a in medians and b in medians]
    if info or diffs:
        print("\nfor context:")
        for a, b in info:
            print(f"           {a} / {b} = {medians[a]['time_ns'] / medians[b]['time_ns']:.3f}")
        for a, b in diffs:
            print(f"           {a} - {b} = "
                  f"{medians[a]['time_ns'] - medians[b]['time_ns']:.1f} ns (separate medians)")

    if http_path is not None:
        if http_explicit or pathlib.Path(http_path).exists():
            http_failed, http_missing = check_run("http", http_path, args.metric)
            failed |= http_failed
            missing |= http_missing

    if pg_path is not None:
        if pg_explicit or pathlib.Path(pg_path).exists():
            pg_failed, pg_missing = check_run("pg", pg_path, args.metric)
            failed |= pg_failed
            missing |= pg_missing
    if kafka_path is not None:
        if kafka_explicit or pathlib.Path(kafka_path).exists():
            kafka_failed, kafka_missing = check_run("kafka", kafka_path, args.metric)
            failed |= kafka_failed
            missing |= kafka_missing

    sim_path = args.sim
    if sim_path is None and (root / "build/release/bench/sim.json").exists():
        sim_path = str(root / "build/release/bench/sim.json")
    if sim_path is not None:
        sim_failed, sim_missing = check_sim(sim_path)
        failed |= sim_failed
        missing |= sim_missing

    if missing:
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
