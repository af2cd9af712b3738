//! `make bench`: libtasker against the database's own limits, printed as one table.
//!
//! Run by scripts/bench.sh (which builds in release mode, starts a throwaway PostgreSQL with the
//! default durability settings and stops it afterwards):
//!
//! ```text
//! bench run --pg URL --pg-bin DIR --dir DIR [--c-bench PATH] [--wrappers DIR] [--lib-dir DIR]
//!           [--runs N] [--only a,b] [--backends sqlite|postgres|postgres,sqlite]
//! bench mem URL TASKS        (internal: the worker process whose peak RSS is reported)
//! ```
//!
//! Every figure is the median of `--runs` runs (default 3) with their min and max. Each run uses
//! a fresh database (a new PostgreSQL database, a new SQLite file). Scenarios (`--only`):
//! `baseline` (pgbench -N, SQLite single-row UPDATE transactions), `throughput`, `keyed` (one-step
//! tasks at 4 workers, unlimited and with one concurrency key of limit 4), `latency`,
//! `fanout`, `fanout_runtime` (the same shape created at run time by a batchable step), `ffi`, `memory`, `peers` (libtasker beside graphile-worker and River: bench/peers.rs,
//! with `--graphile DIR|skip:WHY` and `--river BIN|skip:WHY` from scripts/bench.sh), `dashboard`
//! (page answer times with 100,000 tasks: bench/dashboard.rs).
//! `--backends sqlite` runs the per-backend scenarios on SQLite only (no `--pg`/`--pg-bin`
//! needed then; pgbench and the peers need PostgreSQL): for quick SQLite experiments.
//! docs/PERFORMANCE.md describes the method and the latest results.

#[path = "bench/peers.rs"]
mod peers;

#[path = "bench/dashboard.rs"]
mod dashboard;

use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tasker::{Client, Config, StopHandle, TaskRequest};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

// ---- workload sizes (env overrides exist for experiments; the table states the defaults) ------

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Throughput workload: tasks of `THROUGHPUT_STEPS_PER_TASK` independent no-op steps.
fn throughput_tasks() -> usize {
    env_usize("BENCH_THROUGHPUT_TASKS", 200)
}
fn throughput_steps_per_task() -> usize {
    env_usize("BENCH_THROUGHPUT_STEPS_PER_TASK", 10)
}
fn claim_batch() -> u32 {
    env_usize("BENCH_CLAIM_BATCH", 50) as u32
}
fn latency_samples() -> usize {
    env_usize("BENCH_LATENCY_SAMPLES", 200)
}
fn ffi_steps() -> usize {
    env_usize("BENCH_FFI_STEPS", 1000)
}
fn memory_tasks() -> usize {
    env_usize("BENCH_MEMORY_TASKS", 10_000)
}
fn pgbench_seconds() -> usize {
    env_usize("BENCH_PGBENCH_SECONDS", 5)
}

/// Options for every client of the benchmark: claims in batches, short idle polls (PostgreSQL
/// workers are woken by NOTIFY anyway), enough connections for the worker threads.
fn bench_config(threads: usize) -> Config {
    Config {
        claim_batch: claim_batch(),
        poll_interval_ms: 20,
        max_connections: (threads as u32 + 2).max(4),
        ..Config::default()
    }
}

// ---- statistics ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

fn stat(values: &[f64]) -> Stat {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Stat {
        median,
        min: v[0],
        max: v[n - 1],
    }
}

/// The value at quantile `q` (nearest rank) of a sample.
fn quantile(sample: &[f64], q: f64) -> f64 {
    let mut v = sample.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

// ---- databases ----------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

struct Env {
    pg_admin: String,
    pg_bin: PathBuf,
    dir: PathBuf,
    c_bench: Option<PathBuf>,
    wrappers: Option<PathBuf>,
    lib_dir: Option<PathBuf>,
    runs: usize,
    rt: tokio::runtime::Runtime,
    counter: AtomicU64,
}

impl Env {
    /// A fresh, empty database for one run of one scenario.
    fn fresh_db(&self, backend: Backend, label: &str) -> Res<String> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let name = format!("bench_{label}_{n}");
        match backend {
            Backend::Sqlite => {
                let path = self.dir.join(format!("{name}.db"));
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
                }
                Ok(format!("sqlite://{}", path.display()))
            }
            Backend::Postgres => {
                let admin = self.pg_admin.clone();
                self.rt.block_on(async {
                    let mut c = sqlx::PgConnection::connect(&admin).await?;
                    c.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await?;
                    c.execute(format!("CREATE DATABASE {name}").as_str())
                        .await?;
                    c.close().await?;
                    Ok::<_, sqlx::Error>(())
                })?;
                Ok(pg_url_with_db(&self.pg_admin, &name))
            }
        }
    }

    /// Drops a database made by `fresh_db` (its clients must be gone).
    fn drop_db(&self, url: &str) {
        if std::env::var("BENCH_KEEP_DB").is_ok() {
            return; // for inspecting a run's database afterwards
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{ext}"));
            }
            return;
        }
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        let admin = self.pg_admin.clone();
        let _ = self.rt.block_on(async move {
            let mut c = sqlx::PgConnection::connect(&admin).await?;
            c.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await?;
            c.close().await
        });
    }

    fn pg_port_host(&self) -> (String, String) {
        // postgres://user@host:port/db
        let rest = self
            .pg_admin
            .split('@')
            .nth(1)
            .unwrap_or("127.0.0.1:5432/x");
        let hostport = rest.split('/').next().unwrap_or("127.0.0.1:5432");
        let mut it = hostport.split(':');
        let host = it.next().unwrap_or("127.0.0.1").to_string();
        let port = it.next().unwrap_or("5432").to_string();
        (host, port)
    }
}

