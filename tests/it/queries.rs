//! The query API: `wait_task` (in-process, across processes, interrupted, timed out, blocked),
//! `list_tasks` and `list_steps` (filters, pages, pages under concurrent inserts).

use crate::common::*;
use serde_json::json;
use std::time::Duration;
use tasker::{
    Client, Error, ExecutionStatus, State, StepCondition, StepFilter, TaskFilter, MAX_PAGE_LIMIT,
};

const CHILD_ENV: &str = "TASKER_TEST_WAIT_CHILD";

/// Long enough that a wait which only polled would time out first: these waits must be woken
/// by an event (a local commit, or a NOTIFY from another process).
const NO_POLL_MS: u64 = 3_600_000;
const LONG: Duration = Duration::from_secs(300);

/// A request for a template of the suite (namespace `tests`).
fn treq(name: &str, context: serde_json::Value) -> tasker::TaskRequest {
    tasker::TaskRequest {
        namespace: Some("tests".into()),
        ..req(name, context)
    }
}

/// Registers `yaml` and creates a task of its template `name`; returns the task id.
fn new_task(c: &Client, yaml: &str, name: &str) -> i64 {
    c.register_template_yaml(yaml).unwrap();
    c.create_task(&treq(name, json!({"n": 3}))).unwrap().task_id
}

/// A client that (nearly) never polls.
fn event_only_client(url: &str) -> Client {
    Client::connect_with(
        url,
        tasker::Config {
            poll_interval_ms: NO_POLL_MS,
            ..fast_config()
        },
        None,
    )
    .expect("connect")
}

/// Entry point of the child process that runs a task to the end (ignored unless spawned).
#[test]
#[ignore]
fn wait_child_entry() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    let url = std::env::var("TASKER_CHILD_URL").expect("url");
    let task: i64 = std::env::var("TASKER_CHILD_TASK")
        .expect("task")
        .parse()
        .expect("a task id");
    let c = Client::connect_with(&url, fast_config(), None).expect("connect");
    register_handlers(&c, &ExecLog::default());
    let ctx = c.run_task(task).expect("run_task");
    assert_eq!(ctx.task_state, State::Complete);
}

/// A client on `db` that never polls on PostgreSQL (NOTIFY must wake it); SQLite has no
/// cross-process wakeup, so there it polls.
fn cross_process_client(b: Backend, url: &str) -> Client {
    if b == Backend::Postgres {
        event_only_client(url)
    } else {
        Client::connect_with(url, fast_config(), None).expect("connect")
    }
}

both_backends!(wait_wakes_on_a_local_commit, |b| {
    let db = new_db(b);
    let c = event_only_client(&db.url);
    register_handlers(&c, &ExecLog::default());
    let id = new_task(&c, LINEAR, "linear");
    let waiter = {
        let c = c.clone();
        std::thread::spawn(move || c.wait_task(id, LONG).unwrap())
    };
    c.run_task(id).unwrap();
    let w = waiter.join().unwrap();
    assert!(!w.timed_out, "the commit must wake the wait");
    assert_eq!(w.task.state, State::Complete);
    assert_eq!(w.task.execution.completed_steps, 4);
});

both_backends!(wait_across_two_processes, |b| {
    let (c, db) = client(b);
    let id = new_task(&c, DIAMOND, "diamond");
    let waiter = cross_process_client(b, &db.url);
    let mut child = spawn_test_entry(
        "queries::wait_child_entry",
        &[
            (CHILD_ENV, "1".into()),
            ("TASKER_CHILD_URL", db.url.clone()),
            ("TASKER_CHILD_TASK", id.to_string()),
        ],
    );
    let w = waiter.wait_task(id, LONG).unwrap();
    assert!(child.wait().unwrap().success(), "the child failed");
    assert!(
        !w.timed_out,
        "the other process's commit must wake the wait"
    );
    assert_eq!(w.task.state, State::Complete);
    assert_eq!(w.task.execution.completed_steps, 4);
});

