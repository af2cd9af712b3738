//! Batch fan-out (docs/DYNAMIC_WORKFLOWS.md): a batchable step's output creates one worker per
//! batch, named `<worker>_001` ..., with its spec as inputs, in its completion's transaction;
//! the convergence step receives every batch result (and runs with none); counts, events and
//! the history stay right; invalid outputs and templates are refused; a failed batch resumes
//! from its checkpoint; a batch that fails permanently blocks the task (fail_fast).

use crate::common::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tasker::{Client, Error, State, StepContext, StepError, TaskTemplate};

/// `split` returns `context.batches` (as given); `work` sums its batch's range
/// (checkpointing after each item, failing once at `context.fail_at` on attempt 1); `total`
/// adds up what the batches returned.
const FANOUT: &str = r#"
name: fanout
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: split, handler: split, type: batchable, batch: {worker: work, max_batches: 20000}}
  - {name: work, handler: work, type: batch_worker, depends_on_step: split}
  - {name: total, handler: total, type: convergence, depends_on_steps: [work]}
"#;

/// What the workers processed: (step name, item) in order.
type Processed = Arc<Mutex<Vec<(String, i64)>>>;

fn setup(b: Backend) -> (Client, TestDb, Processed) {
    let (c, db) = client_with(b, fast_config(), None);
    c.register_fn("split", |ctx: &StepContext| {
        Ok(json!({"batches": ctx.task.context["batches"].clone()}))
    })
    .unwrap();
    let processed: Processed = Arc::default();
    let (p, weak) = (processed.clone(), c.downgrade());
    c.register_fn("work", move |ctx: &StepContext| {
        let c = weak.upgrade().ok_or_else(|| StepError::permanent("gone"))?;
        let spec = &ctx.step.inputs;
        let (start, end) = (spec["start"].as_i64(), spec["end"].as_i64());
        let (Some(start), Some(end)) = (start, end) else {
            return Err(StepError::permanent(format!("bad spec {spec}")));
        };
        let cp = ctx.checkpoint.clone().unwrap_or(Value::Null);
        let mut sum = cp["sum"].as_i64().unwrap_or(0);
        let from = cp["cursor"].as_i64().unwrap_or(start);
        for i in from..end {
            if ctx.task.context["fail_at"].as_i64() == Some(i) {
                if ctx.step.attempt == 1 {
                    return Err(StepError::retryable(format!("failed at item {i}")));
                }
                if ctx.task.context["permanent"] == json!(true) {
                    return Err(StepError::permanent("bad item").with_class("BadItem"));
                }
            }
            sum += i;
            p.lock().unwrap().push((ctx.step.name.clone(), i));
            c.checkpoint(
                ctx.step.step_id,
                &ctx.claim_token,
                &json!({"cursor": i + 1, "sum": sum}),
            )
            .map_err(|e| StepError::permanent(e.to_string()))?;
        }
        Ok(json!({ "sum": sum }))
    })
    .unwrap();
    c.register_fn("total", |ctx: &StepContext| {
        let mut names: Vec<&String> = ctx.dependency_results.keys().collect();
        names.sort();
        let sum: i64 = ctx
            .dependency_results
            .values()
            .filter_map(|r| r["sum"].as_i64())
            .sum();
        Ok(json!({"batches": names, "sum": sum}))
    })
    .unwrap();
    c.register_template_yaml(FANOUT).unwrap();
    (c, db, processed)
}

fn create(c: &Client, context: Value) -> i64 {
    let mut r = req("fanout", context);
    r.namespace = Some("tests".into());
    c.create_task(&r).unwrap().task_id
}

/// `count` batches of `width` items each: [0, width), [width, 2 width), ...
fn ranges(count: i64, width: i64) -> Value {
    (0..count)
        .map(|k| json!({"start": k * width, "end": (k + 1) * width}))
        .collect()
}