fn pg_url_with_db(admin: &str, db: &str) -> String {
    match admin.rfind('/') {
        Some(i) => format!("{}/{db}", &admin[..i]),
        None => admin.to_string(),
    }
}

fn req(name: &str, context: Value) -> TaskRequest {
    TaskRequest {
        name: name.into(),
        namespace: Some("bench".into()),
        context,
        ..Default::default()
    }
}

// ---- baselines ----------------------------------------------------------------------------------

/// `pgbench -N` TPS at `clients` clients, one value per run.
fn pgbench(env: &Env, clients: usize) -> Res<Vec<f64>> {
    let (host, port) = env.pg_port_host();
    let db = "bench_pgbench";
    let bin = env.pg_bin.join("pgbench");
    let base = |cmd: &mut Command| {
        cmd.args(["-h", &host, "-p", &port, "-U", "postgres"]);
    };
    if !pgbench_initialised(env, db) {
        let admin = env.pg_admin.clone();
        env.rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(&admin).await?;
            c.execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
                .await?;
            c.execute(format!("CREATE DATABASE {db}").as_str()).await?;
            c.close().await
        })?;
        let mut init = Command::new(&bin);
        base(&mut init);
        let out = init.args(["-i", "-s", "10", "-q", db]).output()?;
        if !out.status.success() {
            return Err(format!(
                "pgbench -i failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
    }
    let mut tps = Vec::new();
    for _ in 0..env.runs {
        let mut run = Command::new(&bin);
        base(&mut run);
        let c = clients.to_string();
        let t = pgbench_seconds().to_string();
        let out = run
            .args(["-N", "-n", "-c", &c, "-j", &c, "-T", &t, db])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let v = text
            .lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| {
                format!(
                    "cannot read pgbench output: {text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        tps.push(v);
    }
    Ok(tps)
}

fn pgbench_initialised(env: &Env, db: &str) -> bool {
    let url = pg_url_with_db(&env.pg_admin, db);
    env.rt
        .block_on(async {
            let mut c = sqlx::PgConnection::connect(&url).await?;
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pgbench_branches")
                .fetch_one(&mut c)
                .await?;
            c.close().await?;
            Ok::<_, sqlx::Error>(n)
        })
        .is_ok()
}

/// SQLite's own limit for the same kind of work: single-row UPDATE transactions on a file with
/// libtasker's pragmas (WAL, synchronous=NORMAL, BEGIN IMMEDIATE, in-process writer queue),
/// through the same sqlx driver, from `threads` concurrent tasks. Transactions per second.
fn sqlite_baseline(env: &Env, threads: usize) -> Res<Vec<f64>> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    use std::str::FromStr;
    let mut out = Vec::new();
    for _ in 0..env.runs {
        let url = env.fresh_db(Backend::Sqlite, "sqlite_baseline")?;
        let rate = env.rt.block_on(async {
            let opts = SqliteConnectOptions::from_str(&url)?
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(60))
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            let pool = SqlitePoolOptions::new()
                .max_connections(threads as u32)
                .connect_with(opts)
                .await?;
            pool.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL, filler TEXT NOT NULL)")
                .await?;
            pool.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
                 INSERT INTO accounts SELECT i, 0, printf('%84s', '') FROM n",
            )
            .await?;
            let lock = Arc::new(tokio::sync::Mutex::new(()));
            let duration = Duration::from_secs(3);
            let start = Instant::now();
            let mut handles = Vec::new();
            for t in 0..threads {
                let pool = pool.clone();
                let lock = lock.clone();
                handles.push(tokio::spawn(async move {
                    let mut n = 0u64;
                    let mut id: i64 = t as i64 * 7919;
                    while start.elapsed() < duration {
                        id = (id * 48271 + 11) % 100_000 + 1;
                        let _g = lock.lock().await;
                        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                        sqlx::query("UPDATE accounts SET balance = balance + $1 WHERE id = $2")
                            .bind(1i64)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        n += 1;
                    }
                    Ok::<u64, sqlx::Error>(n)
                }));
            }
            let mut total = 0;
            for h in handles {
                total += h.await.map_err(|e| sqlx::Error::Protocol(e.to_string()))??;
            }
            let rate = total as f64 / start.elapsed().as_secs_f64();
            pool.close().await;
            Ok::<f64, sqlx::Error>(rate)
        })?;
        env.drop_db(&url);
        out.push(rate);
    }
    Ok(out)
}

// ---- libtasker scenarios -----------------------------------------------------------------------

fn register_noop(client: &Client, counter: Arc<AtomicU64>) -> Res<()> {
    client.register_fn("noop", move |_ctx| {
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(json!({}))
    })?;
    Ok(())
}

fn parallel_template(name: &str, steps: usize) -> Value {
    let steps: Vec<Value> = (0..steps)
        .map(|i| json!({"name": format!("s{i}"), "handler": "noop"}))
        .collect();
    json!({"name": name, "namespace_name": "bench", "version": "1.0.0", "step_templates": steps})
}