both_backends!(wait_times_out_with_the_current_view, |b| {
    let (c, _db) = client(b);
    let id = new_task(&c, LINEAR, "linear");
    let w = c.wait_task(id, Duration::from_millis(30)).unwrap();
    assert!(w.timed_out);
    assert_eq!(w.task.task_id, id);
    assert_eq!(w.task.state, State::Pending);
    // A zero timeout looks once.
    assert!(c.wait_task(id, Duration::ZERO).unwrap().timed_out);
});

both_backends!(wait_returns_a_blocked_task, |b| {
    let (c, _db) = client(b);
    register_handlers(&c, &ExecLog::default());
    let id = new_task(
        &c,
        "name: doomed\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n  - {name: a, handler: permanent_fail}\n",
        "doomed",
    );
    c.run_task(id).unwrap();
    let w = c.wait_task(id, LONG).unwrap();
    assert!(!w.timed_out);
    assert_eq!(w.task.state, State::Error);
    assert_eq!(
        w.task.execution.execution_status,
        tasker::ExecutionStatus::BlockedByFailures
    );
});

both_backends!(wait_is_interruptible, |b| {
    let db = new_db(b);
    let c = event_only_client(&db.url);
    let id = new_task(&c, LINEAR, "linear");
    let waiter = {
        let c = c.clone();
        std::thread::spawn(move || c.wait_task(id, LONG))
    };
    // An interrupt ends only the calls running when it is made: repeat until the wait ended.
    while !waiter.is_finished() {
        c.interrupt();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(waiter.join().unwrap(), Err(Error::Interrupted)));
});

both_backends!(wait_on_a_missing_task_fails, |b| {
    let (c, _db) = client(b);
    assert!(matches!(
        c.wait_task(999_999, LONG),
        Err(Error::TaskNotFound(999_999))
    ));
});

// ---- list_tasks / list_steps --------------------------------------------------------------

const ONE_FAILING: &str = "name: doomed\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n  - {name: a, handler: permanent_fail}\n";
const ONE_BACKING_OFF: &str = "name: backoff\nnamespace_name: other\nversion: 2.0.0\nstep_templates:\n  - {name: f, handler: flaky, handler_config: {fail_times: 5, retry_after: 3600}}\n";

/// A task request with its `n` (distinct identities), initiator, source system and tags.
fn labelled(name: &str, ns: &str, n: i64, initiator: &str, tags: &[&str]) -> tasker::TaskRequest {
    tasker::TaskRequest {
        namespace: Some(ns.into()),
        initiator: Some(initiator.into()),
        source_system: Some(format!("{initiator}-system")),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..req(name, json!({"n": n}))
    }
}

/// A client whose backoffs may last the hour that `ONE_BACKING_OFF` asks for (the suite's
/// fast configuration caps them at 40 ms).
fn patient_client(b: Backend) -> (Client, TestDb) {
    let mut config = fast_config();
    config.backoff.max_ms = 7_200_000;
    client_with(b, config, None)
}

fn ids(page: &tasker::TaskPage) -> Vec<i64> {
    page.items.iter().map(|t| t.task_id).collect()
}

/// Every task matching `filter`, page by page (`limit` per page).
fn all_pages(c: &Client, filter: &TaskFilter, limit: u32) -> Vec<i64> {
    let mut out = Vec::new();
    let mut f = TaskFilter {
        limit: Some(limit),
        ..filter.clone()
    };
    loop {
        let page = c.list_tasks(&f).unwrap();
        assert!(page.items.len() <= limit as usize);
        out.extend(ids(&page));
        match page.next_cursor {
            Some(cur) => f.cursor = Some(cur),
            None => return out,
        }
    }
}

