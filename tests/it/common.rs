//! Test harness: a throwaway PostgreSQL server (or TASKER_TEST_DATABASE_URL), fresh databases
//! per test on both backends, and scripted step handlers.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tasker::{Client, Clock, Config, StepContext, StepError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database; keeps its temporary directory alive.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

struct PgServer {
    admin_url: String,
}

static PG: OnceLock<Result<PgServer, String>> = OnceLock::new();
static STARTED_DIR: OnceLock<(PathBuf, PathBuf, bool)> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn is_root() -> bool {
    unsafe { libc::getuid() == 0 }
}

fn pg_bin(name: &str) -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let p = Path::new(&dir).join(name);
            if p.exists() {
                return p;
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("bin").join(name))
            .collect();
        dirs.sort();
        if let Some(p) = dirs.into_iter().rev().find(|p| p.exists()) {
            return p;
        }
    }
    PathBuf::from(name)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
fn run_pg(tool: &str, args: &[&str]) -> Result<(), String> {
    let bin = pg_bin(tool);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let out = cmd
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

extern "C" fn stop_pg_at_exit() {
    if let Some((dir, data, _)) = STARTED_DIR.get() {
        let _ = run_pg(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn start_pg() -> Result<PgServer, String> {
    if let Ok(url) = std::env::var("TASKER_TEST_DATABASE_URL") {
        return Ok(PgServer { admin_url: url });
    }
    let server = launch_pg(false, |dir, data| {
        let _ = STARTED_DIR.set((dir.to_path_buf(), data.to_path_buf(), true));
        unsafe {
            libc::atexit(stop_pg_at_exit);
        }
    })?;
    let admin_url = server.admin_url();
    // The shared server lives until exit (stop_pg_at_exit), not until this guard drops.
    std::mem::forget(server);
    Ok(PgServer { admin_url })
}

/// A throwaway PostgreSQL server of one test, which it may restart (the shared one must not be
/// disturbed); stopped and removed on drop.
pub struct OwnPg {
    dir: PathBuf,
    data: PathBuf,
    port: u16,
}

impl OwnPg {
    /// Always a server of its own, also when the suite shares TASKER_TEST_DATABASE_URL (as
    /// `make test` does); None only when that is set and no server can be started here.
    pub fn start() -> Option<OwnPg> {
        // Synchronous commits: an immediate restart is a crash, and must not lose acknowledged
        // commits (claims whose handlers already ran).
        match launch_pg(true, |_, _| {}) {
            Ok(pg) => Some(pg),
            Err(e) if std::env::var("TASKER_TEST_DATABASE_URL").is_ok() => {
                eprintln!("no PostgreSQL server of our own: {e}");
                None
            }
            Err(e) => panic!("PostgreSQL: {e}"),
        }
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A fresh database on this server.
    pub fn new_db(&self) -> String {
        create_pg_db(&self.admin_url())
    }

    /// `pg_ctl restart -m <mode>` (fast or immediate); the server keeps its port and options.
    pub fn restart(&self, mode: &str) {
        run_pg(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-l",
                &self.dir.join("log").to_string_lossy(),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "restart",
            ],
        )
        .unwrap_or_else(|e| panic!("restart PostgreSQL: {e}"));
    }
}

impl Drop for OwnPg {
    fn drop(&mut self) {
        let _ = run_pg(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// initdb + pg_ctl start in a new temporary directory; `created` runs between the two (the
/// shared server registers its cleanup there). Without `sync_commit` a crash may lose commits
/// already acknowledged (fast, for servers that are never crashed).
fn launch_pg(sync_commit: bool, created: impl FnOnce(&Path, &Path)) -> Result<OwnPg, String> {
    let dir = std::env::temp_dir().join(format!(
        "tasker-pg-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if is_root() {
        let st = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status();
        if !st.map(|s| s.success()).unwrap_or(false) {
            return Err("cannot chown the PostgreSQL directory to user postgres".into());
        }
    }
    let data = dir.join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    run_pg(
        "initdb",
        &[
            "-D",
            &data.to_string_lossy(),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )?;
    created(&dir, &data);
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit={} -c full_page_writes=off -c max_connections=300",
        dir.to_string_lossy(),
        if sync_commit { "on" } else { "off" }
    );
    run_pg(
        "pg_ctl",
        &[
            "-D",
            &data.to_string_lossy(),
            "-l",
            &dir.join("log").to_string_lossy(),
            "-o",
            &opts,
            "-w",
            "-t",
            "60",
            "start",
        ],
    )?;
    Ok(OwnPg { dir, data, port })
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// A fresh, empty database on `backend`.
pub fn new_db(backend: Backend) -> TestDb {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("tasker.db").display());
            TestDb {
                url,
                _dir: Some(dir),
            }
        }
        Backend::Postgres => {
            let server = PG
                .get_or_init(start_pg)
                .as_ref()
                .unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
            TestDb {
                url: create_pg_db(&server.admin_url),
                _dir: None,
            }
        }
    }
}

/// Creates a fresh database on the server of `admin_url`; returns its URL.
fn create_pg_db(admin_url: &str) -> String {
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        rand_suffix()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect admin");
        sqlx::Executor::execute(&mut c, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
    });
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap();
    format!("{base}/{name}")
}

/// A current-thread runtime and a `Store` connected on it (storage-level tests).
pub fn store_runtime(url: &str) -> (tokio::runtime::Runtime, tasker::testing::Store) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt
        .block_on(tasker::testing::Store::connect(
            url,
            4,
            std::time::Duration::from_secs(5),
        ))
        .unwrap();
    (rt, store)
}

/// One value of one query on its own PostgreSQL connection to `url`.
pub fn pg_scalar<T>(url: &str, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    })
}

/// Runs one statement on its own connection to `url` (either backend), e.g. to break the
/// schema under a running client.
pub fn exec_sql(url: &str, sql: &str) {
    try_exec_sql(url, sql).unwrap();
}

/// Runs one statement on its own connection to `url` (either backend); the database's error
/// as text when it refuses it.
pub fn try_exec_sql(url: &str, sql: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::{Connection, Executor};
        let done = if url.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            c.execute(sql).await.map(|_| ())
        } else {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            c.execute(sql).await.map(|_| ())
        };
        done.map_err(|e| e.to_string())
    })
}

