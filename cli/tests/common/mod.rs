//! Harness of the CLI tests: a fresh database per test on SQLite and PostgreSQL (the server of
//! TASKER_TEST_DATABASE_URL, which `make test` starts, or one started here with
//! scripts/pg-test-server.sh and stopped at exit), a workflow in it made through the library,
//! and the `tasker` binary run against it.

#![allow(dead_code)] // each test file uses its own part

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use tasker::{Client, StepError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// One test's database; keeps its SQLite directory alive.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

static PG_ADMIN: OnceLock<Result<String, String>> = OnceLock::new();
static PG_DIR: OnceLock<PathBuf> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

extern "C" fn stop_pg_at_exit() {
    if let Some(dir) = PG_DIR.get() {
        let _ = Command::new(repo_root().join("scripts/pg-test-server.sh"))
            .arg("stop")
            .arg(dir)
            .output();
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn pg_admin_url() -> &'static str {
    let url = PG_ADMIN.get_or_init(|| {
        if let Ok(url) = std::env::var("TASKER_TEST_DATABASE_URL") {
            return Ok(url);
        }
        let dir = std::env::temp_dir().join(format!("tasker-cli-pg-{}", std::process::id()));
        let out = Command::new(repo_root().join("scripts/pg-test-server.sh"))
            .arg("start")
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run scripts/pg-test-server.sh: {e}"))?;
        let _ = PG_DIR.set(dir);
        // SAFETY: registers a plain extern "C" function with no arguments.
        unsafe {
            libc::atexit(stop_pg_at_exit);
        }
        if !out.status.success() {
            return Err(format!(
                "cannot start PostgreSQL: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    match url {
        Ok(u) => u,
        Err(e) => panic!("{e}"),
    }
}

pub fn fresh_db(backend: Backend) -> TestDb {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let url = format!("sqlite://{}", dir.path().join("tasker.db").display());
            TestDb {
                url,
                backend,
                _dir: Some(dir),
            }
        }
        Backend::Postgres => {
            let admin = pg_admin_url();
            let name = format!("tasker_cli_{}_{n}", std::process::id());
            let out = Command::new("psql")
                .args([admin, "-qc", &format!("CREATE DATABASE {name}")])
                .output()
                .expect("psql runs");
            assert!(
                out.status.success(),
                "CREATE DATABASE failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
            TestDb {
                url: format!("{base}/{name}"),
                backend,
                _dir: None,
            }
        }
    }
}

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as one JSON document (fails the test otherwise).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// The `--json` error document on stderr.
    pub fn error(&self) -> Value {
        let doc: Value = serde_json::from_str(&self.stderr)
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {self:?}"));
        doc["error"].clone()
    }

    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "tasker failed: {self:?}");
        self
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The binary with the database from TASKER_DATABASE_URL (as an operator's shell sets it).
pub fn tasker_cmd(url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tasker"));
    cmd.env("TASKER_DATABASE_URL", url)
        .env_remove("TASKER_ENV")
        .env_remove("TASKER_LOG")
        .args(args);
    cmd
}

pub fn tasker(url: &str, args: &[&str]) -> Run {
    finish(tasker_cmd(url, args).output().expect("tasker runs"))
}

pub fn wait(child: std::process::Child) -> Run {
    finish(child.wait_with_output().expect("tasker runs"))
}

pub const NAMESPACE: &str = "cli_test";
pub const TEMPLATE: &str = "fulfil";

/// A diamond: `validate`, then `reserve` and `charge` in parallel, then `ship`.
pub const TEMPLATE_YAML: &str = "\
name: fulfil
namespace_name: cli_test
version: 1.2.0
description: a diamond
step_templates:
  - {name: validate, handler: ok}
  - {name: reserve, handler: ok, depends_on_step: validate}
  - {name: charge, handler: charge, depends_on_step: validate, concurrency: {limit: 2}, rate_limit: {limit: 5, per_ms: 1000}}
  - {name: ship, handler: ok, depends_on_steps: [reserve, charge]}
";

/// A client with the template registered; `charge` fails permanently while `fail_charge`.
pub fn client(db: &TestDb, fail_charge: bool) -> Client {
    let c = Client::connect(&db.url).expect("connect");
    c.register_template_yaml(TEMPLATE_YAML).expect("template");
    c.register_fn("ok", |ctx| Ok(json!({"step": ctx.step.name})))
        .expect("handler");
    c.register_fn("charge", move |_| {
        if fail_charge {
            Err(StepError::permanent("card declined"))
        } else {
            Ok(json!({"charged": true}))
        }
    })
    .expect("handler");
    c
}

pub fn create_task(c: &Client, order: &str) -> i64 {
    let req = tasker::TaskRequest {
        name: TEMPLATE.into(),
        namespace: Some(NAMESPACE.into()),
        context: json!({ "order": order }),
        ..Default::default()
    };
    c.create_task(&req).expect("task").task_id
}

/// The step id of `name` in task `task_id`.
pub fn step_id(c: &Client, task_id: i64, name: &str) -> i64 {
    c.task_view(task_id)
        .expect("view")
        .step(name)
        .expect("step")
        .step_id
}

/// A database with one task whose `charge` step failed permanently (the task is in error).
pub fn failed_task(backend: Backend) -> (TestDb, Client, i64) {
    let db = fresh_db(backend);
    let c = client(&db, true);
    let task = create_task(&c, "A-1");
    c.run_task(task).expect("run");
    (db, c, task)
}