both_backends!(a_fanout_creates_one_worker_per_batch, |b| {
    let (c, _db, _) = setup(b);
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    c.subscribe_fn(&["step.created", "batches.created"], move |ev| {
        e.lock().unwrap().push((
            ev.task_id,
            ev.name.clone(),
            ev.step_name.clone(),
            ev.payload.clone(),
        ));
    });
    let task = create(&c, json!({"batches": ranges(3, 2)}));
    let before = c.task_view(task).unwrap();
    let names: Vec<&str> = before.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["split"],
        "workers and the convergence come with the batches"
    );
    let ctx = c.run_task(task).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    assert_eq!((ctx.total_steps, ctx.completed_steps), (5, 5));
    assert_eq!(ctx.completion_percentage, 100.0);
    let view = c.task_view(task).unwrap();
    assert_eq!(
        view.step("work_002").unwrap().inputs,
        json!({"start": 2, "end": 4}),
        "each worker gets its spec as inputs"
    );
    assert_eq!(
        view.step("split").unwrap().results,
        Some(json!({"batch_count": 3})),
        "the batchable stores a count, not the list its dependents would each load"
    );
    let total = view.step("total").unwrap().results.clone().unwrap();
    assert_eq!(
        total,
        json!({"batches": ["split", "work_001", "work_002", "work_003"], "sum": 15})
    );
    assert_history_legal(&view);
    let seen: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|x| x.0 == task)
        .cloned()
        .collect();
    let created: Vec<&str> = seen
        .iter()
        .filter(|x| x.1 == "step.created")
        .filter_map(|x| x.2.as_deref())
        .collect();
    assert_eq!(created, ["work_001", "work_002", "work_003", "total"]);
    assert!(seen
        .iter()
        .filter(|x| x.1 == "step.created")
        .all(|x| x.3 == json!({"batchable": "split"})));
    let made: Vec<&Value> = seen
        .iter()
        .filter(|x| x.1 == "batches.created")
        .map(|x| &x.3)
        .collect();
    assert_eq!(
        made,
        [&json!({"worker": "work", "batches": 3, "created": 4})]
    );
});

both_backends!(no_batches_still_runs_the_convergence_step, |b| {
    let (c, _db, _) = setup(b);
    for batches in [json!([]), Value::Null] {
        let task = create(&c, json!({ "batches": batches }));
        let ctx = c.run_task(task).unwrap();
        assert_eq!(ctx.task_state, State::Complete, "{batches}");
        assert_eq!(ctx.total_steps, 2);
        let view = c.task_view(task).unwrap();
        let total = view.step("total").unwrap().results.clone().unwrap();
        assert_eq!(total, json!({"batches": ["split"], "sum": 0}));
    }
});

both_backends!(a_thousand_batches_are_named_and_counted, |b| {
    let (c, _db, processed) = setup(b);
    let task = create(&c, json!({"batches": ranges(1000, 1)}));
    let ctx = c.run_task(task).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    assert_eq!(ctx.total_steps, 1002);
    let view = c.task_view(task).unwrap();
    // Padded to the width of the count: names sort in batch order.
    assert!(view.step("work_0001").is_some() && view.step("work_1000").is_some());
    assert!(view.step("work_001").is_none());
    let total = view.step("total").unwrap().results.clone().unwrap();
    assert_eq!(total["sum"], json!(999 * 1000 / 2));
    assert_eq!(processed.lock().unwrap().len(), 1000);
});

both_backends!(a_failed_batch_resumes_from_its_checkpoint, |b| {
    let (c, _db, processed) = setup(b);
    // Batch 2 covers 3..6 and fails at item 4 on its first attempt.
    let task = create(&c, json!({"batches": ranges(2, 3), "fail_at": 4}));
    assert_eq!(c.run_task(task).unwrap().task_state, State::Complete);
    let of_batch_2: Vec<i64> = processed
        .lock()
        .unwrap()
        .iter()
        .filter(|(s, _)| s == "work_002")
        .map(|(_, i)| *i)
        .collect();
    assert_eq!(of_batch_2, [3, 4, 5], "item 3 was not processed twice");
    let view = c.task_view(task).unwrap();
    assert_eq!(
        view.step("total").unwrap().results.clone().unwrap()["sum"],
        json!(15)
    );
});

