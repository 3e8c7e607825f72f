#!/usr/bin/env python3
"""The PASS/FAIL logic of bench/compare.py, bench/peers/compare.py and
bench/fixed_figures.py on tiny made-up runs: no benchmark is run."""

import contextlib
import importlib.util
import io
import json
import pathlib
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load(name, path):
    """A script as a module, by path (bench/compare.py and bench/peers/compare.py
    share a name)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peers = load("peers_compare", "bench/peers/compare.py")
core = load("core_compare", "bench/compare.py")
fixed_figures = load("fixed_figures", "bench/fixed_figures.py")


def keel_run(times, allocs=0.0):
    """A Google Benchmark run of keel_bench_peers: {case: cpu ns}."""
    names = {case: name for name, case in peers.KEEL_CASES.items()}
    benchmarks = []
    for case, ns in times.items():
        for aggregate, scale in (("mean", 9.0), ("median", 1.0)):
            benchmarks.append({
                "name": f"{names[case]}/iterations:200000_{aggregate}",
                "run_type": "aggregate", "aggregate_name": aggregate,
                "cpu_time": ns * scale, "real_time": ns * scale, "time_unit": "ns",
                "allocs_per_op": allocs,
            })
    return {"context": {"host_name": "test"}, "benchmarks": benchmarks}


def peer_run(versions, times):
    return {"runtime": "test", "versions": versions,
            "results": {name: {"calls": 10, "cpu_ns": ns, "wall_ns": ns, "bytes_per_call": 8}
                        for name, ns in times.items()}}


NODE = peer_run({"cockatiel": "3.2.1", "opossum": "9.0.0"}, {
    "bare": 40, "cockatiel_retry_timeout": 12_040, "cockatiel_breaker": 140,
    "cockatiel_bulkhead": 90, "cockatiel_chain": 16_040, "opossum_breaker": 540,
    "bare_fail2": 100,
})
KEEL = {"bare": 200, "retry_timeout": 300, "breaker": 240, "bulkhead": 230, "chain": 400,
        "bare_fail2": 600, "retry_timeout_fail2": 900, "chain_fail2": 1000}


def verdicts(keel, node=NODE):
    merged = peers.merge(keel, node, None)
    return {what.split(":")[0]: ok for ok, what in peers.check(merged)}


class PeersTargets(unittest.TestCase):
    def test_added_cost_is_over_each_librarys_own_bare_call(self):
        merged = peers.merge(keel_run(KEEL), NODE, None)
        self.assertEqual(merged["keel/chain"]["added_ns"], 200)
        self.assertEqual(merged["cockatiel/chain"]["added_ns"], 16_000)
        self.assertEqual(merged["keel/chain_fail2"]["added_ns"], 400)  # over bare_fail2
        self.assertEqual(merged["opossum/breaker"]["added_ns"], 500)

    def test_all_pass_within_the_targets(self):
        self.assertTrue(all(verdicts(keel_run(KEEL)).values()))

    def test_a_breaker_dearer_than_a_tenth_of_opossums_fails(self):
        v = verdicts(keel_run(dict(KEEL, breaker=200 + 51)))
        self.assertFalse(v["keel breaker added <= 1/10 of opossum/breaker added"])
        self.assertTrue(v["keel breaker added no more than cockatiel/breaker added"])

    def test_a_bulkhead_dearer_than_cockatiels_fails(self):
        v = verdicts(keel_run(dict(KEEL, bulkhead=200 + 51)))
        self.assertFalse(v["keel bulkhead added no more than cockatiel/bulkhead added"])

    def test_an_allocation_fails(self):
        v = verdicts(keel_run(KEEL, allocs=1.0))
        self.assertFalse(v["keel chain allocates 0 bytes per call"])

    def test_a_missing_peer_is_missing_and_exits_2(self):
        self.assertIsNone(verdicts(keel_run(KEEL), node=None)[
            "keel chain added <= 1/20 of cockatiel/chain added"])
        with tempfile.TemporaryDirectory() as tmp:
            keel_path = pathlib.Path(tmp) / "keel.json"
            keel_path.write_text(json.dumps(keel_run(KEEL)))
            with contextlib.redirect_stdout(io.StringIO()):
                status = peers.main([str(keel_path), "absent.json", "absent.json"])
        self.assertEqual(status, 2)

    def test_main_exits_1_on_a_failure_and_writes_the_merged_figures(self):
        with tempfile.TemporaryDirectory() as tmp:
            keel_path, node_path = pathlib.Path(tmp) / "keel.json", pathlib.Path(tmp) / "node.json"
            keel_path.write_text(json.dumps(keel_run(dict(KEEL, chain=200 + 801))))
            node_path.write_text(json.dumps(NODE))
            out = pathlib.Path(tmp) / "peers.json"
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                status = peers.main([str(keel_path), str(node_path), "absent.json",
                                     "--out", str(out)])
            self.assertEqual(status, 1)
            self.assertIn("FAIL     keel chain added", printed.getvalue())
            self.assertEqual(json.loads(out.read_text())["figures"]["keel/chain"]["added_ns"],
                             801)


def core_medians(**figures):
    """load()'s medians of one keel_bench_core run: times in ns by benchmark,
    or {counter: value} for a paired benchmark."""
    out = {}
    for name, value in figures.items():
        if isinstance(value, dict):
            out[name] = dict(value, time_ns=1.0, cpu_ns=1.0)
        else:
            out[name] = {"time_ns": value, "cpu_ns": value}
    return out


class CoreTargets(unittest.TestCase):
    def target(self, runs, what):
        (found,) = [t for t in core.time_targets(runs) if t["what"] == what]
        return found

    def test_a_paired_target_is_decided_on_the_median_over_processes(self):
        runs = [core_medians(BM_keel_pipeline_bulkhead_paired={"added_ns": v})
                for v in (-5.0, 37.0, 16.0, 18.0, 21.0)]
        t = self.target(runs, "BM_keel_pipeline_bulkhead - BM_keel_pipeline")
        self.assertEqual(t["values"], [-5.0, 37.0, 16.0, 18.0, 21.0])
        self.assertEqual(t["value"], 18.0)
        self.assertLessEqual(t["value"], t["limit"])

    def test_the_refusal_is_judged_on_the_paired_ratio(self):
        runs = [core_medians(BM_bare_op=1000.0, BM_keel_breaker_rejects=900.0,
                             BM_keel_breaker_rejects_paired={"ratio": 1.06})]
        t = self.target(runs, "BM_keel_breaker_rejects / BM_bare_op")
        self.assertEqual(t["value"], 1.06)
        self.assertGreater(t["value"], t["limit"])  # the separate medians' 0.9 does not decide

    def test_added_cost_ratio_subtracts_the_bare_operation_in_each_run(self):
        runs = [core_medians(BM_bare_op=1000.0, BM_keel_pipeline=1100.0, BM_naive_timeout=1500.0),
                core_medians(BM_bare_op=1200.0, BM_keel_pipeline=1500.0, BM_naive_timeout=2200.0)]
        t = self.target(runs, "(BM_keel_pipeline - BM_bare_op) / (BM_naive_timeout - BM_bare_op)")
        self.assertEqual(t["values"], [0.2, 0.3])
        self.assertAlmostEqual(t["value"], 0.25)

    def test_a_run_without_the_benchmarks_is_missing(self):
        t = self.target([core_medians(BM_bare_op=1000.0)],
                        "BM_keel_pipeline_breaker - BM_keel_pipeline")
        self.assertIsNone(t["value"])


STRACE = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.000600           1     40012           epoll_wait
 40.00    0.000400           1       100         3 openat
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000           1     40112         3 total
"""