/// Runs `threads` built-in workers (`run_worker`) until `expected_steps` more steps ran and
/// `expected_tasks` tasks (cumulative) are complete; returns the wall time.
fn drive_workers(
    client: &Client,
    threads: usize,
    counter: &AtomicU64,
    expected_steps: u64,
    expected_tasks: i64,
) -> Res<Duration> {
    let stop = StopHandle::new();
    let target = counter.load(Ordering::SeqCst) + expected_steps;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let c = client.clone();
            let s = stop.clone();
            std::thread::spawn(move || c.run_worker(&s))
        })
        .collect();
    // The handler counts before commit: wait for the count, then for the commits to show.
    let deadline = Duration::from_secs(env_usize("BENCH_WORKER_TIMEOUT_S", 300) as u64);
    let mut timed_out = false;
    while counter.load(Ordering::Relaxed) < target && !timed_out {
        std::thread::sleep(Duration::from_micros(500));
        timed_out = start.elapsed() > deadline;
    }
    while !timed_out && client.health()?.complete_tasks < expected_tasks {
        std::thread::sleep(Duration::from_micros(500));
        timed_out = start.elapsed() > deadline;
    }
    let elapsed = start.elapsed();
    if timed_out {
        stop.stop();
        return Err(
            format!("workers did not finish within {deadline:?} (see the log above)").into(),
        );
    }
    stop.stop();
    for h in handles {
        h.join().map_err(|_| "worker panicked")??;
    }
    Ok(elapsed)
}

/// No-op steps per second with `threads` worker threads.
fn throughput(env: &Env, backend: Backend, threads: usize) -> Res<Vec<f64>> {
    let (tasks, per_task) = (throughput_tasks(), throughput_steps_per_task());
    steps_per_second(
        env,
        backend,
        threads,
        parallel_template("wide", per_task),
        tasks,
    )
}

/// Tasks of the `keyed` scenario (one no-op step each).
fn keyed_tasks() -> usize {
    env_usize("BENCH_KEYED_TASKS", 1000)
}

/// One-step no-op tasks at 4 workers, the step unlimited or with `concurrency: {limit: 4}`
/// (one key: its handler): steps per second.
fn keyed(env: &Env, backend: Backend, limited: bool) -> Res<Vec<f64>> {
    let mut template = parallel_template("wide", 1);
    if limited {
        template["step_templates"][0]["concurrency"] = json!({"limit": 4});
    }
    steps_per_second(env, backend, 4, template, keyed_tasks())
}

/// Steps per second of `tasks` tasks of `template` (a template named `wide` of no-op steps,
/// all independent) with `threads` worker threads, after a warm-up.
fn steps_per_second(
    env: &Env,
    backend: Backend,
    threads: usize,
    template: Value,
    tasks: usize,
) -> Res<Vec<f64>> {
    let per_task = template["step_templates"]
        .as_array()
        .map_or(0, |steps| steps.len());
    let warm_tasks = 10;
    let mut out = Vec::new();
    for _ in 0..env.runs {
        let url = env.fresh_db(backend, "throughput")?;
        {
            let client = Client::connect_with(&url, bench_config(threads), None)?;
            client.register_template_value(template.clone())?;
            let counter = Arc::new(AtomicU64::new(0));
            register_noop(&client, counter.clone())?;
            // Warm-up: opens the pool's connections and fills statement caches.
            for i in 0..warm_tasks {
                client.create_task(&req("wide", json!({"warm": i})))?;
            }
            drive_workers(
                &client,
                threads,
                &counter,
                (warm_tasks * per_task) as u64,
                warm_tasks as i64,
            )?;
            for i in 0..tasks {
                client.create_task(&req("wide", json!({"i": i})))?;
            }
            let t = drive_workers(
                &client,
                threads,
                &counter,
                (tasks * per_task) as u64,
                (warm_tasks + tasks) as i64,
            )?;
            out.push((tasks * per_task) as f64 / t.as_secs_f64());
        }
        env.drop_db(&url);
    }
    Ok(out)
}

/// 4-step linear workflow, create -> complete (inline `run_task`), one sample per task;
/// returns (P50, P99) in ms per run.
fn latency(env: &Env, backend: Backend) -> Res<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    for _ in 0..env.runs {
        let url = env.fresh_db(backend, "latency")?;
        {
            let client = Client::connect_with(&url, bench_config(1), None)?;
            client.register_template_yaml(
                "name: linear\nnamespace_name: bench\nversion: 1.0.0\nstep_templates:\n\
                 - {name: a, handler: noop}\n\
                 - {name: b, handler: noop, depends_on_step: a}\n\
                 - {name: c, handler: noop, depends_on_step: b}\n\
                 - {name: d, handler: noop, depends_on_step: c}\n",
            )?;
            register_noop(&client, Arc::new(AtomicU64::new(0)))?;
            let mut sample = Vec::new();
            for i in 0..(latency_samples() + 20) {
                let t0 = Instant::now();
                let task = client.create_task(&req("linear", json!({"i": i})))?;
                let ctx = client.run_task(task.task_id)?;
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                if ctx.task_state != tasker::State::Complete {
                    return Err(format!("latency task ended {:?}", ctx.task_state).into());
                }
                if i >= 20 {
                    sample.push(ms); // the first 20 warm the connection and statement caches
                }
            }
            out.push((quantile(&sample, 0.5), quantile(&sample, 0.99)));
        }
        env.drop_db(&url);
    }
    Ok(out)
}

/// The steps of a fan-out of `n`: static (root -> p0..pN -> join, all in the template), or
/// created at run time (`runtime`: a batchable root returning `context.batches` batches of one
/// batch_worker, and a convergence join).
fn fan_steps(prefix: &str, n: usize, runtime: bool) -> Vec<Value> {
    if runtime {
        return vec![
            json!({"name": "root", "handler": "split", "type": "batchable",
                   "batch": {"worker": "p", "max_batches": tasker::MAX_BATCHES}}),
            json!({"name": "p", "handler": "noop", "type": "batch_worker", "depends_on_step": "root"}),
            json!({"name": "join", "handler": "noop", "type": "convergence", "depends_on_steps": ["p"]}),
        ];
    }
    let mut steps = vec![json!({"name": "root", "handler": "noop"})];
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    for name in &names {
        steps.push(json!({"name": name, "handler": "noop", "depends_on_step": "root"}));
    }
    steps.push(json!({"name": "join", "handler": "noop", "depends_on_steps": names}));
    steps
}

