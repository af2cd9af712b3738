//! The JSON Schema of every MessagePack document, derived from the serde types with schemars and
//! checked in as `docs/schema/documents.schema.json`. This test fails when the file is stale;
//! `make schema` (TASKER_WRITE_SCHEMA=1) rewrites it. The wrappers' tests check their document
//! types against that file.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use tasker::{
    Config, Event, ExecutionContext, HandlerCall, HealthCounts, Metrics, PurgeReport, PurgeRequest,
    Schedule, ScheduleSpec, StepContext, StepError, StepFilter, StepOutcome, StepPage, TaskFilter,
    TaskPage, TaskRequest, TaskTemplate, TaskView, TaskWait,
};

const SCHEMA_PATH: &str = "docs/schema/documents.schema.json";

/// The documents of docs/ABI.md, by the name the schema lists them under, and their Rust type.
fn documents() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut docs = Map::new();
    let mut add = |name: &str, schema: schemars::Schema| {
        docs.insert(name.to_string(), schema.to_value());
    };
    add("client_options", generator.subschema_for::<Config>());
    add("template", generator.subschema_for::<TaskTemplate>());
    add("task_request", generator.subschema_for::<TaskRequest>());
    add("step_context", generator.subschema_for::<StepContext>());
    add("step_error", generator.subschema_for::<StepError>());
    add("task_view", generator.subschema_for::<TaskView>());
    add(
        "execution_context",
        generator.subschema_for::<ExecutionContext>(),
    );
    add("health", generator.subschema_for::<HealthCounts>());
    add("task_wait", generator.subschema_for::<TaskWait>());
    add("task_filter", generator.subschema_for::<TaskFilter>());
    add("task_page", generator.subschema_for::<TaskPage>());
    add("step_filter", generator.subschema_for::<StepFilter>());
    add("step_page", generator.subschema_for::<StepPage>());
    add("step_outcome", generator.subschema_for::<StepOutcome>());
    add(
        "handler_call_outcome",
        generator.subschema_for::<HandlerCall>(),
    );
    add("event", generator.subschema_for::<Event>());
    add("schedule_spec", generator.subschema_for::<ScheduleSpec>());
    add("schedule", generator.subschema_for::<Schedule>());
    add("metrics", generator.subschema_for::<Metrics>());
    add("purge_request", generator.subschema_for::<PurgeRequest>());
    add("purge_report", generator.subschema_for::<PurgeReport>());
    let mut defs = generator.take_definitions(true);
    // Config's default environment is read from TASKER_ENV when the default is built: the
    // schema must not depend on the environment it was generated in.
    if let Some(Value::Object(env)) = defs
        .get_mut("Config")
        .and_then(|c| c.pointer_mut("/properties/environment"))
    {
        env.remove("default");
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "libtasker MessagePack documents",
        "description": "Generated from the serde types by tests/document_schema.rs (`make schema`); do not edit. `documents` names each document of docs/ABI.md; a value is valid when it is one of them.",
        "documents": docs,
        "anyOf": docs.keys().map(|k| json!({"$ref": format!("#/documents/{k}")})).collect::<Vec<_>>(),
        "$defs": defs,
    })
}

fn rendered() -> String {
    let mut text = serde_json::to_string_pretty(&documents()).expect("a schema is JSON");
    text.push('\n');
    text
}

#[test]
fn checked_in_schema_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_PATH);
    let fresh = rendered();
    if std::env::var_os("TASKER_WRITE_SCHEMA").is_some() {
        std::fs::create_dir_all(path.parent().expect("the path has a parent")).expect("mkdir");
        std::fs::write(&path, &fresh).expect("write the schema");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "{SCHEMA_PATH} is stale: run 'make schema' and commit it"
    );
}

/// The schema describes today's wire format: documents the engine writes validate against it,
/// and a renamed key does not.
#[test]
fn schema_accepts_real_documents_and_refuses_renamed_keys() {
    let schema = documents();
    let check = |name: &str, doc: Value| {
        let mut root = schema.clone();
        root["$ref"] = json!(format!("#/documents/{name}"));
        root.as_object_mut().map(|o| o.remove("anyOf"));
        let validator = jsonschema::validator_for(&root).expect("the schema compiles");
        validator.is_valid(&doc)
    };
    let ctx = StepContext::default();
    assert!(check("step_context", serde_json::to_value(&ctx).unwrap()));
    let outcome = StepOutcome::Skipped {
        step_id: 1,
        reason: "done".into(),
    };
    assert!(check(
        "step_outcome",
        serde_json::to_value(&outcome).unwrap()
    ));
    let request = json!({"name": "t", "context": {"a": 1}, "step_inputs": {"s": {}}});
    assert!(check("task_request", request));
    assert!(!check(
        "task_request",
        json!({"name": "t", "task_context": {}})
    ));
    assert!(check("client_options", json!({"lease_ms": 1000})));
    assert!(!check("client_options", json!({"lease": 1000})));
    let failure = HandlerCall::from(Err(StepError::permanent("no")));
    assert!(check(
        "handler_call_outcome",
        serde_json::to_value(&failure).unwrap()
    ));
}