both_backends!(a_permanently_failed_batch_blocks_the_task, |b| {
    let (c, _db, _) = setup(b);
    let task = create(
        &c,
        json!({"batches": ranges(3, 2), "fail_at": 3, "permanent": true}),
    );
    let ctx = c.run_task(task).unwrap();
    assert_eq!(ctx.task_state, State::Error, "fail_fast");
    let view = c.task_view(task).unwrap();
    assert_eq!(view.step("work_002").unwrap().state, State::Error);
    assert_eq!(view.step("total").unwrap().state, State::Pending);
});

both_backends!(invalid_batch_outputs_fail_permanently, |b| {
    let (c, _db, _) = setup(b);
    for (batches, class) in [
        (json!({"not": "a list"}), "InvalidBatches"),
        (ranges(20001, 1), "TooManyBatches"),
    ] {
        let task = create(&c, json!({ "batches": batches }));
        assert_eq!(c.run_task(task).unwrap().task_state, State::Error);
        let view = c.task_view(task).unwrap();
        let split = view.step("split").unwrap();
        assert_eq!(split.state, State::Error);
        assert_eq!(split.attempts, 1, "not retried");
        assert_eq!(
            split.results.as_ref().unwrap()["error"]["class"],
            json!(class)
        );
        assert_eq!(view.steps.len(), 1, "nothing was created");
    }
});

#[test]
fn batch_templates_are_checked_at_registration() {
    let head = "name: t\nstep_templates:\n";
    let cases = [
        ("  - {name: s, handler: h, type: batchable}\n", "no batch settings"),
        (
            "  - {name: s, handler: h, batch: {worker: w, max_batches: 1}}\n",
            "not batchable",
        ),
        (
            "  - {name: s, handler: h, type: batchable, batch: {worker: w, max_batches: 0}}\n  - {name: w, handler: h, type: batch_worker, depends_on_step: s}\n",
            "max_batches must be within",
        ),
        (
            "  - {name: s, handler: h, type: batchable, batch: {worker: x, max_batches: 5}}\n",
            "unknown worker",
        ),
        (
            "  - {name: s, handler: h, type: batchable, batch: {worker: w, max_batches: 5}}\n  - {name: w, handler: h, depends_on_step: s}\n",
            "must be type: batch_worker",
        ),
        (
            "  - {name: s, handler: h, type: batchable, batch: {worker: w, max_batches: 5}}\n  - {name: w, handler: h, type: batch_worker}\n",
            "must depend on its batchable",
        ),
        (
            "  - {name: s, handler: h, type: batchable, batch: {worker: w, max_batches: 5}}\n  - {name: w, handler: h, type: batch_worker, depends_on_step: s}\n  - {name: n, handler: h, depends_on_step: w}\n",
            "only a convergence step may",
        ),
        ("  - {name: w, handler: h, type: batch_worker}\n", "worker of no batchable"),
        (
            "  - {name: s, handler: h, type: batchable, batch: {worker: w, max_batches: 5, failure: sometimes}}\n  - {name: w, handler: h, type: batch_worker, depends_on_step: s}\n",
            "unknown variant",
        ),
    ];
    for (steps, expected) in cases {
        match TaskTemplate::from_yaml(&format!("{head}{steps}"), None) {
            Err(Error::InvalidTemplate(m)) => assert!(m.contains(expected), "{m} / {expected}"),
            other => panic!("{steps}: {other:?}"),
        }
    }
    let long = "w".repeat(60);
    let yaml = format!("{head}  - {{name: s, handler: h, type: batchable, batch: {{worker: {long}, max_batches: 100000}}}}\n  - {{name: {long}, handler: h, type: batch_worker, depends_on_step: s}}\n");
    match TaskTemplate::from_yaml(&yaml, None) {
        Err(Error::InvalidTemplate(m)) => assert!(m.contains("exceed"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(TaskTemplate::from_yaml(FANOUT, None).is_ok());
}
