#!/usr/bin/env python3
"""Prove the Grafana dashboard's queries against a real Prometheus server.

Starts keel-metrics-example on a loopback port, starts Prometheus scraping it
every second, waits until rates can be computed, then runs every PromQL
expression found in the dashboard JSON (with Grafana variables substituted)
and requires each to succeed with at least one series. Also checks that the
label_values() templating queries return at least one value.

Usage:
  dashboard_test.py --example PATH/keel-metrics-example \
                    --dashboard docs/grafana/keel-dashboard.json \
                    [--prometheus /usr/bin/prometheus] [--timeout 90]

Standard library only. Exit status 0 only if every check passed and the
dashboard had at least one expression.
"""

import argparse
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

POLL = 0.5            # never sleep longer than this between polls
RETRY_BUDGET = 20.0   # seconds to keep retrying expressions that fail
STOP_GRACE = 10.0     # seconds between SIGTERM and SIGKILL

# Values the Grafana variables take during the test. The rate window must
# hold at least two samples at the 1 s scrape interval used below.
VARIABLES = {
    "dependency": ".*",          # the "All" value (allValue) of the variable
    "__rate_interval": "30s",
    "__interval": "5s",
    "__interval_ms": "5000",
    "__range": "1m",
    "__range_s": "60",
    "__range_ms": "60000",
}

# $var, ${var}, ${var:format}, [[var]], [[var:format]]
VAR_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*$")
# "keel-metrics-example: serving http://127.0.0.1:PORT/metrics"; the host may
# be [::1] and the path another one if the example's configuration says so.
SERVING_RE = re.compile(r"keel-metrics-example: serving http://(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)(/\S*)")