/// Fan-out/fan-in: root -> N parallel -> join, created and run inline (`run_task`) on one
/// thread. Seconds per run (creation + run; template registration not included). With
/// `runtime`, the N steps are batches created when the root completes (fanout_runtime).
fn fanout(env: &Env, backend: Backend, n: usize, runtime: bool) -> Res<Vec<f64>> {
    let mut out = Vec::new();
    for _ in 0..env.runs {
        let url = env.fresh_db(backend, "fanout")?;
        {
            let client = Client::connect_with(&url, bench_config(1), None)?;
            client.register_template_value(json!({
                "name": "fan", "namespace_name": "bench", "version": "1.0.0",
                "step_templates": fan_steps("p", n, runtime)
            }))?;
            let counter = Arc::new(AtomicU64::new(0));
            register_noop(&client, counter.clone())?;
            let c = counter.clone();
            client.register_fn("split", move |ctx| {
                c.fetch_add(1, Ordering::Relaxed);
                let n = ctx.task.context["batches"].as_u64().unwrap_or(0);
                Ok(json!({"batches": (0..n).map(|i| json!({"i": i})).collect::<Vec<_>>()}))
            })?;
            // Warm-up on a small fan (connections, prepared statements), so that both sizes
            // measure the steady state rather than first-use costs.
            client.register_template_value(json!({
                "name": "fan_warm", "namespace_name": "bench", "version": "1.0.0",
                "step_templates": fan_steps("w", 100, runtime)
            }))?;
            let w = client.create_task(&req("fan_warm", json!({"batches": 100})))?;
            client.run_task(w.task_id)?;
            // Tasks under a second are timed three times back to back (their median is the
            // run's figure): a single short sample is at the mercy of one scheduler hiccup.
            let repeats = if n <= 1000 { 3 } else { 1 };
            let mut times = Vec::new();
            for k in 0..repeats {
                counter.store(0, Ordering::SeqCst);
                let t0 = Instant::now();
                let task = client.create_task(&req("fan", json!({"k": k, "batches": n})))?;
                let ctx = client.run_task(task.task_id)?;
                times.push(t0.elapsed().as_secs_f64());
                if ctx.task_state != tasker::State::Complete
                    || counter.load(Ordering::SeqCst) != n as u64 + 2
                {
                    return Err(format!("fan-out task ended {:?}", ctx.task_state).into());
                }
            }
            out.push(stat(&times).median);
        }
        env.drop_db(&url);
    }
    Ok(out)
}

fn ffi_calls() -> usize {
    env_usize("TASKER_BENCH_CALLS", 20_000)
}

/// The Rust-native twin of benches/ffi_bench.c: same template, same 1 KB context, same loops.
/// Per run: (µs per one-step task, µs per direct handler call without the database).
fn ffi_rust(env: &Env, runs: usize) -> Res<Vec<(f64, f64)>> {
    let steps = ffi_steps();
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ffi_bench.yaml");
    let mut out = Vec::new();
    for _ in 0..runs {
        let url = env.fresh_db(Backend::Sqlite, "ffi_rust")?;
        {
            let client = Client::connect(&url)?;
            client.register_template_file(&template)?;
            let seen = Arc::new(AtomicU64::new(0));
            let s = seen.clone();
            client.register_fn("noop", move |ctx| {
                let len = ctx.task.context["payload"].as_str().map_or(0, |p| p.len());
                s.fetch_add(len as u64, Ordering::Relaxed);
                Ok(json!({}))
            })?;
            let payload = "x".repeat(1000);
            let warm = 20;
            let mut ids = Vec::new();
            for i in 0..steps + warm {
                ids.push(
                    client
                        .create_task(&req("ffi_bench", json!({"i": i, "payload": payload})))?
                        .task_id,
                );
            }
            for id in &ids[..warm] {
                client.run_task(*id)?;
            }
            let t0 = Instant::now();
            for id in &ids[warm..] {
                client.run_task(*id)?;
            }
            let per_step = t0.elapsed().as_secs_f64() * 1e6 / steps as f64;
            if seen.load(Ordering::SeqCst) < ((steps + warm) * 1000) as u64 {
                return Err("the Rust handler did not see the 1 KB context".into());
            }
            // The handler call alone (no database), as tasker_call_handler makes it.
            let ctx = tasker::StepContext {
                task: tasker::TaskInfo {
                    context: json!({"i": 0, "payload": payload}),
                    ..Default::default()
                },
                step: tasker::StepInfo {
                    handler: "noop".into(),
                    name: "noop".into(),
                    ..Default::default()
                },
                ..Default::default()
            };
            let calls = ffi_calls();
            seen.store(0, Ordering::SeqCst);
            let mut t1 = Instant::now();
            for i in 0..calls + 200 {
                if i == 200 {
                    t1 = Instant::now();
                }
                client
                    .call_handler(&ctx)
                    .map_err(|e| format!("direct call failed: {}", e.message))?;
            }
            let per_call = t1.elapsed().as_secs_f64() * 1e6 / calls as f64;
            if seen.load(Ordering::SeqCst) < ((calls + 200) * 1000) as u64 {
                return Err("direct calls did not see the 1 KB context".into());
            }
            out.push((per_step, per_call));
        }
        env.drop_db(&url);
    }
    Ok(out)
}

