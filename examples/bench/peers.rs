//! `bench run --only peers`: libtasker beside graphile-worker and River on the same PostgreSQL,
//! in the same run. docs/PERFORMANCE.md ("Peers") gives the method; in short:
//!
//! * throughput: `peers_jobs()` one-step no-op jobs enqueued before the clock (each run gets a
//!   copy, `CREATE DATABASE .. TEMPLATE`, of a database set up once per system), then one
//!   process with 1 or 4 concurrent workers, "defaults" or "batching", until every job is
//!   known to be committed complete, or `peers_cap_s()` seconds (then the rate is what
//!   completed in that time, and the cell says so);
//! * per job, around that worker session: commits and rows written (`pg_stat_database`),
//!   statements (`pg_stat_statements`) and WAL bytes (`pg_current_wal_lsn()`), read from the
//!   admin database so that the probe's own statements are not counted;
//! * latency: one idle worker (defaults, 1 worker) in the creator's process; create a task (or
//!   insert a job), wait until it (or the last job of a chain of 4) is committed complete.
//!
//! Each round runs libtasker, graphile-worker and River back to back; ratios are per round.

use super::{quantile, stat, Backend, Env, Res, Stat};
use serde_json::json;
use sqlx::{Connection, Executor, Row};
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tasker::{Client, Config, StopHandle};

fn peers_jobs() -> usize {
    super::env_usize("BENCH_PEERS_JOBS", 10_000)
}
fn peers_cap_s() -> usize {
    super::env_usize("BENCH_PEERS_CAP_S", 8)
}
fn peers_latency_samples() -> usize {
    super::env_usize("BENCH_PEERS_LATENCY_SAMPLES", 200)
}
/// A latency phase stops after its samples or this many seconds (at least 5 samples).
fn peers_latency_cap_s() -> usize {
    super::env_usize("BENCH_PEERS_LATENCY_CAP_S", 3)
}
const LATENCY_WARM: usize = 10;

/// `BENCH_PEERS_RUN`: the phases to run, comma-separated among `1w-defaults`, `4w-defaults`,
/// `1w-batching`, `4w-batching`, `lat1`, `lat4` (default: all). A phase not run says n/a in
/// the table. A knob for measuring one row, not for the published table.
fn peers_phase(key: &str) -> bool {
    match std::env::var("BENCH_PEERS_RUN") {
        Ok(v) if !v.trim().is_empty() => v.split(',').any(|p| p.trim() == key),
        _ => true,
    }
}

/// `BENCH_PEERS_PROFILE=1`: after each throughput run, print where its time went (see
/// `Profile`) to stderr.
fn peers_profile() -> bool {
    super::env_usize("BENCH_PEERS_PROFILE", 0) > 0
}

/// CPU time (µs) of this process and of the PostgreSQL server (the postmaster with its reaped
/// children, plus its live children), from /proc; Linux only (zeros elsewhere).
#[derive(Clone, Copy, Default)]
struct CpuSnapshot {
    bench_user: f64,
    bench_sys: f64,
    /// Waited-for children of this process (a peer's `work` program, once it exited).
    children: f64,
    server: f64,
}

/// Fields after the command name of /proc/PID/stat (index 0 = state, 1 = ppid, 11 = utime,
/// 12 = stime, 13 = cutime, 14 = cstime).
fn proc_stat(pid: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

impl CpuSnapshot {
    /// Everything counted: the cores the measured work cost.
    fn total(&self) -> f64 {
        self.bench_user + self.bench_sys + self.children + self.server
    }
}

fn cpu_snapshot(postmaster: u64) -> CpuSnapshot {
    // /proc times are in clock ticks (USER_HZ, 100 on Linux).
    let tick = 1e6 / 100.0;
    let mut out = CpuSnapshot::default();
    if let Some(f) = proc_stat("self").filter(|f| f.len() > 14) {
        out.bench_user = f[11] as f64 * tick;
        out.bench_sys = f[12] as f64 * tick;
        out.children = (f[13] + f[14]) as f64 * tick;
    }
    if let Some(f) = proc_stat(&postmaster.to_string()).filter(|f| f.len() > 14) {
        out.server = (f[11] + f[12] + f[13] + f[14]) as f64 * tick;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some(f) = proc_stat(&name).filter(|f| f.len() > 14 && f[1] == postmaster) {
            out.server += (f[11] + f[12]) as f64 * tick;
        }
    }
    out
}

/// The postmaster's pid (the parent of an admin backend).
fn postmaster_pid(env: &Env) -> Res<u64> {
    let admin = env.pg_admin.clone();
    let pid: i32 = env.rt.block_on(async move {
        let mut c = sqlx::PgConnection::connect(&admin).await?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut c)
            .await?;
        c.close().await?;
        Ok::<_, sqlx::Error>(pid)
    })?;
    Ok(proc_stat(&pid.to_string())
        .and_then(|f| f.get(1).copied())
        .unwrap_or(0))
}

