//! The dashboard scenario of `make bench`: page answer times with many tasks in the database
//! (default 100,000; `BENCH_DASHBOARD_TASKS`). One database per backend is filled once (one-step
//! tasks created by 4 threads, a thousand of them run to completion and a hundred failed), then
//! each page is fetched `GETS` times per run over plain HTTP/1.1; a run's figure is the median.

use super::{Backend, Env, Res};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;
use tasker::{Client, DashboardConfig, StepError, TaskRequest};

/// GETs of each page per run.
const GETS: usize = 20;
/// Pages of the task list followed before timing "a later page".
const LATER_PAGE: usize = 20;

pub fn tasks() -> usize {
    super::env_usize("BENCH_DASHBOARD_TASKS", 100_000)
}

fn get(addr: SocketAddr, path: &str) -> Res<String> {
    let mut s = TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    if !raw.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {}", raw.lines().next().unwrap_or("no answer")).into());
    }
    Ok(raw)
}

fn next_link(page: &str) -> Option<String> {
    let at = page.find("rel=\"next\" href=\"")? + 17;
    let end = page[at..].find('"')?;
    Some(page[at..at + end].replace("&amp;", "&"))
}

fn fill(client: &Client, n: usize) -> Res<i64> {
    client.register_template_value(json!({
        "name": "dash", "namespace_name": "bench", "version": "1.0.0",
        "step_templates": [{"name": "only", "handler": "dash_step"}]
    }))?;
    client.register_fn("dash_step", |ctx| {
        if ctx.task.context["n"].as_u64().unwrap_or(0) % 10 == 0 {
            return Err(StepError::permanent("declined").with_class("Declined"));
        }
        Ok(json!({"ok": true}))
    })?;
    let threads = 4;
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<(), String> {
                    for i in (t..n).step_by(threads) {
                        let req = TaskRequest {
                            name: "dash".into(),
                            namespace: Some("bench".into()),
                            context: json!({"n": i}),
                            ..Default::default()
                        };
                        client.create_task(&req).map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "a filling thread panicked")??;
        }
        Ok(())
    })?;
    // Some finished and some failed tasks, so that the overview and the filters have work.
    let mut ran = 0;
    while ran < 1_100 {
        let k = client.run_once()?;
        if k == 0 {
            break;
        }
        ran += k;
    }
    let newest = client.list_tasks(&Default::default())?;
    newest
        .items
        .first()
        .map(|t| t.task_id)
        .ok_or_else(|| "no task".into())
}

/// The label of the overview figures' background read (not a page: no page budget).
pub const OVERVIEW_READ: &str = "overview figures, background read";

/// The "(read in N ms" the overview states about its figures.
fn read_ms(page: &str) -> Option<f64> {
    let at = page.find("(read in ")? + 9;
    page[at..].split(' ').next()?.parse().ok()
}

/// (page label, the run medians in ms) for one backend.
pub fn dashboard(
    env: &Env,
    backend: Backend,
    progress: &dyn Fn(&str),
) -> Res<Vec<(&'static str, Vec<f64>)>> {
    let url = env.fresh_db(backend, "dashboard")?;
    let out = {
        let client = Client::connect_with(&url, super::bench_config(1), None)?;
        progress(&format!(
            "dashboard: creating {} tasks, {}",
            tasks(),
            backend.name()
        ));
        let task = fill(&client, tasks())?;
        let d = client.start_dashboard(&DashboardConfig {
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        })?;
        let addr = d.address();
        let mut later = "/tasks".to_string();
        for _ in 0..LATER_PAGE {
            later = next_link(&get(addr, &later)?).ok_or("the task list has fewer pages")?;
        }
        let pages: [(&'static str, String); 5] = [
            ("overview", "/".into()),
            ("task list, page 1", "/tasks".into()),
            ("task list, page 21", later),
            ("task list, state=error", "/tasks?state=error".into()),
            ("task page", format!("/tasks/{task}")),
        ];
        progress(&format!("dashboard: timing pages, {}", backend.name()));
        let mut out = Vec::new();
        // The overview shows figures read in the background; what that read costs is reported
        // beside the page (as the page states it: "read in N ms").
        let mut reads = Vec::new();
        for (label, path) in pages {
            get(addr, &path)?; // warm-up: prepared statements, page cache
            let mut medians = Vec::new();
            for _ in 0..env.runs {
                let mut ms = Vec::with_capacity(GETS);
                let mut page = String::new();
                for _ in 0..GETS {
                    let t0 = Instant::now();
                    page = get(addr, &path)?;
                    ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
                medians.push(super::stat(&ms).median);
                if let Some(read) = read_ms(&page) {
                    reads.push(read);
                }
            }
            out.push((label, medians));
        }
        if !reads.is_empty() {
            out.push((OVERVIEW_READ, reads));
        }
        out
    };
    env.drop_db(&url);
    Ok(out)
}
