// graphile-worker side of `bench run --only peers` (examples/bench/peers.rs runs it;
// docs/PERFORMANCE.md describes the method). One process per phase, database URL in PEER_URL:
//
//   node peer.js setup N                     install the schema, add N no-op jobs (addJobs); exits
//   node peer.js work WORKERS MODE N CAP_S   MODE defaults|batching; runs until N jobs completed
//                                            or CAP_S seconds; prints jobs=, elapsed_s= (up to the
//                                            end of runner.stop()), stop_s= (its share)
//   node peer.js latency STEPS SAMPLES WARM CAP_S
//                                            one idle runner (defaults, concurrency 1); per sample
//                                            adds a chain of STEPS jobs (each adds the next) and
//                                            waits for the last one's completion; stops after
//                                            SAMPLES (after WARM unmeasured ones) or CAP_S seconds,
//                                            but not before 5 samples; prints samples_ms=
//
// "Completed": graphile-worker deletes a job when it completes, but does not await that
// statement before emitting "job:complete". So `work` counts "job:complete" events and then
// awaits runner.stop(), which drains outstanding completions, before it stops the clock; and
// `latency` learns of the completion from a NOTIFY sent by a trigger on graphile_worker's jobs
// table when the row is deleted (delivered after commit). The trigger exists only in the
// latency database, so the throughput counters do not include it.
"use strict";
const { run, runMigrations, makeWorkerUtils, Logger } = require("graphile-worker");
const { Client } = require("pg");

const url = process.env.PEER_URL;
const quiet = new Logger(() => () => {});
const die = (msg) => {
  process.stderr.write(`graphile-peer: ${msg}\n`);
  process.exit(1);
};
const noop = async (payload, helpers) => {
  if (payload.remaining > 0) {
    await helpers.addJob("noop", { remaining: payload.remaining - 1, sample: payload.sample });
  }
};

async function setup(n) {
  await runMigrations({ connectionString: url, logger: quiet });
  const utils = await makeWorkerUtils({ connectionString: url, logger: quiet });
  try {
    for (let done = 0; done < n; ) {
      const k = Math.min(1000, n - done);
      await utils.addJobs(Array.from({ length: k }, () => ({ identifier: "noop", payload: {} })));
      done += k;
    }
  } finally {
    await utils.release();
  }
}

function runnerOptions(concurrency, batching) {
  const worker = { concurrentJobs: concurrency };
  if (batching) {
    worker.localQueue = { size: 50 };
    worker.completeJobBatchDelay = 0;
  }
  return {
    connectionString: url,
    logger: quiet,
    noHandleSignals: true,
    concurrency,
    taskList: { noop },
    preset: { worker },
  };
}

async function work(workers, mode, n, capS) {
  const start = process.hrtime.bigint();
  const runner = await run(runnerOptions(workers, mode === "batching"));
  let done = 0;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, capS * 1000);
    runner.events.on("job:complete", ({ error }) => {
      if (!error && ++done === n) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const counted = done;
  const stopping = process.hrtime.bigint();
  await runner.stop();
  const end = process.hrtime.bigint();
  const elapsed = Number(end - start) / 1e9;
  const stopS = Number(end - stopping) / 1e9;
  process.stdout.write(`jobs=${counted}\nelapsed_s=${elapsed.toFixed(6)}\nstop_s=${stopS.toFixed(6)}\n`);
}

async function latency(steps, samples, warm, capS) {
  const listener = new Client({ connectionString: url });
  await listener.connect();
  await listener.query(`
    CREATE OR REPLACE FUNCTION bench_job_done() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (OLD.payload->>'remaining')::int = 0 THEN
        PERFORM pg_notify('bench_done', OLD.payload->>'sample');
      END IF;
      RETURN OLD;
    END $$;
    CREATE OR REPLACE TRIGGER bench_job_done AFTER DELETE ON graphile_worker._private_jobs
      FOR EACH ROW EXECUTE FUNCTION bench_job_done();
    LISTEN bench_done;`);
  let waiting = null;
  listener.on("notification", (msg) => {
    if (waiting && msg.payload === waiting.sample) waiting.resolve();
  });
  const runner = await run(runnerOptions(1, false));
  const utils = await makeWorkerUtils({ connectionString: url, logger: quiet });
  const out = [];
  const began = Date.now();
  for (let i = 0; i < samples + warm && (Date.now() - began < capS * 1000 || out.length < 5); i++) {
    const sample = String(i);
    const t0 = process.hrtime.bigint();
    let timer;
    const done = new Promise((resolve, reject) => {
      waiting = { sample, resolve };
      timer = setTimeout(() => reject(new Error("no completion within 30 s")), 30000);
    });
    await utils.addJob("noop", { remaining: steps - 1, sample });
    await done;
    clearTimeout(timer);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= warm) out.push(ms.toFixed(4));
  }
  await utils.release();
  await runner.stop();
  await listener.end();
  process.stdout.write(`samples_ms=${out.join(",")}\n`);
}

async function main() {
  const [cmd, ...a] = process.argv.slice(2);
  const num = (s) => {
    const v = Number(s);
    if (!Number.isInteger(v)) die(`bad number ${s}`);
    return v;
  };
  if (!url) die("PEER_URL is not set");
  if (cmd === "setup") await setup(num(a[0]));
  else if (cmd === "work") await work(num(a[0]), a[1], num(a[2]), num(a[3]));
  else if (cmd === "latency") await latency(num(a[0]), num(a[1]), num(a[2]), num(a[3]));
  else die("usage: peer.js setup N | work WORKERS MODE N CAP_S | latency STEPS SAMPLES WARM CAP_S");
}

main().then(
  () => process.exit(0),
  (e) => die(e && e.stack ? e.stack : String(e)),
);