# Loopback only: never let an http_proxy from the environment see the traffic.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class TestFailure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def http_get(url, timeout=5.0):
    """GET url; return (status, body). Raises OSError on connection errors."""
    try:
        with HTTP.open(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"(cannot read {path}: {e})"


def describe_status(rc):
    return f"killed by signal {-rc}" if rc is not None and rc < 0 else f"status {rc}"


def stop_process(proc, name):
    """SIGTERM by PID, wait, SIGKILL after STOP_GRACE. Returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            log(f"dashboard_test: {name} (pid {proc.pid}) ignored SIGTERM "
                f"for {STOP_GRACE:.0f} s, sending SIGKILL")
            proc.kill()
            proc.wait()
    return proc.returncode


# ---------------------------------------------------------------- dashboard

def collect_exprs(node, path="$", out=None):
    """Every string-valued "expr" key anywhere in the JSON, with its path."""
    if out is None:
        out = []
    if isinstance(node, dict):
        for k, v in node.items():
            sub = f"{path}.{k}"
            if k == "expr" and isinstance(v, str):
                out.append((sub, v))
            else:
                collect_exprs(v, sub, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            collect_exprs(v, f"{path}[{i}]", out)
    return out


def template_queries(dash):
    """(name, query string) for every templating variable of type query."""
    out = []
    for var in (dash.get("templating") or {}).get("list") or []:
        if var.get("type") != "query":
            continue
        q = var.get("query")
        if isinstance(q, dict):  # Grafana 10 stores {"query": ..., "refId": ...}
            q = q.get("query", "")
        out.append((var.get("name", "?"), q or var.get("definition", "")))
    return out


def substitute(expr):
    """Replace Grafana variables; return (expr, [unknown variable names])."""
    unknown = []

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in VARIABLES:
            return VARIABLES[name]
        unknown.append(m.group(0))
        return m.group(0)

    return VAR_RE.sub(repl, expr), unknown


def one_line(s):
    return " ".join(s.split())


# --------------------------------------------------------------- prometheus

class Prom:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def api(self, path, params):
        url = f"{self.base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
        status, body = http_get(url)
        try:
            doc = json.loads(body)
        except ValueError:
            return {"status": "error", "errorType": f"http {status}",
                    "error": one_line(body)[:200]}
        return doc

    def query(self, expr):
        return self.api("/api/v1/query", {"query": expr})


def result_count(doc):
    data = doc.get("data") or {}
    rtype = data.get("resultType")
    result = data.get("result")
    if rtype in ("vector", "matrix"):
        return len(result or [])
    if rtype in ("scalar", "string"):
        return 1
    return 0


def all_nan(doc):
    data = doc.get("data") or {}
    if data.get("resultType") != "vector":
        return False
    vals = [s.get("value", [0, ""])[1] for s in data.get("result") or []]
    return bool(vals) and all(v in ("NaN", "+Inf", "-Inf") for v in vals)


def check_expr(prom, expr):
    """Returns (ok, retryable, message)."""
    try:
        doc = prom.query(expr)
    except OSError as e:
        return False, True, f"query failed: {e}"
    if doc.get("status") != "success":
        et = doc.get("errorType", "?")
        # A parse/type error will not fix itself; anything else might.
        return False, et != "bad_data", f"status {doc.get('status')} ({et}: {doc.get('error', '')})"
    n = result_count(doc)
    if n == 0:
        return False, True, "no series"
    note = "  (all values NaN/Inf right now)" if all_nan(doc) else ""
    return True, False, f"{n} series{note}"


def check_label_values(prom, query):
    m = LABEL_VALUES_RE.match(query or "")
    if not m:
        return False, False, "unsupported templating query (only label_values(...) is checked)"
    match, label = m.group(1), m.group(2)
    params = {}
    if match:
        match, unknown = substitute(match)
        if unknown:
            return False, False, f"unknown variable(s) {', '.join(unknown)}"
        params["match[]"] = match
    try:
        doc = prom.api(f"/api/v1/label/{urllib.parse.quote(label)}/values", params)
    except OSError as e:
        return False, True, f"query failed: {e}"
    if doc.get("status") != "success":
        return False, True, f"status {doc.get('status')} ({doc.get('errorType')}: {doc.get('error', '')})"
    values = doc.get("data") or []
    if not values:
        return False, True, "no values"
    return True, False, f"{len(values)} values ({', '.join(values)})"


# ------------------------------------------------------------------ startup

def start_example(path, tmp, deadline):
    err_path = os.path.join(tmp, "example.stderr")
    err = open(err_path, "wb")
    proc = subprocess.Popen([path, "--listen", "127.0.0.1:0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=err, close_fds=True)
    err.close()
    lines = queue.Queue()

    out_path = os.path.join(tmp, "example.stdout")

    def reader():  # keeps draining stdout so the example never blocks on it
        with open(out_path, "w", encoding="utf-8") as copy:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                copy.write(line + "\n")
                copy.flush()
                lines.put(line)
        lines.put(None)

    reader_thread = threading.Thread(target=reader, daemon=True)
    reader_thread.start()
    proc.reader_thread = reader_thread  # joined after the example exits
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure(proc, "example printed no serving line in time; stdout so far:\n"
                              + "\n".join(seen) + "\nstderr:\n" + tail(err_path))
        try:
            line = lines.get(timeout=min(POLL, left))
        except queue.Empty:
            continue
        if line is None:
            try:
                rc = proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                raise TestFailure(proc, "example closed its stdout without printing "
                                  "the serving line; stdout:\n" + "\n".join(seen))
            raise TestFailure(proc, f"example exited early ({describe_status(rc)}); stdout:\n"
                              + "\n".join(seen) + "\nstderr:\n" + tail(err_path))
        seen.append(line)
        m = SERVING_RE.search(line)
        if m:
            host, port, path = m.group(1), int(m.group(2)), m.group(3)
            if not (host.startswith("127.") or host == "[::1]"):
                raise TestFailure(proc, f"example serves on non-loopback address {host}")
            return proc, f"{host}:{port}", path


def start_prometheus(binary, tmp, target, metrics_path):
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n"
                "  scrape_interval: 1s\n"
                "  evaluation_interval: 1s\n"
                "scrape_configs:\n"
                "  - job_name: keel\n"
                f"    metrics_path: '{metrics_path}'\n"
                "    static_configs:\n"
                f"      - targets: ['{target}']\n")
    port = free_port()
    log_path = os.path.join(tmp, "prometheus.log")
    out = open(log_path, "ab")
    proc = subprocess.Popen([binary, f"--config.file={cfg}",
                             f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             "--log.level=warn"],
                            stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, close_fds=True)
    out.close()
    return proc, port, log_path


def wait_for(what, deadline, probe, procs):
    """Poll probe() until it returns a true value; fail on timeout or a dead process."""
    last = None
    while True:
        for name, p in procs:
            if p.poll() is not None:
                raise TestFailure(None, f"{name} exited ({describe_status(p.returncode)}) "
                                  f"while waiting for {what}")
        try:
            v = probe()
            if v:
                return v
        except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise TestFailure(None, f"timed out waiting for {what}"
                              + (f" (last error: {last})" if last else ""))
        time.sleep(POLL)


def vector(prom, expr):
    doc = prom.query(expr)
    if doc.get("status") != "success":
        return []
    return doc["data"]["result"]


# --------------------------------------------------------------------- main

def run(args, tmp, state):
    """Start everything and run the checks; returns the list of checks.

    Processes are recorded in state as soon as they start, so the caller
    can stop them whatever happens here."""
    with open(args.dashboard, encoding="utf-8") as f:
        dash = json.load(f)
    exprs = collect_exprs(dash)
    templates = template_queries(dash)
    state["n_expr"], state["n_templates"] = len(exprs), len(templates)
    log(f"dashboard_test: {args.dashboard}: {len(exprs)} expressions, "
        f"{len(templates)} templating queries")

    if not exprs:
        raise TestFailure(None, "the dashboard has no expressions")

    t0 = time.monotonic()
    deadline = t0 + args.timeout
    try:
        proc, target, metrics_path = start_example(args.example, tmp, deadline)
    except TestFailure as e:
        state["example"] = e.args[0]
        state["example_reported"] = True  # its exit/stderr is in the message
        raise TestFailure(None, e.args[1])
    state["example"] = proc
    log(f"dashboard_test: example pid {proc.pid} serving http://{target}{metrics_path}")

    pproc, pport, plog = start_prometheus(args.prometheus, tmp, target, metrics_path)
    state["prometheus"], state["prom_log"] = pproc, plog
    prom = Prom(pport)
    log(f"dashboard_test: prometheus pid {pproc.pid} on 127.0.0.1:{pport}")
    procs = [("keel-metrics-example", proc), ("prometheus", pproc)]

    wait_for("prometheus /-/ready", deadline,
             lambda: http_get(f"{prom.base}/-/ready", timeout=2)[0] == 200, procs)
    wait_for('up{job="keel"} == 1', deadline,
             lambda: any(s["value"][1] == "1"
                         for s in vector(prom, 'up{job="keel"}')), procs)
    wait_for("keel_calls_total to be scraped", deadline,
             lambda: vector(prom, "count(keel_calls_total)"), procs)
    wait_for("enough samples for rate()", deadline,
             lambda: vector(prom, "rate(keel_calls_total[1m])"), procs)
    log(f"dashboard_test: prometheus has data after {time.monotonic() - t0:.1f} s")

    # One check per templating query and per expression; a check gets
    # "final" = (ok, message). Unknown variables fail without querying.
    checks = []
    for name, q in templates:
        checks.append({"label": q, "kind": "labels", "q": q, "var": name})
    for path, raw in exprs:
        expr, unknown = substitute(raw)
        c = {"label": one_line(raw), "kind": "expr", "q": expr, "path": path}
        if unknown:
            c["final"] = (False, f"unknown Grafana variable(s) {', '.join(unknown)}")
        checks.append(c)

    def attempt(c):
        if c["kind"] == "labels":
            return check_label_values(prom, c["q"])
        return check_expr(prom, c["q"])

    pending = []
    for c in checks:
        if "final" in c:
            continue
        ok, retryable, msg = attempt(c)
        if ok or not retryable:
            c["final"] = (ok, msg)
        else:
            c["last"] = msg
            pending.append(c)
    retry_deadline = time.monotonic() + RETRY_BUDGET
    while pending and time.monotonic() < retry_deadline:
        time.sleep(POLL)
        still = []
        for c in pending:
            ok, retryable, msg = attempt(c)
            if ok or not retryable:
                c["final"] = (ok, msg)
            else:
                c["last"] = msg
                still.append(c)
        pending = still
    for c in pending:
        c["final"] = (False, f"{c['last']} after retrying {RETRY_BUDGET:.0f} s")

    for c in checks:
        ok, msg = c["final"]
        if ok:
            log(f"ok  {msg}  {c['label']}")
        else:
            where = f" [variable {c['var']}]" if c["kind"] == "labels" else f" [{c['path']}]"
            log(f"FAIL {msg}  {c['label']}{where}")
    return checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--example", required=True, help="path to keel-metrics-example")
    ap.add_argument("--dashboard", required=True, help="path to the dashboard JSON")
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--timeout", type=float, default=90.0,
                    help="seconds allowed for startup until Prometheus has data")
    ap.add_argument("--keep-tmp", action="store_true",
                    help="keep the temporary directory for inspection")
    args = ap.parse_args()

    # SIGTERM/SIGHUP to the test itself still cleans up via finally.
    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    for p, what in ((args.example, "--example"), (args.prometheus, "--prometheus")):
        if not (os.path.isfile(p) and os.access(p, os.X_OK)):
            log(f"dashboard_test: {what} {p} is not an executable file")
            return 2

    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="keel-dashboard-test-")
    state = {"example": None, "prometheus": None, "prom_log": None}
    checks = []
    problems = []  # failures that are not about one expression
    try:
        try:
            checks = run(args, tmp, state)
        except TestFailure as e:
            problems.append(f"setup: {e.args[1]}")
            log(f"FAIL setup: {e.args[1]}")
        except (OSError, ValueError) as e:
            problems.append(f"setup: {e}")
            log(f"FAIL setup: {e}")
    finally:
        example = state["example"]
        if example is not None:
            died_early = example.poll() is not None
            rc = stop_process(example, "keel-metrics-example")
            reader_thread = getattr(example, "reader_thread", None)
            if reader_thread is not None:
                reader_thread.join(timeout=2)  # flush its stdout copy
            bad = None
            if died_early:
                bad = f"keel-metrics-example exited on its own ({describe_status(rc)}) before SIGTERM"
            elif rc != 0:
                bad = f"keel-metrics-example exited with {describe_status(rc)} after SIGTERM (expected status 0)"
            if bad and state.get("example_reported"):
                bad = None
            if bad:
                problems.append(bad)
                log(f"FAIL {bad}; its stdout (tail):\n"
                    + tail(os.path.join(tmp, "example.stdout"), 10)
                    + "its stderr (tail):\n"
                    + tail(os.path.join(tmp, "example.stderr")))
        stop_process(state["prometheus"], "prometheus")
        failed_any = problems or any(not c["final"][0] for c in checks)
        if failed_any and state["prom_log"]:
            log("---- prometheus log (tail) ----\n" + tail(state["prom_log"]) + "----")
        if args.keep_tmp:
            log(f"dashboard_test: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    # Counts come from the dashboard, so a setup failure shows every
    # expression as failed (not run) rather than as "0 expressions".
    n_expr = state.get("n_expr", 0)
    n_tmpl = state.get("n_templates", 0)
    e_pass = sum(1 for c in checks if c["kind"] == "expr" and c["final"][0])
    t_pass = sum(1 for c in checks if c["kind"] != "expr" and c["final"][0])
    log(f"dashboard_test: {n_tmpl} templating queries, {t_pass} passed, "
        f"{n_tmpl - t_pass} failed; {len(problems)} other problem(s); "
        f"{time.monotonic() - t0:.1f} s")
    log(f"dashboard_test: {n_expr} expressions, {e_pass} passed, "
        f"{n_expr - e_pass} failed")
    ok = (n_expr > 0 and e_pass == n_expr and t_pass == n_tmpl and not problems)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
