//! `make demo` (Rust edition): the order-fulfillment workflow on the embedded SQLite default
//! (or TASKER_DATABASE_URL), with one retryable payment failure honouring retry_after.

use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use tasker::{Client, StepError, TaskRequest};

fn total_cents(ctx: &tasker::StepContext) -> i64 {
    ctx.task.context["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["qty"].as_i64().unwrap_or(0) * i["price_cents"].as_i64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tasker::init_logging();
    let url = std::env::var("TASKER_DATABASE_URL").unwrap_or_else(|_| {
        std::fs::create_dir_all("target/demo").ok();
        "sqlite://target/demo/tasker.db".into()
    });
    let client = Client::connect(&url)?;
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/templates/order_fulfillment.yaml"
    );
    client.register_template_file(std::path::Path::new(template))?;

    client.register_fn("validate_order", |ctx| {
        let total = total_cents(ctx);
        if total <= 0 {
            return Err(
                StepError::permanent("order total must be positive").with_class("InvalidOrder")
            );
        }
        Ok(json!({"valid": true, "total_cents": total}))
    })?;
    client.register_fn("reserve_inventory", |ctx| {
        let skus: Vec<Value> = ctx.task.context["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(json!({"reserved": skus.len(), "warehouse": "east-1"}))
    })?;
    client.register_fn("check_fraud", |ctx| {
        let total = ctx.dependency_results["validate_order"]["total_cents"]
            .as_i64()
            .unwrap_or(0);
        Ok(json!({"risk": if total > 100_000 { "review" } else { "low" }}))
    })?;
    client.register_fn("process_payment", |ctx| {
        if ctx.step.attempt == 1 {
            // The gateway is busy: ask to be retried in one second (like HTTP 429 + Retry-After).
            return Err(StepError::retryable("payment gateway busy (429)")
                .with_class("GatewayBusy")
                .retry_after(1.0));
        }
        let total = ctx.dependency_results["check_fraud"]["risk"]
            .as_str()
            .map(|_| total_cents(ctx));
        Ok(json!({"charged_cents": total, "transaction": format!("txn-{}", ctx.task.task_id)}))
    })?;
    client.register_fn("ship_order", |ctx| {
        let txn = ctx.dependency_results["process_payment"]["transaction"].clone();
        Ok(json!({"carrier": "parcel-co", "tracking": format!("TRK{:06}", ctx.task.task_id), "paid_by": txn}))
    })?;

    client.subscribe_fn(
        &[
            "step.execution_requested",
            "step.completed",
            "step.failed",
            "task.start_requested",
            "task.completed",
            "task.failed",
        ],
        |e| {
            let step = e.step_name.as_deref().unwrap_or("");
            match e.name.as_str() {
                "step.execution_requested" => {
                    println!("  ▶ {step:<18} started (attempt {})", e.payload["attempt"])
                }
                "step.completed" => println!(
                    "  ✔ {step:<18} finished in {} ms",
                    e.payload["execution_duration_ms"]
                ),
                "step.failed" => println!(
                    "  ✖ {step:<18} failed: {} — retry {} in {} ms",
                    e.payload["error_message"].as_str().unwrap_or(""),
                    if e.payload["retry_available"] == json!(true) {
                        "scheduled"
                    } else {
                        "not possible"
                    },
                    e.payload["backoff_ms"]
                ),
                name => println!("  • {name}"),
            }
        },
    );

    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let created = client.create_task(&TaskRequest {
        name: "order_fulfillment".into(),
        namespace: Some("ecommerce".into()),
        context: json!({
            "order_id": format!("ORD-{run_id}"),
            "customer": "ada@example.com",
            "items": [{"sku": "BOOK-1", "qty": 2, "price_cents": 1999}, {"sku": "PEN-9", "qty": 1, "price_cents": 350}]
        }),
        initiator: Some("demo".into()),
        source_system: Some("make demo".into()),
        reason: Some("show the engine".into()),
        ..Default::default()
    })?;
    println!(
        "libtasker {} — task {} on {url}",
        env!("CARGO_PKG_VERSION"),
        created.task_id
    );
    let ctx = client.run_task(created.task_id)?;
    let view = client.task_view(created.task_id)?;
    println!();
    println!(
        "{:<18} {:<18} {:>8} {:>12}",
        "step", "state", "attempts", "duration ms"
    );
    for s in &view.steps {
        let duration = match (s.last_attempted_at, s.processed_at) {
            (Some(a), Some(b)) => (b - a).to_string(),
            _ => "-".into(),
        };
        println!(
            "{:<18} {:<18} {:>8} {:>12}",
            s.name,
            s.state.as_str(),
            s.attempts,
            duration
        );
    }
    println!();
    println!(
        "task {}: {} ({}% complete) — shipped with {}",
        view.task_id,
        ctx.task_state,
        ctx.completion_percentage,
        view.step("ship_order")
            .and_then(|s| s.results.as_ref())
            .map(|r| r["tracking"].to_string())
            .unwrap_or_default()
    );
    if ctx.task_state != tasker::State::Complete {
        return Err("the demo task did not complete".into());
    }
    Ok(())
}