/// Runs an external FFI runner (the C program or wrappers/<lang>/bench.sh) `runs` times;
/// each prints `ffi_us_per_step=<float>` and, optionally, `ffi_us_per_call=<float>`.
fn ffi_external(
    env: &Env,
    program: &Path,
    label: &str,
    runs: usize,
) -> Res<Vec<(f64, Option<f64>)>> {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ffi_bench.yaml");
    let mut out = Vec::new();
    for _ in 0..runs {
        let url = env.fresh_db(Backend::Sqlite, &format!("ffi_{label}"))?;
        let steps = ffi_steps().to_string();
        let mut cmd = Command::new(program);
        cmd.env("TASKER_BENCH_DATABASE_URL", &url)
            .env("TASKER_BENCH_TEMPLATE", &template)
            .env("TASKER_BENCH_STEPS", &steps)
            .env("TASKER_BENCH_CALLS", ffi_calls().to_string())
            // The wrappers' own knobs: step count and the (release) library to load; their
            // scratch databases go to the benchmark's directory.
            .env("TASKER_BENCH_N", &steps)
            .env("BENCH_N", &steps)
            .env("TMPDIR", &env.dir);
        if let Some(lib) = &env.lib_dir {
            cmd.env("TASKER_LIB_DIR", lib);
        }
        let result = cmd.output()?;
        env.drop_db(&url);
        let text = String::from_utf8_lossy(&result.stdout);
        let value = |key: &str| {
            text.lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix(key))
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        match value("ffi_us_per_step=") {
            Some(v) if result.status.success() => out.push((v, value("ffi_us_per_call="))),
            _ => {
                return Err(format!(
                    "{} printed no ffi_us_per_step= line (exit {}): {}{}",
                    program.display(),
                    result.status,
                    text,
                    String::from_utf8_lossy(&result.stderr)
                )
                .into())
            }
        }
    }
    Ok(out)
}

/// Peak RSS (MB) of a worker process (`bench mem`) running `memory_tasks()` one-step tasks
/// that this process created beforehand.
fn memory(env: &Env, backend: Backend) -> Res<Vec<f64>> {
    let tasks = memory_tasks();
    let mut out = Vec::new();
    for _ in 0..env.runs {
        let url = env.fresh_db(backend, "memory")?;
        {
            let client = Client::connect_with(&url, bench_config(1), None)?;
            client.register_template_value(parallel_template("one", 1))?;
            for i in 0..tasks {
                client.create_task(&req("one", json!({"i": i})))?;
            }
        }
        let result = Command::new(std::env::current_exe()?)
            .args(["mem", &url, &tasks.to_string()])
            .output()?;
        env.drop_db(&url);
        let text = String::from_utf8_lossy(&result.stdout);
        let kb = text
            .lines()
            .find_map(|l| l.strip_prefix("peak_rss_kb="))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or_else(|| {
                format!(
                    "worker process failed: {text}{}",
                    String::from_utf8_lossy(&result.stderr)
                )
            })?;
        out.push(kb / 1024.0);
    }
    Ok(out)
}

/// `bench mem URL TASKS`: a worker process that runs TASKS one-step tasks and reports its
/// peak resident set size (VmHWM).
fn mem_worker(url: &str, tasks: usize) -> Res<()> {
    let client = Client::connect_with(url, bench_config(1), None)?;
    client.register_template_value(parallel_template("one", 1))?;
    let counter = Arc::new(AtomicU64::new(0));
    register_noop(&client, counter.clone())?;
    let t = drive_workers(&client, 1, &counter, tasks as u64, tasks as i64)?;
    drop(client);
    // The high-water mark of this process's own address space. (getrusage's ru_maxrss is not
    // used: on Linux it carries over the spawning parent's peak across exec, and the parent
    // here is the whole benchmark.)
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    println!("peak_rss_kb={hwm}");
    println!("elapsed_s={:.3}", t.as_secs_f64());
    Ok(())
}

// ---- the table -----------------------------------------------------------------------------------

struct Row {
    figure: String,
    backend: &'static str,
    unit: &'static str,
    stat: Stat,
    /// e.g. "1.23x pgbench" or "C/Rust 1.05"
    vs: String,
    budget: String,
}

fn fmt_num(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 100.0 {
        format!("{v:.1}")
    } else if v >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn print_table(rows: &[Row]) {
    let header = [
        "figure",
        "backend",
        "unit",
        "median",
        "min",
        "max",
        "vs baseline",
        "budget",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.figure.clone(),
                r.backend.to_string(),
                r.unit.to_string(),
                fmt_num(r.stat.median),
                fmt_num(r.stat.min),
                fmt_num(r.stat.max),
                r.vs.clone(),
                r.budget.clone(),
            ]
        })
        .collect();
    let mut w = header.map(|h| h.len());
    for c in &cells {
        for (i, s) in c.iter().enumerate() {
            w[i] = w[i].max(s.chars().count());
        }
    }
    let line = |c: &[String]| {
        let mut s = String::from("|");
        for (i, x) in c.iter().enumerate() {
            let pad = w[i] - x.chars().count();
            if (3..=5).contains(&i) {
                s += &format!(" {}{} |", " ".repeat(pad), x);
            } else {
                s += &format!(" {}{} |", x, " ".repeat(pad));
            }
        }
        s
    };
    println!("{}", line(&header.map(String::from)));
    let mut sep = String::from("|");
    for (i, wi) in w.iter().enumerate() {
        sep += &format!(
            "{}{}|",
            if (3..=5).contains(&i) { " " } else { ":" }.replace(' ', "-"),
            "-".repeat(wi + 1)
        );
    }
    println!("{sep}");
    for c in &cells {
        println!("{}", line(c));
    }
}

