//! At worker start: the handlers that templates registered in this client name but nobody
//! registered. Claims are not filtered by handler, so such a worker would fail those steps with
//! `HandlerNotFound`; saying so at start beats finding failed steps later.

use super::Client;
use crate::config::Strictness;
use crate::{Error, Result};

/// `(template, step, handler)` of every step whose handler is not registered, sorted.
pub fn missing_handlers(client: &Client) -> Vec<(String, String, String)> {
    let inner = &client.inner;
    let mut missing: Vec<(String, String, String)> = inner
        .templates
        .all()
        .iter()
        .flat_map(|t| {
            let tpl = &t.template;
            let name = format!("{}/{} {}", tpl.namespace_name, tpl.name, tpl.version);
            tpl.step_templates
                .iter()
                .filter(|s| !inner.handlers.contains(&s.handler))
                .map(move |s| (name.clone(), s.name.clone(), s.handler.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    missing.sort();
    missing
}

/// Reports missing handlers as the client's `on_missing_handler` says.
pub fn check_handlers(client: &Client) -> Result<()> {
    let policy = client.inner.config.on_missing_handler;
    if policy == Strictness::Ignore {
        return Ok(());
    }
    let missing = missing_handlers(client);
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing
        .iter()
        .map(|(t, s, h)| format!("'{h}' (step '{s}' of {t})"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = format!(
        "no handler registered for {list}: a worker would fail those steps with HandlerNotFound"
    );
    match policy {
        Strictness::Error => Err(Error::HandlerSetup(format!(
            "worker not started (on_missing_handler: error): {message}"
        ))),
        _ => {
            tracing::warn!("{message}");
            Ok(())
        }
    }
}