both_backends!(list_tasks_filters, |b| {
    let (c, _db) = patient_client(b);
    register_handlers(&c, &ExecLog::default());
    for yaml in [LINEAR, ONE_FAILING, ONE_BACKING_OFF] {
        c.register_template_yaml(yaml).unwrap();
    }
    let create = |r: tasker::TaskRequest| c.create_task(&r).unwrap().task_id;
    let done = create(labelled("linear", "tests", 1, "web", &["a", "b"]));
    let waiting = create(labelled("linear", "tests", 2, "api", &["a"]));
    let blocked = create(labelled("doomed", "tests", 3, "api", &["b"]));
    let backing_off = create(labelled("backoff", "other", 4, "cron", &[]));
    c.run_task(done).unwrap();
    c.run_task(blocked).unwrap();
    c.run_once().unwrap(); // claims one ready step: possibly of `waiting`, or `backing_off`'s
    while c
        .list_steps(&StepFilter {
            task_id: Some(backing_off),
            condition: Some(StepCondition::InBackoff),
            ..Default::default()
        })
        .unwrap()
        .items
        .is_empty()
    {
        c.run_once().unwrap();
    }
    let list = |f: TaskFilter| ids(&c.list_tasks(&f).unwrap());
    // Everything, newest first.
    assert_eq!(
        list(TaskFilter::default()),
        vec![backing_off, blocked, waiting, done]
    );
    assert_eq!(
        list(TaskFilter {
            states: vec![State::Complete, State::Error],
            ..Default::default()
        }),
        vec![blocked, done]
    );
    assert_eq!(
        list(TaskFilter {
            execution_status: Some(ExecutionStatus::BlockedByFailures),
            ..Default::default()
        }),
        vec![blocked]
    );
    assert_eq!(
        list(TaskFilter {
            execution_status: Some(ExecutionStatus::AllComplete),
            ..Default::default()
        }),
        vec![done]
    );
    assert_eq!(
        list(TaskFilter {
            execution_status: Some(ExecutionStatus::WaitingForDependencies),
            ..Default::default()
        }),
        vec![backing_off]
    );
    assert_eq!(
        list(TaskFilter {
            namespace: Some("tests".into()),
            name: Some("linear".into()),
            version: Some("1.0.0".into()),
            ..Default::default()
        }),
        vec![waiting, done]
    );
    assert!(list(TaskFilter {
        name: Some("linear".into()),
        version: Some("9.9.9".into()),
        ..Default::default()
    })
    .is_empty());
    assert_eq!(
        list(TaskFilter {
            initiator: Some("api".into()),
            ..Default::default()
        }),
        vec![blocked, waiting]
    );
    assert_eq!(
        list(TaskFilter {
            source_system: Some("cron-system".into()),
            ..Default::default()
        }),
        vec![backing_off]
    );
    assert_eq!(
        list(TaskFilter {
            tags: vec!["a".into()],
            ..Default::default()
        }),
        vec![waiting, done]
    );
    assert_eq!(
        list(TaskFilter {
            tags: vec!["a".into(), "b".into()],
            ..Default::default()
        }),
        vec![done]
    );
    // Summaries carry the template, counts and status.
    let page = c
        .list_tasks(&TaskFilter {
            states: vec![State::Complete],
            ..Default::default()
        })
        .unwrap();
    let s = &page.items[0];
    assert_eq!((s.namespace.as_str(), s.name.as_str()), ("tests", "linear"));
    assert_eq!(s.execution.total_steps, 4);
    assert_eq!(s.execution.completed_steps, 4);
    assert_eq!(s.execution, c.execution_context(done).unwrap());
    assert_eq!(s.tags, json!(["a", "b"]));
    // Time ranges: [from, to).
    let created = s.created_at;
    let newer = list(TaskFilter {
        created_from: Some(created),
        ..Default::default()
    });
    assert!(newer.contains(&done) && newer.contains(&backing_off));
    assert!(!list(TaskFilter {
        created_to: Some(created),
        ..Default::default()
    })
    .contains(&done));
    assert!(list(TaskFilter {
        updated_from: Some(i64::MAX),
        ..Default::default()
    })
    .is_empty());
});