/// Runs the ignored test `entry` (e.g. `concurrency::child_worker_entry`) as a child process of
/// this test binary, with `env` set; its stdout is dropped.
pub fn spawn_test_entry(entry: &str, env: &[(&str, String)]) -> std::process::Child {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        entry,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn child test process")
}

/// Runs `threads` workers of `c` until `stop_file` exists: the body of the worker processes
/// of multi-process tests.
pub fn run_workers_until(c: &Client, threads: usize, stop_file: &std::path::Path) {
    let stop = tasker::StopHandle::new();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || c.run_worker(&stop).unwrap())
        })
        .collect();
    while !stop_file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.stop();
    for w in workers {
        w.join().unwrap();
    }
}

/// Fast backoff and short polls so tests finish quickly.
pub fn fast_config() -> Config {
    Config {
        backoff: tasker::BackoffConfig {
            base_ms: 5,
            factor: 2.0,
            max_ms: 40,
            jitter: 0.0,
        },
        poll_interval_ms: 10,
        lease_check_interval_ms: 50,
        ..Config::default()
    }
}

pub fn client(backend: Backend) -> (Client, TestDb) {
    client_with(backend, fast_config(), None)
}

pub fn client_with(
    backend: Backend,
    config: Config,
    clock: Option<Arc<dyn Clock>>,
) -> (Client, TestDb) {
    let db = new_db(backend);
    let c = Client::connect_with(&db.url, config, clock).expect("connect");
    (c, db)
}

/// Which step ids each handler ran, and how often.
#[derive(Default, Clone)]
pub struct ExecLog(pub Arc<Mutex<Vec<(i64, String, i64)>>>);

impl ExecLog {
    pub fn record(&self, ctx: &StepContext) {
        self.0
            .lock()
            .unwrap()
            .push((ctx.step.step_id, ctx.step.name.clone(), ctx.step.attempt));
    }
    pub fn count_by_step(&self) -> HashMap<i64, usize> {
        let mut m = HashMap::new();
        for (id, _, _) in self.0.lock().unwrap().iter() {
            *m.entry(*id).or_insert(0) += 1;
        }
        m
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn value_of(v: &Value) -> i64 {
    v.get("value").and_then(|x| x.as_i64()).unwrap_or(0)
}

/// Registers the scripted handlers used across the suite:
/// - `square`: (sum of dependency values, or context.n at a root)^2, records its dependencies;
/// - `flaky`: fails `fail_times` attempts (handler_config), optionally with `retry_after`;
/// - `always_fail`, `permanent_fail`, `panic`, `sleep` (handler_config.ms).
pub fn register_handlers(c: &Client, log: &ExecLog) {
    let l = log.clone();
    c.register_fn("square", move |ctx| {
        l.record(ctx);
        let base: i64 = if ctx.dependency_results.is_empty() {
            ctx.task
                .context
                .get("n")
                .and_then(|n| n.as_i64())
                .unwrap_or(0)
        } else {
            ctx.dependency_results
                .values()
                .fold(0i64, |a, v| a.wrapping_add(value_of(v)))
        };
        let mut deps: Vec<&String> = ctx.dependency_results.keys().collect();
        deps.sort();
        Ok(json!({"value": base.wrapping_mul(base), "deps": deps}))
    })
    .unwrap();
    let l = log.clone();
    c.register_fn("flaky", move |ctx| {
        l.record(ctx);
        let fail_times = ctx
            .step
            .handler_config
            .get("fail_times")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        if ctx.step.attempt <= fail_times {
            let mut e =
                StepError::retryable(format!("flaky failure on attempt {}", ctx.step.attempt))
                    .with_class("FlakyError");
            if let Some(s) = ctx
                .step
                .handler_config
                .get("retry_after")
                .and_then(|v| v.as_f64())
            {
                e = e.retry_after(s);
            }
            return Err(e);
        }
        Ok(json!({"value": ctx.step.attempt, "succeeded_on": ctx.step.attempt}))
    })
    .unwrap();
    let l = log.clone();
    c.register_fn("always_fail", move |ctx| {
        l.record(ctx);
        Err(StepError::retryable("always fails").with_class("AlwaysFails"))
    })
    .unwrap();
    let l = log.clone();
    c.register_fn("permanent_fail", move |ctx| {
        l.record(ctx);
        Err(StepError::permanent("cannot ever work").with_class("InvalidCard"))
    })
    .unwrap();
    let l = log.clone();
    c.register_fn("panic", move |ctx| {
        l.record(ctx);
        panic!("handler exploded on purpose");
    })
    .unwrap();
    let l = log.clone();
    c.register_fn("sleep", move |ctx| {
        l.record(ctx);
        let ms = ctx
            .step
            .handler_config
            .get("ms")
            .and_then(|v| v.as_u64())
            .unwrap_or(10);
        std::thread::sleep(std::time::Duration::from_millis(ms));
        Ok(json!({"value": 1, "slept_ms": ms}))
    })
    .unwrap();
}

pub fn req(name: &str, context: Value) -> tasker::TaskRequest {
    tasker::TaskRequest {
        name: name.into(),
        context,
        ..Default::default()
    }
}

/// Creates a task of template `name` in namespace "tests" per `i` of `ns`, context `{"n": i}`.
pub fn create_tests_tasks(c: &Client, name: &str, ns: std::ops::Range<usize>) {
    for i in ns {
        c.create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req(name, json!({ "n": i }))
        })
        .unwrap();
    }
}

