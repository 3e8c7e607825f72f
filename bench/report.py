#!/usr/bin/env python3
"""Writes docs/benchmarks.md and its plots from the figures of the last runs
in the build tree (scripts/bench --report runs them first).

    /usr/bin/python3 bench/report.py [--build build/release] [--docs docs]

Reads build/release/bench/peers.json (bench/peers/run), figures.json
(bench/fixed_figures.py) and, when they exist, http.json and pg.json (the
whole scripts/bench). Plots with Debian's python3-matplotlib (the system
Python: a pyenv python3 on PATH does not see it) into docs/images/.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  after choosing the backend

ROOT = pathlib.Path(__file__).resolve().parents[1]
SNIPPET = "docs/snippets/benchmarks.sh"

# The peers' cases as the page groups them: (title, {library: case}).
PEER_GROUPS = [
    ("retry + timeout", {"keel": "retry_timeout", "cockatiel": "retry_timeout",
                         "tenacity": "retry"}),
    ("closed breaker", {"keel": "breaker", "cockatiel": "breaker", "opossum": "breaker"}),
    ("uncontended bulkhead", {"keel": "bulkhead", "cockatiel": "bulkhead"}),
    ("the four together", {"keel": "chain", "cockatiel": "chain"}),
    ("retry path\n(fails twice)", {"keel": "retry_timeout_fail2",
                                   "cockatiel": "retry_timeout_fail2",
                                   "tenacity": "retry_fail2"}),
]
LIBRARIES = ["keel", "cockatiel", "opossum", "tenacity"]
COLOURS = {"keel": "#1f6f43", "cockatiel": "#c0504d", "opossum": "#8064a2",
           "tenacity": "#4f81bd", "raw": "#7f7f7f"}

# Published figures, measured elsewhere (issue 27): (library, what, ns, bytes).
ANCHORS = [
    ("Polly v8 (.NET, BenchmarkDotNet)", "retry", "≈ 110 ns", "0 B"),
    ("Polly v8 (.NET, BenchmarkDotNet)", "timeout", "≈ 170 ns", "0 B"),
    ("Polly v8 (.NET, BenchmarkDotNet)", "closed circuit breaker", "≈ 335 ns", "0 B"),
    ("Polly v8 (.NET, BenchmarkDotNet)", "multi-strategy pipeline", "≈ 766 ns", "40 B"),
    ("resilience4j (Java, JMH)", "circuit breaker, added", "≈ 94 ns", "48 B"),
]


def load(path):
    path = pathlib.Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def ns(value):
    if value is None:
        return "–"
    if abs(value) >= 10_000:
        return f"{value / 1000:,.1f} µs"
    return f"{value:,.0f} ns"


def byte_count(value):
    if value is None:
        return "not counted"
    return f"{value:,.0f} B"


def finish(fig, ax, path, ylabel, title):
    """Labels a one-panel plot with a legend and writes it as PNG."""
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_peers(peers, path):
    figures = peers["figures"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.2
    for i, library in enumerate(LIBRARIES):
        xs, ys = [], []
        for g, (_, cases) in enumerate(PEER_GROUPS):
            added = figures.get(f"{library}/{cases.get(library)}", {}).get("added_ns")
            if library in cases and added is not None:
                xs.append(g + (i - 1.5) * width)
                ys.append(max(added, 1.0))
        bars = ax.bar(xs, ys, width, label=library, color=COLOURS[library])
        ax.bar_label(bars, labels=[ns(y) for y in ys], fontsize=6, rotation=90, padding=2)
    ax.set_yscale("log")
    ax.set_ylim(top=ax.get_ylim()[1] * 8)
    ax.set_xticks(range(len(PEER_GROUPS)), [t for t, _ in PEER_GROUPS], fontsize=8)
    finish(fig, ax, path, "added CPU time per call (ns, log scale)",
           "What each strategy adds to an operation that completes at once")


def plot_fixed(figures, path):
    names = list(figures["figures"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    instructions = [figures["figures"][n]["instructions_per_call"] for n in names]
    syscalls = [figures["figures"][n]["syscalls_per_call"] for n in names]
    colours = [COLOURS["raw"] if n in ("BM_bare_op", "BM_naive_timeout", "BM_peer_bare")
               else COLOURS["keel"]
               for n in names]
    for ax, values, title, fmt in ((left, instructions, "instructions per call", "{:,.0f}"),
                                   (right, syscalls, "system calls per call", "{:.2f}")):
        bars = ax.bar(range(len(names)), values, color=colours)
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize=7)
        ax.set_xticks(range(len(names)), [n.replace("BM_", "") for n in names], fontsize=7,
                      rotation=15)
        ax.set_title(title, fontsize=10)
    fig.suptitle("Figures that do not move with the machine (callgrind, strace)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput_rows(http, pg):
    """[(workload, concurrency, keel per s, raw per s)] from the medians."""
    def medians(run, unit):
        out = {}
        for b in (run or {}).get("benchmarks", []):
            if b.get("aggregate_name") == "median":
                out[b["name"].split("/")[0]] = b.get(unit)
        return out
    h, p = medians(http, "requests_per_second"), medians(pg, "queries_per_second")
    rows = []
    if h.get("BM_http_keel_pipeline") and h.get("BM_http_raw_curl_multi"):
        rows.append(("HTTP GET (nginx)", 16, h["BM_http_keel_pipeline"],
                     h["BM_http_raw_curl_multi"]))
    if p.get("BM_pg_keel_one_connection") and p.get("BM_pg_raw_one_connection"):
        rows.append(("SELECT 1, one connection", 1, p["BM_pg_keel_one_connection"],
                     p["BM_pg_raw_one_connection"]))
    if p.get("BM_pg_keel_pool4_c16") and p.get("BM_pg_raw_pool4_c16"):
        rows.append(("SELECT 1, pool of 4", 16, p["BM_pg_keel_pool4_c16"],
                     p["BM_pg_raw_pool4_c16"]))
    return rows


def plot_throughput(rows, path):
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.38
    for i, (label, colour) in enumerate((("keel (pipeline)", COLOURS["keel"]),
                                         ("raw client", COLOURS["raw"]))):
        values = [r[2 + i] for r in rows]
        bars = ax.bar([x + (i - 0.5) * width for x in range(len(rows))], values, width,
                      label=label, color=colour)
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7)
    ax.set_xticks(range(len(rows)), [f"{r[0]}\n{r[1]} in flight" for r in rows], fontsize=8)
    finish(fig, ax, path, "calls per second",
           "Throughput against a real server, keel and the raw client")


def machine():
    cpu = "unknown CPU"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}"


def git(*args):
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def compiler(build):
    cache = pathlib.Path(build) / "CMakeCache.txt"
    if cache.exists():
        for line in cache.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("CMAKE_CXX_COMPILER:"):
                path = line.split("=", 1)[1]
                try:
                    return subprocess.run([path, "--version"], capture_output=True, text=True,
                                          check=True).stdout.splitlines()[0]
                except (OSError, subprocess.CalledProcessError, IndexError):
                    return path
    return "unknown"


def targets_list(results):
    return [f"- **{'PASS' if ok else 'FAIL' if ok is False else 'MISSING'}** {what}"
            for ok, what in results]


def page(build, peers, figures, rows, rows_date=""):
    snippet = (ROOT / SNIPPET).read_text(encoding="utf-8")
    commands = snippet.split("# [snippet:commands]\n", 1)[1].split("# [end]", 1)[0]
    versions = peers["versions"] if peers else {}
    out = [
        "# Benchmarks",
        "",
        "What keel costs a call, against the libraries a user of another language picks "
        "instead and against the raw clients. **This page is generated** by "
        "`scripts/bench --report` (bench/report.py): edit the script, not the page.",
        "",
        "Time on a shared virtual machine moves from run to run (the same build measured "
        "keel's pipeline against a hand-written timer at 0.24, 0.31 and 0.44), so the page "
        "gives two kinds of figure: times from one run in which every library does the same "
        "work, interleaved, and instruction and system-call counts, which do not depend on "
        "the machine's load.",
        "",
        "## How it was measured",
        "",
        f"<!-- snippet: {SNIPPET}#commands -->",
        "```sh",
        commands.rstrip("\n"),
        "```",
        "",
        "| | |",
        "| --- | --- |",
        f"| machine | {machine()} |",
        f"| keel | commit `{git('rev-parse', '--short', 'HEAD')}`, release preset, "
        f"{compiler(build)} |",
    ]
    for name, runtime in (("cockatiel", "node"), ("opossum", "node"), ("tenacity", "python")):
        if name in versions:
            rt = next((r for r in peers.get("runtimes", []) if r.startswith(runtime)), runtime)
            source = "Debian package" if name == "tenacity" else "npm, bench/peers/package-lock.json"
            out.append(f"| {name} | {versions[name]} ({source}), on {rt} |")
    out.append(f"| generated | {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} "
               "UTC |")
    out.append("")

    out += ["## keel against its peers", ""]
    if peers:
        out += [
            "Each library calls an operation that completes at once (keel: a handler posted "
            "to the io_context; Node: a resolved promise; Python: a plain function) 200,000 "
            "times per repetition, through: retry (3 attempts, exponential backoff) + a 1 s "
            "timeout; a closed circuit breaker; an uncontended bulkhead; the four together. "
            "The retry path is the same call failing twice, then succeeding, with zero "
            "backoff (cockatiel waits a zero backoff with `setTimeout(0)`, at least 1 ms: "
            "2,000 calls; tenacity 20,000). Each figure is the median CPU time per call over "
            "interleaved repetitions, **added over the library's own bare call** (the retry "
            "path: over the operation called until it succeeds by hand). tenacity has no "
            "timeout, breaker or bulkhead; opossum no retry or bulkhead.",
            "",
            "![added cost per strategy](images/benchmarks-peers.png)",
            "",
            "| strategy | library | per call | added | bytes allocated per call |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        f = peers["figures"]
        for title, cases in PEER_GROUPS:
            for library in LIBRARIES:
                fig = f.get(f"{library}/{cases.get(library)}")
                if library in cases and fig:
                    bytes_ = fig.get("bytes_per_call")
                    out.append(f"| {title.replace(chr(10), ' ')} | {library} | "
                               f"{ns(fig['cpu_ns'])} | {ns(fig.get('added_ns'))} | "
                               f"{byte_count(bytes_)} |")
        engine = f.get("keel/one_attempt", {}).get("added_ns")
        if engine is not None:
            out += ["", f"keel's single-strategy cases include its engine: a pipeline with one "
                    f"attempt and nothing else adds {ns(engine)} over the bare post "
                    "(keel_bench_peers' BM_peer_one_attempt, a diagnostic). The strategies "
                    "themselves add little on top: see the four together against retry + "
                    "timeout."]
        out += ["", "Bytes: keel counts every allocation in the timed loop (none is 0 bytes); "
                "Node's figure is the V8 heap allocated per call (v8.GCProfiler); CPython does "
                "not count what it allocates over a run.", "",
                "The targets of issue 27, from this run:", ""]
        out += targets_list([(t["ok"], t["what"]) for t in peers["targets"]])
    else:
        out.append("Not run in this build tree: `scripts/bench --peers` writes peers.json.")
    out.append("")

    out += ["## Instructions and system calls per call", ""]
    if figures:
        n1, n2 = figures["iterations"]
        out += [
            f"Each benchmark run at {n1:,} and {n2:,} calls under callgrind and under "
            f"`strace -f -c`; the difference over the {n2 - n1:,} extra calls is one call's "
            "figure (start-up and shutdown cancel out). BM_bare_op posts a handler that "
            "completes at once; BM_naive_timeout races it against a per-call steady_timer, "
            "by hand; BM_keel_pipeline runs it through retry (3) + exchange (2 s) + total "
            "(10 s) timeouts; the full chain adds a closed breaker and an uncontended "
            "bulkhead (1 s timeout, keel_bench_peers' BM_peer_chain), and is compared with "
            "BM_peer_bare, the bare operation driven by the same binary's loop.",
            "",
            "![instructions and system calls per call](images/benchmarks-fixed.png)",
            "",
            "| benchmark | instructions per call | system calls per call | which |",
            "| --- | ---: | ---: | --- |",
        ]
        for name, fig in figures["figures"].items():
            which = ", ".join(f"{s} {v:.3g}" for s, v in fig["syscalls_by_name"].items())
            out.append(f"| {name} | {fig['instructions_per_call']:,.0f} | "
                       f"{fig['syscalls_per_call']:.3f} | {which} |")
        sys.path.insert(0, str(ROOT / "bench"))
        import fixed_figures  # noqa: E402  the targets, from the script that checks them
        out += ["", "The targets, from this run:", ""]
        out += targets_list(fixed_figures.check(figures["figures"]))
    else:
        out.append("Not run in this build tree: `scripts/bench --figures` writes figures.json.")
    out.append("")

    out += ["## Throughput against real servers", ""]
    if rows:
        out += [
            "keel::http and keel::pg through their pipelines against the raw client on the "
            "same loop (a plain libcurl multi loop; non-blocking libpq), against nginx and "
            "PostgreSQL 15 on loopback: the medians of the last keel_bench_http and "
            f"keel_bench_pg runs in this build tree (the whole `scripts/bench` runs them), "
            f"{rows_date}.",
            "",
            "![throughput](images/benchmarks-throughput.png)",
            "",
            "| workload | in flight | keel per s | raw per s | keel / raw |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for label, conc, keel, raw in rows:
            out.append(f"| {label} | {conc} | {keel:,.0f} | {raw:,.0f} | {keel / raw:.2f} |")
    else:
        out.append("Not in this build tree: the whole `scripts/bench` writes http.json and "
                   "pg.json.")
    out.append("")

    out += [
        "## Published figures, measured elsewhere",
        "",
        "For context only: these were **not measured here**, on other machines, runtimes and "
        "harnesses, as their projects published them (quoted in issue 27).",
        "",
        "| library | what | time per call | allocated per call |",
        "| --- | --- | ---: | ---: |",
    ]
    out += [f"| {lib} | {what} | {t} | {b} |" for lib, what, t, b in ANCHORS]
    out.append("")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build/release")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    bench = pathlib.Path(args.build) / "bench"
    peers, figures = load(bench / "peers.json"), load(bench / "figures.json")
    rows = throughput_rows(load(bench / "http.json"), load(bench / "pg.json"))
    images = pathlib.Path(args.docs) / "images"
    images.mkdir(parents=True, exist_ok=True)
    if peers:
        plot_peers(peers, images / "benchmarks-peers.png")
    if figures:
        plot_fixed(figures, images / "benchmarks-fixed.png")
    if rows:
        plot_throughput(rows, images / "benchmarks-throughput.png")
    target = pathlib.Path(args.docs) / "benchmarks.md"
    pg_file = bench / "pg.json"
    rows_date = (f"{datetime.datetime.fromtimestamp(pg_file.stat().st_mtime, datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
                 if pg_file.exists() else "")
    target.write_text(page(args.build, peers, figures, rows, rows_date), encoding="utf-8")
    print(f"==> wrote {target} and its plots in {images}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
