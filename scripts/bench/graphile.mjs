// graphile-worker's drain of N no-op jobs, as the queue benchmark's baseline: the jobs are
// added in bulk with no worker running, then PROCS worker processes (each CONCURRENCY wide,
// with the batching options graphile-worker documents for throughput: a local queue of 500
// and completions batched with no delay) drain them. Every run is counted per job, so a
// job run twice or never is reported. Prints one JSON line.
// Usage: node scripts/bench/graphile.mjs DATABASE_URL N [PROCS=2] [CONCURRENCY=24]
import { fork } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../tools/package.json"));
const { run, runMigrations } = require("graphile-worker");
const pg = require("pg");

const [connectionString, nArg, procsArg, concArg] = process.argv.slice(2);

if (process.env.GRAPHILE_CHILD) {
  // A worker process: runs until told to stop, then reports the ids it ran.
  const seen = [];
  const runner = await run({
    connectionString,
    concurrency: Number(process.env.CONCURRENCY),
    noHandleSignals: true,
    pollInterval: 100,
    logger: new (require("graphile-worker").Logger)(() => () => {}),
    preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    taskList: { noop: async (payload) => { seen.push(payload.i); } },
  });
  process.send({ ready: true });
  process.on("message", async (m) => {
    if (m.stop) {
      await runner.stop();
      process.send({ seen });
      process.exit(0);
    }
  });
} else {
  const n = Number(nArg);
  const procs = Number(procsArg || 2);
  const concurrency = Number(concArg || 24);
  await runMigrations({ connectionString });
  const pool = new pg.Pool({ connectionString });
  await pool.query("delete from graphile_worker._private_jobs");
  const t0 = Date.now();
  await pool.query(
    "select graphile_worker.add_jobs(array(select ('noop', json_build_object('i', i), null, null, null, null, null, null)::graphile_worker.job_spec from generate_series(1, $1) i))",
    [n],
  );
  const enqueueMs = Date.now() - t0;
  const children = [];
  for (let p = 0; p < procs; p++) {
    const child = fork(fileURLToPath(import.meta.url), [connectionString], {
      env: { ...process.env, GRAPHILE_CHILD: "1", CONCURRENCY: String(concurrency) },
    });
    children.push(child);
  }
  await Promise.all(children.map((c) => new Promise((ok) => c.once("message", ok))));
  // Timed from the moment every worker is up: process start-up is not the queue's cost.
  const started = Date.now();
  for (;;) {
    const { rows } = await pool.query("select count(*)::int as left from graphile_worker._private_jobs");
    if (rows[0].left === 0) break;
    await new Promise((ok) => setTimeout(ok, 20));
  }
  const drainMs = Date.now() - started;
  const reports = await Promise.all(
    children.map((c) => new Promise((ok) => { c.once("message", ok); c.send({ stop: true }); })),
  );
  const counts = new Map();
  for (const r of reports) for (const i of r.seen) counts.set(i, (counts.get(i) || 0) + 1);
  const twice = [...counts.values()].filter((c) => c > 1).length;
  const missing = n - counts.size;
  await pool.end();
  console.log(JSON.stringify({
    graphile_worker: "0.17.3", jobs: n, procs, concurrency, enqueue_ms: enqueueMs, drain_ms: drainMs,
    jobs_per_s: Math.round((n * 1000) / drainMs), ran_twice: twice, never_ran: missing,
  }));
  process.exit(twice === 0 && missing === 0 ? 0 : 1);
}