pub const LINEAR: &str = r#"
name: linear
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: a, handler: square}
  - {name: b, handler: square, depends_on_step: a}
  - {name: c, handler: square, depends_on_step: b}
  - {name: d, handler: square, depends_on_step: c}
"#;

pub const DIAMOND: &str = r#"
name: diamond
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: a, handler: square}
  - {name: b, handler: square, depends_on_step: a}
  - {name: c, handler: square, depends_on_step: a}
  - {name: d, handler: square, depends_on_steps: [b, c]}
"#;

pub const TREE: &str = r#"
name: tree
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: root, handler: square}
  - {name: l, handler: square, depends_on_step: root}
  - {name: r, handler: square, depends_on_step: root}
  - {name: ll, handler: square, depends_on_step: l}
  - {name: lr, handler: square, depends_on_step: l}
  - {name: rl, handler: square, depends_on_step: r}
  - {name: rr, handler: square, depends_on_step: r}
  - {name: final, handler: square, depends_on_steps: [ll, lr, rl, rr]}
"#;

pub const MIXED: &str = r#"
name: mixed
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: init, handler: square}
  - {name: side, handler: square}
  - {name: p1, handler: square, depends_on_step: init}
  - {name: p2, handler: square, depends_on_steps: [init, side]}
  - {name: p3, handler: square, depends_on_step: p1}
  - {name: join, handler: square, depends_on_steps: [p2, p3]}
  - {name: tail, handler: square, depends_on_steps: [join, side]}
"#;

/// Checks every transition history of a task: starts from nothing, chains from_state to the
/// previous to_state, uses only legal transitions, has exactly one most_recent row (the last),
/// and ends in the entity's current state.
pub fn assert_history_legal(view: &tasker::TaskView) {
    use tasker::testing::{allowed, Entity};
    let check =
        |what: &str, entity: Entity, ts: &[tasker::TransitionView], current: tasker::State| {
            assert!(!ts.is_empty(), "{what}: no transitions");
            assert_eq!(
                ts[0].from_state, None,
                "{what}: first transition has a from_state"
            );
            for w in ts.windows(2) {
                assert_eq!(
                    w[1].from_state,
                    Some(w[0].to_state),
                    "{what}: broken chain {ts:?}"
                );
                assert!(
                    w[1].sort_key > w[0].sort_key,
                    "{what}: sort keys not increasing"
                );
                assert!(
                    allowed(entity, w[0].to_state, w[1].to_state),
                    "{what}: illegal {} -> {}",
                    w[0].to_state,
                    w[1].to_state
                );
            }
            let recent: Vec<_> = ts.iter().filter(|t| t.most_recent).collect();
            assert_eq!(recent.len(), 1, "{what}: {} most_recent rows", recent.len());
            assert!(
                ts.last().unwrap().most_recent,
                "{what}: most_recent is not the last row"
            );
            assert_eq!(
                ts.last().unwrap().to_state,
                current,
                "{what}: history does not end in current state"
            );
        };
    check(
        &format!("task {}", view.task_id),
        Entity::Task,
        &view.transitions,
        view.state,
    );
    for s in &view.steps {
        check(
            &format!("step {}", s.name),
            Entity::Step,
            &s.transitions,
            s.state,
        );
    }
}

macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn sqlite() {
                ($body)($crate::common::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                ($body)($crate::common::Backend::Postgres)
            }
        }
    };
}
pub(crate) use both_backends;