both_backends!(list_steps_filters, |b| {
    let (c, _db) = patient_client(b);
    register_handlers(&c, &ExecLog::default());
    let blocked = new_task(&c, ONE_FAILING, "doomed");
    c.run_task(blocked).unwrap();
    c.register_template_yaml(ONE_BACKING_OFF).unwrap();
    let backing_off = c
        .create_task(&labelled("backoff", "other", 1, "cron", &[]))
        .unwrap()
        .task_id;
    c.run_once().unwrap();
    let list = |f: StepFilter| -> Vec<(i64, String)> {
        c.list_steps(&f)
            .unwrap()
            .items
            .into_iter()
            .map(|s| (s.task_id, s.name))
            .collect()
    };
    assert_eq!(
        list(StepFilter {
            condition: Some(StepCondition::Exhausted),
            ..Default::default()
        }),
        vec![(blocked, "a".to_string())]
    );
    assert_eq!(
        list(StepFilter {
            condition: Some(StepCondition::InBackoff),
            ..Default::default()
        }),
        vec![(backing_off, "f".to_string())]
    );
    assert_eq!(
        list(StepFilter {
            handler: Some("flaky".into()),
            ..Default::default()
        }),
        vec![(backing_off, "f".to_string())]
    );
    assert_eq!(
        list(StepFilter {
            task_id: Some(blocked),
            states: vec![State::Error],
            ..Default::default()
        }),
        vec![(blocked, "a".to_string())]
    );
    assert!(list(StepFilter {
        condition: Some(StepCondition::LeaseExpired),
        ..Default::default()
    })
    .is_empty());
    let step = &c
        .list_steps(&StepFilter {
            task_id: Some(backing_off),
            ..Default::default()
        })
        .unwrap()
        .items[0];
    assert_eq!(step.attempts, 1);
    assert!(step.next_attempt_at.is_some());
});

both_backends!(list_pages_are_stable_under_concurrent_inserts, |b| {
    let (c, _db) = client(b);
    c.register_template_yaml(LINEAR).unwrap();
    let mut before: Vec<i64> = (0..25)
        .map(|n| {
            c.create_task(&labelled("linear", "tests", n, "web", &[]))
                .unwrap()
                .task_id
        })
        .collect();
    before.reverse(); // newest first, as listed
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let inserter = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n: i64 = 1000;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                c.create_task(&labelled("linear", "tests", n, "web", &[]))
                    .unwrap();
                n += 1;
            }
            usize::try_from(n - 1000).unwrap()
        })
    };
    // Pages of 4 from a first page that may already hold new tasks: every task that existed
    // before appears exactly once, in order, and no id repeats.
    let seen = all_pages(&c, &TaskFilter::default(), 4);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let inserted = inserter.join().unwrap();
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "not newest first: {seen:?}"
    );
    let old: Vec<i64> = seen.iter().copied().filter(|id| *id <= before[0]).collect();
    assert_eq!(old, before);
    assert!(seen.len() <= before.len() + inserted);
});

