//! A decision followed by a batch fan-out (docs/DYNAMIC_WORKFLOWS.md): the decision chooses a
//! batchable step, which fans out; every step is created exactly once, the convergence step
//! receives every batch result and the task completes. Not chosen, nothing of it exists.

use crate::common::*;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tasker::{Client, State, StepContext};

const ROUTE_THEN_SPLIT: &str = r#"
name: route_then_split
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: route, handler: route, type: decision, candidates: [split, skip]}
  - {name: split, handler: split, type: batchable, batch: {worker: work, max_batches: 10}, depends_on_step: route}
  - {name: skip, handler: leaf, depends_on_step: route}
  - {name: work, handler: work, type: batch_worker, depends_on_step: split}
  - {name: total, handler: total, type: convergence, depends_on_steps: [work]}
"#;

/// How often each step name ran.
type Runs = Arc<Mutex<HashMap<String, u32>>>;

fn setup(b: Backend) -> (Client, TestDb, Runs) {
    let (c, db) = client(b);
    let runs: Runs = Arc::default();
    let count = |runs: &Runs, ctx: &StepContext| {
        *runs
            .lock()
            .unwrap()
            .entry(ctx.step.name.clone())
            .or_default() += 1;
    };
    let r = runs.clone();
    c.register_fn("route", move |ctx: &StepContext| {
        count(&r, ctx);
        Ok(json!({"activate": ctx.task.context["choose"].clone()}))
    })
    .unwrap();
    let r = runs.clone();
    c.register_fn("split", move |ctx: &StepContext| {
        count(&r, ctx);
        Ok(json!({"batches": [{"n": 1}, {"n": 2}, {"n": 3}]}))
    })
    .unwrap();
    let r = runs.clone();
    c.register_fn("work", move |ctx: &StepContext| {
        count(&r, ctx);
        Ok(json!({"square": ctx.step.inputs["n"].as_i64().unwrap_or(0).pow(2)}))
    })
    .unwrap();
    let r = runs.clone();
    c.register_fn("leaf", move |ctx: &StepContext| {
        count(&r, ctx);
        Ok(json!({}))
    })
    .unwrap();
    let r = runs.clone();
    c.register_fn("total", move |ctx: &StepContext| {
        count(&r, ctx);
        let mut parents: Vec<&String> = ctx.dependency_results.keys().collect();
        parents.sort();
        let sum: i64 = ctx
            .dependency_results
            .values()
            .filter_map(|v| v["square"].as_i64())
            .sum();
        Ok(json!({"parents": parents, "sum": sum}))
    })
    .unwrap();
    c.register_template_yaml(ROUTE_THEN_SPLIT).unwrap();
    (c, db, runs)
}

fn create(c: &Client, choose: serde_json::Value) -> i64 {
    let mut r = req("route_then_split", json!({ "choose": choose }));
    r.namespace = Some("tests".into());
    c.create_task(&r).unwrap().task_id
}

both_backends!(a_chosen_batchable_fans_out_once, |b| {
    let (c, _db, runs) = setup(b);
    let task = create(&c, json!(["split"]));
    let ctx = c.run_task(task).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    assert_eq!((ctx.total_steps, ctx.completed_steps), (6, 6));
    assert_eq!(ctx.completion_percentage, 100.0);
    let view = c.task_view(task).unwrap();
    let mut names: Vec<&str> = view.steps.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["route", "split", "total", "work_001", "work_002", "work_003"],
        "each step created once; skip and the template worker never exist"
    );
    let expected: HashMap<String, u32> = names.iter().map(|n| (n.to_string(), 1)).collect();
    assert_eq!(*runs.lock().unwrap(), expected, "each step ran once");
    assert_eq!(
        view.step("total").unwrap().results.clone().unwrap(),
        json!({
            "parents": ["route", "split", "work_001", "work_002", "work_003"],
            "sum": 14
        }),
        "the convergence receives every batch (and its gates)"
    );
    assert_history_legal(&view);
});

both_backends!(an_unchosen_batchable_creates_nothing, |b| {
    let (c, _db, runs) = setup(b);
    let task = create(&c, json!(["skip"]));
    assert_eq!(c.run_task(task).unwrap().task_state, State::Complete);
    let view = c.task_view(task).unwrap();
    let mut names: Vec<&str> = view.steps.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["route", "skip"]);
    assert!(!runs.lock().unwrap().contains_key("split"));
});
