// The Node side of bench/peers: cockatiel and opossum doing the work
// keel_bench_peers gives keel. Run by bench/peers/run as
//   node --expose-gc node_peers.mjs OUT.json
// with NODE_PATH pointing at the node_modules the runner installed from
// bench/peers/package-lock.json.
//
// Each case awaits an operation that completes at once (a resolved promise)
// CALLS times in a row; the repetitions of all cases are interleaved in a
// random order and each case reports the median. Time per call is the
// process's CPU time (user + system, process.cpuUsage) over the calls, as
// keel's figure is Google Benchmark's cpu_time: on a shared VM the CPU time a
// process gets is steadier than the wall clock; the wall time is reported too.
//
// Bytes allocated per call: one further run of each case under
// v8.GCProfiler, after a full gc(): the heap used at the end, minus at the
// start, plus what every collection in between freed.

import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import v8 from 'node:v8';

const require = createRequire(path.join(process.env.NODE_PATH ?? '.', 'x.js'));
const cockatiel = require('cockatiel');
const CircuitBreaker = require('opossum');

const CALLS = Number(process.env.PEERS_CALLS ?? 200_000);
// cockatiel waits its zero backoff with setTimeout(0), at least 1 ms: the
// retry-path cases run fewer calls.
const RETRY_PATH_CALLS = Number(process.env.PEERS_RETRY_PATH_CALLS ?? 2_000);
const REPETITIONS = Number(process.env.PEERS_REPETITIONS ?? 5);
const ALLOCATION_CALLS = 20_000;

const value = Promise.resolve(42);
const succeed = () => value;

/// An operation that fails on its first two calls, then succeeds; every third
/// call starts a new cycle (each retried call makes exactly three).
function failTwice() {
  let n = 0;
  return () => (++n % 3 === 0 ? value : Promise.reject(new Error('refused')));
}

const {
  retry, timeout, circuitBreaker, bulkhead, wrap, handleAll,
  ExponentialBackoff, ConstantBackoff, ConsecutiveBreaker, TimeoutStrategy,
} = cockatiel;

function cockatielRetry(zeroBackoff) {
  // maxAttempts counts retries: 2 retries, 3 attempts.
  return retry(handleAll, {
    maxAttempts: 2,
    backoff: zeroBackoff ? new ConstantBackoff(0) : new ExponentialBackoff(),
  });
}
const cockatielTimeout = () => timeout(1000, TimeoutStrategy.Aggressive);
const cockatielBreaker = () =>
  circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
const cockatielBulkhead = () => bulkhead(64);

function cockatielChain(zeroBackoff) {
  // Outermost first, as keel's: retry, then per attempt the breaker, the
  // bulkhead and the attempt's timeout.
  return wrap(cockatielRetry(zeroBackoff), cockatielBreaker(), cockatielBulkhead(),
    cockatielTimeout());
}

/// A case: `call()` makes one call and returns its promise.
function policyCase(name, policy, op = succeed, calls = CALLS) {
  return { name, calls, call: () => policy.execute(op) };
}

function opossumCase(name, options) {
  const breaker = new CircuitBreaker(succeed, options);
  return { name, calls: CALLS, call: () => breaker.fire(), close: () => breaker.shutdown() };
}

function bareFailTwice() {
  const op = failTwice();
  // The operation called until it succeeds, by hand.
  return async () => {
    for (;;) {
      try {
        return await op();
      } catch {
        // called again
      }
    }
  };
}

const cases = [
  { name: 'bare', calls: CALLS, call: succeed },
  policyCase('cockatiel_retry_timeout', wrap(cockatielRetry(false), cockatielTimeout())),
  policyCase('cockatiel_breaker', cockatielBreaker()),
  policyCase('cockatiel_bulkhead', cockatielBulkhead()),
  policyCase('cockatiel_chain', cockatielChain(false)),
  opossumCase('opossum_breaker', { timeout: false }),
  opossumCase('opossum_breaker_timeout', { timeout: 1000 }),
  { name: 'bare_fail2', calls: RETRY_PATH_CALLS, call: bareFailTwice() },
  policyCase('cockatiel_retry_timeout_fail2', wrap(cockatielRetry(true), cockatielTimeout()),
    failTwice(), RETRY_PATH_CALLS),
  policyCase('cockatiel_chain_fail2', cockatielChain(true), failTwice(), RETRY_PATH_CALLS),
];

async function run(c, calls) {
  for (let i = 0; i < calls; ++i) {
    if ((await c.call()) !== 42) throw new Error(`${c.name}: wrong result`);
  }
}

async function timed(c) {
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  await run(c, c.calls);
  const wall = Number(process.hrtime.bigint() - wall0);
  const cpu = process.cpuUsage(cpu0);
  return { cpu_ns: ((cpu.user + cpu.system) * 1000) / c.calls, wall_ns: wall / c.calls };
}

async function bytesPerCall(c) {
  const calls = Math.min(ALLOCATION_CALLS, c.calls);
  globalThis.gc();
  const profiler = new v8.GCProfiler();
  const before = v8.getHeapStatistics().used_heap_size;
  profiler.start();
  await run(c, calls);
  const after = v8.getHeapStatistics().used_heap_size;
  const { statistics } = profiler.stop();
  let freed = 0;
  for (const gc of statistics) {
    freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  }
  return (after - before + freed) / calls;
}

function shuffled(items) {
  const a = [...items];
  for (let i = a.length - 1; i > 0; --i) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (typeof globalThis.gc !== 'function') throw new Error('run node with --expose-gc');
  for (const c of cases) await run(c, Math.min(c.calls, 20_000)); // warm-up: JIT
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (let r = 0; r < REPETITIONS; ++r) {
    for (const c of shuffled(cases)) samples.get(c.name).push(await timed(c));
  }
  const results = {};
  for (const c of cases) {
    const s = samples.get(c.name);
    results[c.name] = {
      calls: c.calls,
      cpu_ns: median(s.map((x) => x.cpu_ns)),
      wall_ns: median(s.map((x) => x.wall_ns)),
      bytes_per_call: await bytesPerCall(c),
    };
  }
  for (const c of cases) c.close?.();
  const version = (name) =>
    JSON.parse(fs.readFileSync(path.join(process.env.NODE_PATH, name, 'package.json'))).version;
  const out = {
    runtime: `node ${process.version}`,
    versions: { cockatiel: version('cockatiel'), opossum: version('opossum') },
    repetitions: REPETITIONS,
    results,
  };
  fs.writeFileSync(process.argv[2], JSON.stringify(out, null, 2));
}

await main();