both_backends!(list_limits_and_cursors_are_checked, |b| {
    let (c, _db) = client(b);
    for limit in [0, MAX_PAGE_LIMIT + 1] {
        let e = c
            .list_tasks(&TaskFilter {
                limit: Some(limit),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        assert!(c
            .list_steps(&StepFilter {
                limit: Some(limit),
                ..Default::default()
            })
            .is_err());
    }
    for cursor in ["", "x", "-3", "0"] {
        let e = c
            .list_tasks(&TaskFilter {
                cursor: Some(cursor.into()),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("cursor"), "{e}");
    }
    // An empty database: an empty last page.
    let page = c.list_tasks(&TaskFilter::default()).unwrap();
    assert!(page.items.is_empty() && page.next_cursor.is_none());
    // Exactly `limit` items: the cursor leads to an empty page, never a repeat.
    c.register_template_yaml(LINEAR).unwrap();
    for n in 0..3 {
        c.create_task(&labelled("linear", "tests", n, "web", &[]))
            .unwrap();
    }
    assert_eq!(all_pages(&c, &TaskFilter::default(), 3).len(), 3);
    assert_eq!(all_pages(&c, &TaskFilter::default(), 1).len(), 3);
});

both_backends!(a_task_view_is_one_snapshot_while_steps_complete, |b| {
    // A reader thread takes views while a worker thread completes 4-step tasks: every view
    // must agree with itself (the task's state, its steps and its execution counts), which
    // reads spread over several statements without one snapshot did not.
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(LINEAR).unwrap();
    let ids: Vec<i64> = (0..20)
        .map(|i| {
            c.create_task(&treq("linear", json!({"n": i})))
                .unwrap()
                .task_id
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (c, ids, stop) = (c.clone(), ids.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut views = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for id in &ids {
                    let v = c.task_view(*id).unwrap();
                    let done = v
                        .steps
                        .iter()
                        .filter(|s| s.state == State::Complete)
                        .count();
                    assert_eq!(v.execution.completed_steps as usize, done, "{v:?}");
                    assert_eq!(v.execution.task_state, v.state, "{v:?}");
                    if v.state == State::Complete {
                        assert_eq!(done, v.steps.len(), "{v:?}");
                    }
                    views += 1;
                }
            }
            views
        })
    };
    for id in &ids {
        c.run_task(*id).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let views = reader.join().expect("no inconsistent view");
    assert!(views > 0);
});

/// PostgreSQL notifies a task's finish only when someone waits on it (migration 0021): every
/// NOTIFY serialises its transaction's commit with all other notifying commits.
#[test]
fn a_finish_is_notified_only_for_a_watched_task() {
    let (c, db) = client(Backend::Postgres);
    register_handlers(&c, &ExecLog::default());
    c.register_template_yaml(LINEAR).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The listener's drop needs the runtime (dropped before this guard).
    let _in_rt = rt.enter();
    let mut l = rt.block_on(async {
        let mut l = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
        l.listen("tasker_task_finished").await.unwrap();
        l
    });
    let mut next = |wait: Duration| {
        rt.block_on(tokio::time::timeout(wait, l.recv()))
            .map(|n| n.unwrap().channel().to_string())
    };
    // A task created (and waited on if `watch`) and run to the end: inline (`run_task`), or by
    // the workers, whose one-statement completion writes the flag it read under the task's
    // lock on the transition row; the trigger is not called for FALSE (migration 0024).
    let finish = |n: i64, watch: bool, by_workers: bool| {
        let id = c
            .create_task(&treq("linear", json!({"n": n})))
            .unwrap()
            .task_id;
        if watch {
            assert!(c.wait_task(id, Duration::ZERO).unwrap().timed_out);
        }
        if by_workers {
            while c.run_once().unwrap() > 0 {}
            assert_eq!(c.task_view(id).unwrap().state, State::Complete);
        } else {
            assert_eq!(c.run_task(id).unwrap().task_state, State::Complete);
        }
    };
    // Distinct contexts: a creation with an existing identity returns that (finished) task.
    for (n, by_workers) in [(3, false), (5, true)] {
        finish(n, false, by_workers);
        assert!(
            next(Duration::from_secs(1)).is_err(),
            "nobody waits on the task (by workers: {by_workers}): its finish must not NOTIFY"
        );
        finish(n + 1, true, by_workers);
        assert_eq!(
            next(Duration::from_secs(30)).unwrap_or_else(|_| panic!(
                "a watched task's finish (by workers: {by_workers}) must NOTIFY"
            )),
            "tasker_task_finished"
        );
    }
    // A writer that leaves the flag to the trigger (NULL): cancelling a watched task.
    let cancelled = c
        .create_task(&treq("linear", json!({"n": 7})))
        .unwrap()
        .task_id;
    assert!(c.wait_task(cancelled, Duration::ZERO).unwrap().timed_out);
    c.cancel_task(cancelled).unwrap();
    assert_eq!(
        next(Duration::from_secs(30)).expect("a watched task's cancellation must NOTIFY"),
        "tasker_task_finished"
    );
}