/// 100000 -> "100,000".
fn fmt_count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn run(args: &BTreeMap<String, String>) -> Res<()> {
    let runs: usize = args.get("runs").map_or(Ok(3), |v| v.parse())?;
    if runs == 0 {
        return Err("--runs must be positive".into());
    }
    let dir = PathBuf::from(args.get("dir").ok_or("--dir is required")?);
    std::fs::create_dir_all(&dir)?;
    let backends = match args.get("backends") {
        None => vec![Backend::Postgres, Backend::Sqlite],
        Some(list) => list
            .split(',')
            .map(|b| match b.trim() {
                "postgres" => Ok(Backend::Postgres),
                "sqlite" => Ok(Backend::Sqlite),
                other => Err(format!("unknown backend '{other}' in --backends")),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?,
    };
    let pg = backends.contains(&Backend::Postgres);
    // Without PostgreSQL among the backends its URL and binaries are never used.
    let pg_arg = |k: &str| match args.get(k) {
        Some(v) => Ok(v.clone()),
        None if !pg => Ok(String::new()),
        None => Err(format!("--{k} is required")),
    };
    let env = Env {
        pg_admin: pg_arg("pg")?,
        pg_bin: PathBuf::from(pg_arg("pg-bin")?),
        dir,
        c_bench: args.get("c-bench").map(PathBuf::from),
        wrappers: args.get("wrappers").map(PathBuf::from),
        lib_dir: args.get("lib-dir").map(PathBuf::from),
        runs,
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?,
        counter: AtomicU64::new(0),
    };
    let only: Option<Vec<String>> = args
        .get("only")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let want = |s: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == s));
    let started = Instant::now();
    let progress = |what: &str| {
        eprintln!("[{:>6.1}s] {what}", started.elapsed().as_secs_f64());
    };
    let mut rows: Vec<Row> = Vec::new();
    let row = |figure: &str,
               backend: &'static str,
               unit: &'static str,
               v: &[f64],
               vs: String,
               budget: String| Row {
        figure: figure.into(),
        backend,
        unit,
        stat: stat(v),
        vs,
        budget,
    };

    // Each scenario is a closure: one that fails is reported and the others still run.
    let mut failed: Vec<&str> = Vec::new();
    // Baselines.
    let mut base: BTreeMap<(&str, usize), Stat> = BTreeMap::new();
    let result = (|| -> Res<()> {
        if !(want("baseline")
            || (want("throughput") && std::env::var("BENCH_SKIP_BASELINE").is_err()))
        {
            return Ok(());
        }
        for c in [1, 4].into_iter().filter(|_| pg) {
            progress(&format!("pgbench -N, {c} client(s)"));
            let v = pgbench(&env, c)?;
            base.insert(("postgres", c), stat(&v));
            rows.push(row(
                &format!("pgbench -N, {c} client(s)"),
                "postgres",
                "tx/s",
                &v,
                "(baseline)".into(),
                String::new(),
            ));
        }
        for t in [1, 4] {
            progress(&format!(
                "SQLite single-row UPDATE transactions, {t} thread(s)"
            ));
            let v = sqlite_baseline(&env, t)?;
            base.insert(("sqlite", t), stat(&v));
            rows.push(row(
                &format!("UPDATE transactions, {t} thread(s)"),
                "sqlite",
                "tx/s",
                &v,
                "(baseline)".into(),
                String::new(),
            ));
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("bench: scenario 'baseline' failed: {e}");
        failed.push("baseline");
    }
    let steps_label = format!(
        "no-op steps ({}x{}-step tasks, batch {}), {{}} worker(s)",
        throughput_tasks(),
        throughput_steps_per_task(),
        claim_batch()
    );
    let result = (|| -> Res<()> {
        if !(want("throughput")) {
            return Ok(());
        }
        for backend in backends.iter().copied() {
            for t in [1, 4] {
                progress(&format!("throughput, {}, {t} worker(s)", backend.name()));
                let v = throughput(&env, backend, t)?;
                // (BENCH_SKIP_BASELINE=1 skips the baselines while experimenting: no ratio then.)
                let ratio = base
                    .get(&(backend.name(), t))
                    .map(|b| stat(&v).median / b.median)
                    .unwrap_or(f64::NAN);
                let (vs, budget) = if backend == Backend::Postgres {
                    (
                        format!("{ratio:.2}x pgbench"),
                        format!(">= 1.00x: {}", verdict(ratio >= 1.0)),
                    )
                } else {
                    (format!("{ratio:.2}x UPDATE tx"), String::new())
                };
                rows.push(row(
                    &steps_label.replace("{}", &t.to_string()),
                    backend.name(),
                    "steps/s",
                    &v,
                    vs,
                    budget,
                ));
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("bench: scenario 'throughput' failed: {e}");
        failed.push("throughput");
    }
    let result = (|| -> Res<()> {
        if !(want("keyed")) {
            return Ok(());
        }
        for backend in backends.iter().copied() {
            progress(&format!("keyed, {}, unlimited", backend.name()));
            let free = keyed(&env, backend, false)?;
            progress(&format!("keyed, {}, concurrency limit 4", backend.name()));
            let limited = keyed(&env, backend, true)?;
            let ratio = stat(&limited).median / stat(&free).median;
            let label = format!("no-op steps ({}x1-step tasks), 4 workers", keyed_tasks());
            rows.push(row(
                &format!("{label}, unlimited"),
                backend.name(),
                "steps/s",
                &free,
                String::new(),
                String::new(),
            ));
            rows.push(row(
                &format!("{label}, one key limit 4"),
                backend.name(),
                "steps/s",
                &limited,
                format!("{ratio:.2}x unlimited"),
                String::new(),
            ));
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("bench: scenario 'keyed' failed: {e}");
        failed.push("keyed");
    }
    let result = (|| -> Res<()> {
        if !(want("latency")) {
            return Ok(());
        }
        for (backend, limit) in [(Backend::Postgres, 5.0), (Backend::Sqlite, 2.0)]
            .into_iter()
            .filter(|(b, _)| backends.contains(b))
        {
            progress(&format!("latency, {}", backend.name()));
            let v = latency(&env, backend)?;
            let p50: Vec<f64> = v.iter().map(|x| x.0).collect();
            let p99: Vec<f64> = v.iter().map(|x| x.1).collect();
            let m = stat(&p50).median;
            rows.push(row(
                "4-step linear create->complete P50",
                backend.name(),
                "ms",
                &p50,
                String::new(),
                format!("< {limit} ms: {}", verdict(m < limit)),
            ));
            rows.push(row(
                "4-step linear create->complete P99",
                backend.name(),
                "ms",
                &p99,
                String::new(),
                String::new(),
            ));
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("bench: scenario 'latency' failed: {e}");
        failed.push("latency");
    }
    // The same fan-out, in the template (`fanout`) and created at run time by a batchable step
    // (`fanout_runtime`): figures (1,000, 10,000, ratio) per backend.
    let fans = [
        (
            "fanout",
            false,
            [
                "fan-out/fan-in 1,000 steps (create+run)",
                "fan-out/fan-in 10,000 steps (create+run)",
                "fan-out 10,000 / 1,000 time ratio",
            ],
        ),
        (
            "fanout_runtime",
            true,
            [
                "run-time fan-out 1,000 batches (create+run)",
                "run-time fan-out 10,000 batches (create+run)",
                "run-time fan-out 10,000 / 1,000 time ratio",
            ],
        ),
    ];
    for (scenario, runtime, [small_label, large_label, ratio_label]) in fans {
        let result = (|| -> Res<()> {
            if !(want(scenario)) {
                return Ok(());
            }
            for backend in backends.iter().copied() {
                progress(&format!("{scenario} 1,000, {}", backend.name()));
                let small = fanout(&env, backend, 1000, runtime)?;
                progress(&format!("{scenario} 10,000, {}", backend.name()));
                let large = fanout(&env, backend, 10_000, runtime)?;
                let ratios: Vec<f64> = large.iter().zip(&small).map(|(l, s)| l / s).collect();
                for (label, vs) in [(small_label, &small), (large_label, &large)] {
                    rows.push(row(
                        label,
                        backend.name(),
                        "s",
                        vs,
                        String::new(),
                        String::new(),
                    ));
                }
                let r = stat(&ratios).median;
                rows.push(row(
                    ratio_label,
                    backend.name(),
                    "x",
                    &ratios,
                    String::new(),
                    format!("<= 12: {}", verdict(r <= 12.0)),
                ));
            }
            Ok(())
        })();
        if let Err(e) = result {
            eprintln!("bench: scenario '{scenario}' failed: {e}");
            failed.push(scenario);
        }
    }
    let result = (|| -> Res<()> {
        if !(want("ffi")) {
            return Ok(());
        }
        let mut runners: Vec<(String, PathBuf)> = Vec::new();
        if let Some(c) = &env.c_bench {
            runners.push(("C".into(), c.clone()));
        }
        // Optional hooks: wrappers/<lang>/bench.sh, when present, follow the same contract as the
        // C runner (environment in, one `ffi_us_per_step=<float>` line out).
        if let Some(w) = &env.wrappers {
            if let Ok(entries) = std::fs::read_dir(w) {
                let mut langs: Vec<PathBuf> =
                    entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
                langs.sort();
                for l in langs {
                    let script = l.join("bench.sh");
                    if script.is_file() {
                        let lang = l
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .to_string();
                        runners.push((lang, script));
                    }
                }
            }
        }
        // Rounds: the Rust-native run, then every runner, `runs` times; ratios are taken within
        // a round, so slow phases of a shared machine hit both sides of a ratio alike.
        // Per runner: steps, step ratios, direct calls, call ratios, failure.
        struct Runner {
            steps: Vec<f64>,
            step_ratios: Vec<f64>,
            calls: Vec<f64>,
            call_ratios: Vec<f64>,
            failed: Option<String>,
        }
        let mut rust: Vec<(f64, f64)> = Vec::new();
        let mut per_runner: Vec<Runner> = runners
            .iter()
            .map(|_| Runner {
                steps: Vec::new(),
                step_ratios: Vec::new(),
                calls: Vec::new(),
                call_ratios: Vec::new(),
                failed: None,
            })
            .collect();
        for round in 0..env.runs {
            progress(&format!("FFI round {}: Rust-native handler", round + 1));
            let (r_step, r_call) = ffi_rust(&env, 1)?[0];
            rust.push((r_step, r_call));
            for ((lang, program), st) in runners.iter().zip(per_runner.iter_mut()) {
                if st.failed.is_some() {
                    continue;
                }
                progress(&format!("FFI round {}: {lang}", round + 1));
                match ffi_external(&env, program, lang, 1) {
                    Ok(x) => {
                        st.steps.push(x[0].0);
                        st.step_ratios.push(x[0].0 / r_step);
                        if let Some(c) = x[0].1 {
                            st.calls.push(c);
                            st.call_ratios.push(c / r_call);
                        }
                    }
                    Err(e) => st.failed = Some(e.to_string()),
                }
            }
        }
        let rust_steps: Vec<f64> = rust.iter().map(|r| r.0).collect();
        let rust_calls: Vec<f64> = rust.iter().map(|r| r.1).collect();
        // The callback round trip alone (tasker_call_handler, no database): the FFI figure.
        rows.push(row(
            "handler call, 1 KB context, Rust-native (no database)",
            "-",
            "us/call",
            &rust_calls,
            "(baseline)".into(),
            String::new(),
        ));
        for ((lang, _), st) in runners.iter().zip(&per_runner) {
            if st.failed.is_some() || st.calls.len() != rust_calls.len() {
                continue;
            }
            let m = stat(&st.calls).median;
            rows.push(row(
                &format!("handler call, 1 KB context, {lang} via FFI (no database)"),
                "-",
                "us/call",
                &st.calls,
                format!(
                    "{:.1}x Rust ({:+.1} us)",
                    stat(&st.call_ratios).median,
                    m - stat(&rust_calls).median
                ),
                format!("< 1,000 us: {}", verdict(m < 1000.0)),
            ));
        }
        // Whole one-step tasks: the same handlers inside the engine, database included.
        rows.push(row(
            "one-step task, 1 KB context, Rust-native handler",
            "sqlite",
            "us/step",
            &rust_steps,
            "(baseline)".into(),
            String::new(),
        ));
        for ((lang, _), st) in runners.iter().zip(per_runner) {
            if let Some(e) = st.failed {
                eprintln!("FFI runner for {lang} failed, row skipped: {e}");
                continue;
            }
            let m = stat(&st.steps).median;
            rows.push(row(
                &format!("one-step task, 1 KB context, {lang} handler via FFI"),
                "sqlite",
                "us/step",
                &st.steps,
                format!(
                    "{:.2}x Rust ({:+.1} us)",
                    stat(&st.step_ratios).median,
                    m - stat(&rust_steps).median
                ),
                String::new(),
            ));
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("bench: scenario 'ffi' failed: {e}");
        failed.push("ffi");
    }
    let result = (|| -> Res<()> {
        if !(want("memory")) {
            return Ok(());
        }
        progress("memory, sqlite");
        let v = memory(&env, Backend::Sqlite)?;
        rows.push(row(
            &format!("peak RSS, worker process running {} tasks", memory_tasks()),
            "sqlite",
            "MB",
            &v,
            String::new(),
            String::new(),
        ));
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("bench: scenario 'memory' failed: {e}");
        failed.push("memory");
    }
    let result = (|| -> Res<()> {
        if !(want("dashboard")) {
            return Ok(());
        }
        let n = dashboard::tasks();
        for backend in backends.iter().copied() {
            for (page, ms) in dashboard::dashboard(&env, backend, &progress)? {
                let m = stat(&ms).median;
                let (what, budget) = if page == dashboard::OVERVIEW_READ {
                    (String::new(), "none (off the page)".to_string())
                } else {
                    ("GET ".to_string(), format!("< 100: {}", verdict(m < 100.0)))
                };
                rows.push(row(
                    &format!("dashboard {what}{page} ({} tasks)", fmt_count(n)),
                    backend.name(),
                    "ms",
                    &ms,
                    String::new(),
                    budget,
                ));
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("bench: scenario 'dashboard' failed: {e}");
        failed.push("dashboard");
    }
    let mut peer_lines: Vec<String> = Vec::new();
    let result = (|| -> Res<()> {
        if !(want("peers")) {
            return Ok(());
        }
        peer_lines = peers::peers(&env, args, &progress)?;
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("bench: scenario 'peers' failed: {e}");
        failed.push("peers");
    }
    progress("done");
    if !failed.is_empty() {
        eprintln!(
            "bench: scenarios that failed (rows missing): {}",
            failed.join(", ")
        );
    }
    println!();
    println!("libtasker bench: median of {runs} runs (min, max); PostgreSQL with fsync on, SQLite WAL + synchronous=NORMAL");
    print_table(&rows);
    if !peer_lines.is_empty() {
        println!();
        println!("libtasker vs peers: median of {runs} rounds (min–max), same PostgreSQL; ratio per round, then median");
        for l in &peer_lines {
            println!("{l}");
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} scenario(s) failed", failed.len()).into())
    }
}

fn main() {
    tasker::init_logging(); // TASKER_LOG=sqlx::query=debug lists every statement with its time
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some("mem") if argv.len() == 3 => match argv[2].parse() {
            Ok(n) => mem_worker(&argv[1], n),
            Err(e) => Err(format!("bad task count: {e}").into()),
        },
        Some("run") => {
            let mut args = BTreeMap::new();
            let mut it = argv[1..].iter();
            let mut bad = None;
            while let Some(k) = it.next() {
                match (k.strip_prefix("--"), it.next()) {
                    (Some(k), Some(v)) => {
                        args.insert(k.to_string(), v.clone());
                    }
                    _ => bad = Some(k.clone()),
                }
            }
            match bad {
                Some(k) => Err(format!("bad argument '{k}'").into()),
                None => run(&args),
            }
        }
        _ => Err("usage: bench run --pg URL --pg-bin DIR --dir DIR [--c-bench PATH] [--wrappers DIR] [--lib-dir DIR] [--runs N] [--only LIST] [--backends LIST] [--graphile DIR|skip:WHY] [--river BIN|skip:WHY] | bench mem URL TASKS".into()),
    };
    if let Err(e) = result {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}