/// A statement's pg_stat_statements figures.
struct StatementTime {
    /// The normalised text's first 60 characters.
    query: String,
    calls: i64,
    exec_ms: f64,
    plan_ms: f64,
    plans: i64,
    rows: i64,
    /// Shared blocks hit + read.
    blocks: i64,
    wal_records: i64,
}

/// The statements of `db` by total execution time.
fn top_statements(env: &Env, db: &str) -> Res<Vec<StatementTime>> {
    let admin = env.pg_admin.clone();
    let db = db.to_string();
    Ok(env.rt.block_on(async move {
        let mut c = sqlx::PgConnection::connect(&admin).await?;
        let rows = sqlx::query(
            "SELECT left(regexp_replace(s.query, '\\s+', ' ', 'g'), 60) AS query, s.calls, \
             s.total_exec_time AS exec_ms, s.total_plan_time AS plan_ms, s.plans, s.rows, \
             s.shared_blks_hit + s.shared_blks_read AS blocks, s.wal_records \
             FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
             WHERE d.datname = $1 ORDER BY s.total_exec_time DESC LIMIT 8",
        )
        .bind(&db)
        .fetch_all(&mut c)
        .await?;
        c.close().await?;
        rows.iter()
            .map(|r| {
                Ok(StatementTime {
                    query: r.try_get("query")?,
                    calls: r.try_get("calls")?,
                    exec_ms: r.try_get("exec_ms")?,
                    plan_ms: r.try_get("plan_ms")?,
                    plans: r.try_get("plans")?,
                    rows: r.try_get("rows")?,
                    blocks: r.try_get("blocks")?,
                    wal_records: r.try_get("wal_records")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
    })?)
}

/// Prints one throughput run's time per job: wall, this process's CPU (the workers, the
/// runtime, the waiting main thread), a peer program's CPU (its process, counted once it
/// exited), the server's CPU, their sum (the cores a job costs: the figure to compare across
/// systems on a shared machine), and per statement its execution and planning time, blocks and
/// WAL records per returned row (pg_stat_statements; planning is counted only with
/// `pg_stat_statements.track_planning` on).
fn print_profile(
    label: &str,
    jobs: f64,
    secs: f64,
    cpu: (CpuSnapshot, CpuSnapshot),
    top: &[StatementTime],
) {
    let (a, b) = cpu;
    eprintln!(
        "profile {label}: {jobs} jobs, wall {:.1} us/job; bench CPU {:.1} us/job (user {:.1}, sys {:.1}); \
         peer process CPU {:.1} us/job; server CPU {:.1} us/job; client + server {:.1} us/job",
        secs * 1e6 / jobs,
        (b.bench_user + b.bench_sys - a.bench_user - a.bench_sys) / jobs,
        (b.bench_user - a.bench_user) / jobs,
        (b.bench_sys - a.bench_sys) / jobs,
        (b.children - a.children) / jobs,
        (b.server - a.server) / jobs,
        (b.total() - a.total()) / jobs,
    );
    for t in top {
        // Per returned row: independent of the machine's load (round 15, PERFORMANCE.md).
        let per_row = |x: i64| x as f64 / t.rows.max(1) as f64;
        eprintln!(
            "profile {label}:   calls {:>5} exec {:>6.1} us/job ({:.3} ms/call) plan {:>5.1} us/job ({} plans) \
             rows {:>6} blocks/row {:>5.1} WAL records/row {:>5.1} | {}",
            t.calls,
            t.exec_ms * 1e3 / jobs,
            t.exec_ms / t.calls.max(1) as f64,
            t.plan_ms * 1e3 / jobs,
            t.plans,
            t.rows,
            per_row(t.blocks),
            per_row(t.wal_records),
            t.query,
        );
    }
}
/// libtasker's batch setting in the "batching" rows (`Config::claim_batch`), overridable
/// with `BENCH_PEERS_TASKER_BATCH` (for measuring the setting; the table's rows use 50).
fn tasker_batch() -> u32 {
    u32::try_from(super::env_usize("BENCH_PEERS_TASKER_BATCH", 50)).unwrap_or(50)
}
const CONFIGS: [(usize, &str); 4] = [
    (1, "defaults"),
    (4, "defaults"),
    (1, "batching"),
    (4, "batching"),
];

/// One system of the comparison: libtasker in this process, or a peer program.
struct System {
    name: &'static str,
    /// The peer's command line before its own arguments (none for libtasker).
    cmd: Vec<String>,
    /// Why the system's rows say "skipped".
    skipped: Option<String>,
    /// Database with `peers_jobs()` pending jobs, cloned for every throughput run.
    template: Option<String>,
}

impl System {
    /// For database names.
    fn label(&self) -> String {
        self.name
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    }
}

/// `--graphile DIR` (holding peer.js and node_modules) / `--river BIN`, or `skip:<why>`.
fn peer_system(name: &'static str, arg: Option<&String>, node: bool) -> System {
    let mut s = System {
        name,
        cmd: Vec::new(),
        skipped: None,
        template: None,
    };
    match arg {
        None => s.skipped = Some("not built (run through scripts/bench.sh)".into()),
        Some(a) => match a.strip_prefix("skip:") {
            Some(why) => s.skipped = Some(why.to_string()),
            None if node => s.cmd = vec!["node".into(), format!("{a}/peer.js")],
            None => s.cmd = vec![a.clone()],
        },
    }
    s
}

/// Counters of one database (and the server's WAL position), from the admin database.
#[derive(Clone, Copy, Default)]
struct Counters {
    commits: f64,
    rows: f64,
    statements: f64,
    wal: f64,
}

fn db_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or_default().to_string()
}

/// Waits until no client backend is connected to `db` (a backend's statistics are flushed when
/// it exits; while idle it may hold them for up to 10 s), then reads the counters.
fn counters(env: &Env, db: &str) -> Res<Counters> {
    let admin = env.pg_admin.clone();
    let db = db.to_string();
    let c = env.rt.block_on(async move {
        let mut c = sqlx::PgConnection::connect(&admin).await?;
        let t0 = Instant::now();
        loop {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
            )
            .bind(&db)
            .fetch_one(&mut c)
            .await?;
            if n == 0 || t0.elapsed() > Duration::from_secs(15) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The exiting backend leaves pg_stat_activity just before its last flush.
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Without pg_stat_statements (not preloaded) the statement count is NaN ("n/a").
        let sql = |statements: &str| {
            format!(
                "SELECT d.xact_commit::float8, (d.tup_inserted + d.tup_updated + d.tup_deleted)::float8, \
                   {statements}, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 \
                 FROM pg_stat_database d WHERE d.datname = $1"
            )
        };
        let full = sql("(SELECT coalesce(sum(s.calls), 0)::float8 FROM pg_stat_statements s WHERE s.dbid = d.datid)");
        let r = match sqlx::query(&full).bind(&db).fetch_one(&mut c).await {
            Ok(r) => r,
            Err(_) => {
                sqlx::query(&sql("'NaN'::float8"))
                    .bind(&db)
                    .fetch_one(&mut c)
                    .await?
            }
        };
        c.close().await?;
        Ok::<_, sqlx::Error>(Counters {
            commits: r.get(0),
            rows: r.get(1),
            statements: r.get(2),
            wal: r.get(3),
        })
    })?;
    Ok(c)
}

fn admin_exec(env: &Env, sql: String) -> Res<()> {
    let admin = env.pg_admin.clone();
    env.rt.block_on(async move {
        let mut c = sqlx::PgConnection::connect(&admin).await?;
        c.execute(sql.as_str()).await?;
        c.close().await
    })?;
    Ok(())
}

/// A copy of `template` (which must have no connections) as a new database.
fn clone_db(env: &Env, template: &str, label: &str) -> Res<String> {
    let url = env.fresh_db(Backend::Postgres, label)?;
    let name = db_name(&url);
    counters(env, &db_name(template))?; // waits for the template's sessions to end
    admin_exec(env, format!("DROP DATABASE {name}"))?;
    admin_exec(
        env,
        format!("CREATE DATABASE {name} TEMPLATE {}", db_name(template)),
    )?;
    Ok(url)
}

/// Runs a peer program; returns its `key=value` lines.
fn run_peer(sys: &System, url: &str, args: &[String]) -> Res<BTreeMap<String, String>> {
    let out = Command::new(&sys.cmd[0])
        .args(&sys.cmd[1..])
        .args(args)
        .env("PEER_URL", url)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        return Err(format!(
            "{} {} failed ({}): {}",
            sys.name,
            args.join(" "),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        )
        .into());
    }
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// A client with the defaults, or with `claim_batch` = `batch` (the "batching" rows).
fn tasker_client(url: &str, batch: Option<u32>) -> Res<Client> {
    let mut config = Config::default();
    if let Some(batch) = batch {
        config.claim_batch = batch;
    }
    let client = Client::connect_with(url, config, None)?;
    client.register_template_value(super::parallel_template("one", 1))?;
    client.register_template_yaml(
        "name: chain\nnamespace_name: bench\nversion: 1.0.0\nstep_templates:\n\
         - {name: a, handler: noop}\n\
         - {name: b, handler: noop, depends_on_step: a}\n\
         - {name: c, handler: noop, depends_on_step: b}\n\
         - {name: d, handler: noop, depends_on_step: c}\n",
    )?;
    client.register_fn("noop", |_| Ok(json!({})))?;
    Ok(client)
}

/// The database every throughput run of `sys` is cloned from: `peers_jobs()` pending jobs.
fn make_template(env: &Env, sys: &System) -> Res<String> {
    let url = env.fresh_db(
        Backend::Postgres,
        &format!("peers_{}_template", sys.label()),
    )?;
    let n = peers_jobs();
    if sys.cmd.is_empty() {
        let client = tasker_client(&url, None)?;
        // Four creating threads: this is set-up, not measured.
        std::thread::scope(|s| -> Res<()> {
            let hs: Vec<_> = (0..4)
                .map(|t| {
                    let c = client.clone();
                    s.spawn(move || -> Result<(), String> {
                        for i in (t..n).step_by(4) {
                            c.create_task(&super::req("one", json!({ "i": i })))
                                .map_err(|e| e.to_string())?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in hs {
                h.join().map_err(|_| "creator panicked")??;
            }
            Ok(())
        })?;
    } else {
        run_peer(sys, &url, &["setup".into(), n.to_string()])?;
    }
    // Planner statistics and a visibility map for every system's tables, as a database in
    // service has them; otherwise autovacuum's timing would decide each run's plans.
    let u = url.clone();
    env.rt.block_on(async move {
        let mut c = sqlx::PgConnection::connect(&u).await?;
        c.execute("VACUUM ANALYZE").await?;
        c.close().await
    })?;
    Ok(url)
}

/// libtasker's throughput run: (jobs completed, seconds until the last `task.completed`).
fn tasker_work(url: &str, workers: usize, batching: bool, n: usize) -> Res<(f64, f64)> {
    let client = tasker_client(url, batching.then_some(tasker_batch()))?;
    let done = Arc::new(AtomicU64::new(0));
    let d = done.clone();
    // The last completion wakes the waiting thread (as the peers' programs wait on their
    // events): a polling loop here cost the two cores thousands of wake-ups a second.
    let (all_done, finished) = mpsc::channel::<()>();
    client.subscribe_fn(&["task.completed"], move |_| {
        if d.fetch_add(1, Ordering::SeqCst) + 1 == n as u64 {
            let _ = all_done.send(());
        }
    });
    let stop = StopHandle::new();
    let cap = Duration::from_secs(peers_cap_s() as u64);
    let start = Instant::now();
    let hs: Vec<_> = (0..workers)
        .map(|_| {
            let (c, s) = (client.clone(), stop.clone());
            std::thread::spawn(move || c.run_worker(&s))
        })
        .collect();
    // Err: the cap passed first (the run is reported as capped).
    let _ = finished.recv_timeout(cap);
    // Events are published after commit: the last one is the end of the run.
    let (counted, elapsed) = (done.load(Ordering::SeqCst), start.elapsed());
    stop.stop();
    for h in hs {
        h.join().map_err(|_| "worker panicked")??;
    }
    Ok((counted as f64, elapsed.as_secs_f64()))
}

/// libtasker latency: one idle `run_worker` thread (defaults); create -> `task.completed`.
fn tasker_latency(url: &str, steps: usize) -> Res<Vec<f64>> {
    let client = tasker_client(url, None)?;
    let (tx, rx) = mpsc::channel::<i64>();
    client.subscribe_fn(&["task.completed"], move |e| {
        let _ = tx.send(e.task_id);
    });
    let stop = StopHandle::new();
    let (c, s) = (client.clone(), stop.clone());
    let worker = std::thread::spawn(move || c.run_worker(&s));
    let template = if steps == 1 { "one" } else { "chain" };
    let mut out = Vec::new();
    let cap = Duration::from_secs(peers_latency_cap_s() as u64);
    let began = Instant::now();
    let result = (|| -> Res<()> {
        for i in 0..peers_latency_samples() + LATENCY_WARM {
            if began.elapsed() >= cap && out.len() >= 5 {
                break;
            }
            let t0 = Instant::now();
            let id = client
                .create_task(&super::req(template, json!({ "i": i })))?
                .task_id;
            loop {
                if rx.recv_timeout(Duration::from_secs(30))? == id {
                    break;
                }
            }
            if i >= LATENCY_WARM {
                out.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        Ok(())
    })();
    stop.stop();
    worker.join().map_err(|_| "worker panicked")??;
    result.map(|_| out)
}

/// Figures of one system in one round, by key ("tp 1w defaults", "pj commits 1w defaults", ...).
type Figures = BTreeMap<String, f64>;

fn throughput_run(env: &Env, sys: &System, workers: usize, mode: &str, f: &mut Figures) -> Res<()> {
    let n = peers_jobs();
    let template = sys.template.as_ref().ok_or("no template database")?;
    let url = clone_db(env, template, &format!("peers_{}", sys.label()))?;
    let db = db_name(&url);
    let result = (|| -> Res<()> {
        admin_exec(env, "CHECKPOINT".into())?;
        let profile = peers_profile();
        let postmaster = if profile {
            admin_exec(env, "SELECT pg_stat_statements_reset()".into())?;
            postmaster_pid(env)?
        } else {
            0
        };
        let c0 = counters(env, &db)?;
        let cpu0 = cpu_snapshot(postmaster);
        let (jobs, secs) = if sys.cmd.is_empty() {
            tasker_work(&url, workers, mode == "batching", n)?
        } else {
            let kv = run_peer(
                sys,
                &url,
                &[
                    "work".into(),
                    workers.to_string(),
                    mode.into(),
                    n.to_string(),
                    peers_cap_s().to_string(),
                ],
            )?;
            let get = |k: &str| -> Res<f64> {
                Ok(kv
                    .get(k)
                    .and_then(|v| v.parse().ok())
                    .ok_or(format!("{} printed no {k}=", sys.name))?)
            };
            (get("jobs")?, get("elapsed_s")?)
        };
        let c1 = counters(env, &db)?;
        if profile {
            let cpu1 = cpu_snapshot(postmaster);
            let label = format!("{} {workers}w {mode}", sys.name);
            print_profile(&label, jobs, secs, (cpu0, cpu1), &top_statements(env, &db)?);
        }
        if jobs < 1.0 {
            return Err(format!("{} completed no job in {secs:.1} s", sys.name).into());
        }
        let key = format!("{workers}w {mode}");
        f.insert(format!("tp {key}"), jobs / secs);
        f.insert(
            format!("capped {key}"),
            if jobs < n as f64 { 1.0 } else { 0.0 },
        );
        f.insert(
            format!("pj commits {key}"),
            (c1.commits - c0.commits) / jobs,
        );
        f.insert(
            format!("pj statements {key}"),
            (c1.statements - c0.statements) / jobs,
        );
        f.insert(format!("pj rows {key}"), (c1.rows - c0.rows) / jobs);
        f.insert(format!("pj wal {key}"), (c1.wal - c0.wal) / jobs);
        Ok(())
    })();
    env.drop_db(&url);
    result
}

fn latency_run(env: &Env, sys: &System, steps: usize, f: &mut Figures) -> Res<()> {
    let url = env.fresh_db(Backend::Postgres, &format!("peers_{}_latency", sys.label()))?;
    let result = (|| -> Res<Vec<f64>> {
        if sys.cmd.is_empty() {
            return tasker_latency(&url, steps);
        }
        run_peer(sys, &url, &["setup".into(), "0".into()])?;
        let kv = run_peer(
            sys,
            &url,
            &[
                "latency".into(),
                steps.to_string(),
                peers_latency_samples().to_string(),
                LATENCY_WARM.to_string(),
                peers_latency_cap_s().to_string(),
            ],
        )?;
        let s: Vec<f64> = kv
            .get("samples_ms")
            .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default();
        if s.len() < 5 {
            return Err(format!("{} printed {} latency samples", sys.name, s.len()).into());
        }
        Ok(s)
    })();
    env.drop_db(&url);
    let s = result?;
    f.insert(format!("n lat{steps} p50"), s.len() as f64);
    f.insert(format!("n lat{steps} p99"), s.len() as f64);
    f.insert(format!("lat{steps} p50"), quantile(&s, 0.5));
    f.insert(format!("lat{steps} p99"), quantile(&s, 0.99));
    Ok(())
}

/// Runs the comparison; returns the lines of its table section.
pub(super) fn peers(
    env: &Env,
    args: &BTreeMap<String, String>,
    progress: &dyn Fn(&str),
) -> Res<Vec<String>> {
    let mut systems = vec![
        System {
            name: "libtasker",
            cmd: Vec::new(),
            skipped: None,
            template: None,
        },
        peer_system("graphile-worker", args.get("graphile"), true),
        peer_system("River", args.get("river"), false),
    ];
    let pgss = admin_exec(
        env,
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements".into(),
    )
    .is_ok();
    for sys in systems.iter_mut().filter(|s| s.skipped.is_none()) {
        progress(&format!(
            "peers: setting up {} ({} jobs)",
            sys.name,
            peers_jobs()
        ));
        match make_template(env, sys) {
            Ok(url) => sys.template = Some(url),
            Err(e) => sys.skipped = Some(format!("set-up failed: {e}")),
        }
    }
    let mut rounds: Vec<Vec<Option<Figures>>> = Vec::new();
    for round in 0..env.runs {
        let mut this = Vec::new();
        for sys in systems.iter_mut() {
            if sys.skipped.is_some() {
                this.push(None);
                continue;
            }
            progress(&format!("peers round {}: {}", round + 1, sys.name));
            let mut f = Figures::new();
            let r = (|| -> Res<()> {
                for (w, mode) in CONFIGS {
                    if peers_phase(&format!("{w}w-{mode}")) {
                        throughput_run(env, sys, w, mode, &mut f)?;
                    }
                }
                for steps in [1, 4] {
                    if peers_phase(&format!("lat{steps}")) {
                        latency_run(env, sys, steps, &mut f)?;
                    }
                }
                Ok(())
            })();
            match r {
                Ok(()) => this.push(Some(f)),
                Err(e) => {
                    eprintln!("bench: peers: {} failed: {e}", sys.name);
                    sys.skipped = Some(format!("failed: {e}"));
                    this.push(None);
                }
            }
        }
        rounds.push(this);
    }
    for sys in &systems {
        if let Some(t) = &sys.template {
            env.drop_db(t);
        }
    }
    Ok(table(&systems, &rounds, pgss))
}

fn cell(s: Stat, unit: &str) -> String {
    let f = |v: f64| {
        if unit == "B" || v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    };
    format!("{} ({}–{})", f(s.median), f(s.min), f(s.max))
}

fn table(systems: &[System], rounds: &[Vec<Option<Figures>>], pgss: bool) -> Vec<String> {
    // (label, key, unit, higher is better)
    let mut rows: Vec<(String, String, &str, bool)> = Vec::new();
    for (w, mode) in CONFIGS {
        rows.push((
            format!("throughput, {w} worker(s), {mode}"),
            format!("tp {w}w {mode}"),
            "jobs/s",
            true,
        ));
    }
    for steps in [1, 4] {
        for p in ["p50", "p99"] {
            rows.push((
                format!("latency {steps}-step {}", p.to_uppercase()),
                format!("lat{steps} {p}"),
                "ms",
                false,
            ));
        }
    }
    for key in ["1w defaults", "4w batching"] {
        for (what, unit) in [
            ("commits", "/job"),
            ("statements", "/job"),
            ("rows", "/job"),
            ("wal", "B"),
        ] {
            let label = if what == "wal" { "WAL bytes" } else { what };
            rows.push((
                format!("per job at {key}: {label}"),
                format!("pj {what} {key}"),
                unit,
                false,
            ));
        }
    }
    let n_sys = systems.len();
    let mut header = vec!["figure".to_string(), "unit".to_string()];
    header.extend(systems.iter().map(|s| s.name.to_string()));
    header.push("libtasker ÷ best peer".into());
    let mut cells: Vec<Vec<String>> = Vec::new();
    for (label, key, unit, higher) in &rows {
        let mut line = vec![label.clone(), unit.to_string()];
        for (i, sys) in systems.iter().enumerate() {
            let v: Vec<f64> = rounds
                .iter()
                .filter_map(|r| r[i].as_ref().and_then(|f| f.get(key)).copied())
                .collect();
            let capped = rounds.iter().any(|r| {
                r[i].as_ref()
                    .and_then(|f| f.get(&key.replace("tp ", "capped ")))
                    == Some(&1.0)
            });
            line.push(if let Some(why) = &sys.skipped {
                let short: String = why.chars().take(40).collect();
                format!("skipped: {short}{}", if short != *why { "…" } else { "" })
            } else if v.len() != rounds.len() || (key.contains("statements") && !pgss) {
                "n/a".into()
            } else if capped {
                format!("{} *", cell(stat(&v), unit))
            } else if let Some(n) = rounds
                .iter()
                .filter_map(|r| r[i].as_ref()?.get(&format!("n {key}")).copied())
                .reduce(f64::min)
                .filter(|n| *n < peers_latency_samples() as f64)
            {
                format!("{} (n≥{n})", cell(stat(&v), unit))
            } else {
                cell(stat(&v), unit)
            });
        }
        // Per round: libtasker ÷ the best peer of that round; then the median.
        let ratios: Vec<f64> = rounds
            .iter()
            .filter_map(|r| {
                let own = r[0].as_ref()?.get(key).copied()?;
                let peers = (1..n_sys).filter_map(|i| r[i].as_ref()?.get(key).copied());
                let best = if *higher {
                    peers.fold(f64::NAN, f64::max)
                } else {
                    peers.fold(f64::NAN, f64::min)
                };
                (best.is_finite() && best > 0.0).then(|| own / best)
            })
            .collect();
        line.push(
            if ratios.is_empty() || (key.contains("statements") && !pgss) {
                "-".into()
            } else {
                format!("{:.2}", stat(&ratios).median)
            },
        );
        cells.push(line);
    }
    let mut w = vec![0; header.len()];
    for l in std::iter::once(&header).chain(&cells) {
        for (i, s) in l.iter().enumerate() {
            w[i] = w[i].max(s.chars().count());
        }
    }
    let fmt = |l: &[String]| {
        let mut s = String::from("|");
        for (i, x) in l.iter().enumerate() {
            s += &format!(" {x}{} |", " ".repeat(w[i] - x.chars().count()));
        }
        s
    };
    let mut out = vec![fmt(&header)];
    out.push(format!(
        "|{}",
        w.iter()
            .map(|n| format!(":{}|", "-".repeat(n + 1)))
            .collect::<String>()
    ));
    out.extend(cells.iter().map(|l| fmt(l)));
    out.push(format!(
        "* capped: stopped at {} s (BENCH_PEERS_CAP_S) before all {} jobs were complete; rate = jobs completed ÷ time",
        peers_cap_s(),
        peers_jobs()
    ));
    out.push(format!(
        "n≥K: the latency phase stopped at {} s (BENCH_PEERS_LATENCY_CAP_S) with K samples instead of {}",
        peers_latency_cap_s(),
        peers_latency_samples()
    ));
    for sys in systems {
        if let Some(why) = &sys.skipped {
            out.push(format!("{} skipped: {why}", sys.name));
        }
    }
    out
}