class FixedFigures(unittest.TestCase):
    def test_parses_strace_and_callgrind(self):
        counts, total = fixed_figures.parse_strace_counts(STRACE)
        self.assertEqual(total, 40112)
        self.assertEqual(counts, {"epoll_wait": 40012, "openat": 100})
        self.assertEqual(fixed_figures.parse_callgrind_summary("events: Ir\nsummary: 123\n"), 123)
        with self.assertRaises(ValueError):
            fixed_figures.parse_strace_counts("nothing")

    def test_per_call_is_the_difference_over_the_extra_calls(self):
        n1, n2 = fixed_figures.N1, fixed_figures.N2
        self.assertEqual(fixed_figures.per_call(1000 + 3 * n1, 1000 + 3 * n2), 3)

    def figures(self, pipeline_syscalls=1.0, chain_instructions=1080, fallback_instructions=1610):
        def fig(instructions, syscalls):
            return {"instructions_per_call": instructions, "syscalls_per_call": syscalls}
        return {"BM_bare_op": fig(480, 1.0), "BM_naive_timeout": fig(1900, 3.0),
                "BM_keel_pipeline": fig(1580, pipeline_syscalls),
                "BM_keel_pipeline_fallback": fig(fallback_instructions, 1.0),
                "BM_peer_bare": fig(480, 1.0), "full chain": fig(chain_instructions, 1.0)}

    def test_targets(self):
        self.assertTrue(all(ok for ok, _ in fixed_figures.check(self.figures())))
        failed = [what for ok, what in fixed_figures.check(self.figures(pipeline_syscalls=2.0))
                  if not ok]
        self.assertEqual(len(failed), 1)
        self.assertIn("BM_keel_pipeline makes as many system calls", failed[0])
        failed = [what for ok, what in fixed_figures.check(self.figures(chain_instructions=1081))
                  if not ok]
        self.assertEqual(len(failed), 1)
        self.assertIn("adds at most 600 instructions", failed[0])
        failed = [what for ok, what in fixed_figures.check(self.figures(fallback_instructions=1611))
                  if not ok]
        self.assertEqual(len(failed), 1)
        self.assertIn("BM_keel_pipeline_fallback adds at most 30 instructions per call over "
                      "BM_keel_pipeline", failed[0])

    def test_a_missing_benchmark_is_missing(self):
        figures = self.figures()
        del figures["full chain"]
        self.assertIn(None, [ok for ok, _ in fixed_figures.check(figures)])


if __name__ == "__main__":
    unittest.main()
