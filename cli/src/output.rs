//! `Output`: where a command's result goes — a JSON document (`--json`) or text — and the text
//! helpers shared by the commands (durations, times).

use crate::error::CliError;
use serde::Serialize;
use std::io::Write;

pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints `doc` as one line of JSON, or the text `text` builds.
    pub fn print<T: Serialize>(
        &self,
        doc: &T,
        text: impl FnOnce() -> String,
    ) -> Result<(), CliError> {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            serde_json::to_writer(&mut stdout, doc)?;
            stdout.write_all(b"\n")?;
        } else {
            stdout.write_all(text().as_bytes())?;
        }
        stdout.flush()?;
        Ok(())
    }

    /// Reports a failure on stderr: `{"error": {"kind", "message", "exit_code"}}` with
    /// `--json` (plus `cycle` for a template cycle), else `tasker: message`.
    pub fn error(&self, e: &CliError) {
        let mut stderr = std::io::stderr().lock();
        if self.json {
            let mut doc = serde_json::json!({
                "kind": e.kind(),
                "message": e.to_string(),
                "exit_code": e.exit_code(),
            });
            if let CliError::Tasker(tasker::Error::TemplateCycle { cycle, .. }) = e {
                doc["cycle"] = serde_json::json!(cycle);
            }
            let _ = writeln!(stderr, "{}", serde_json::json!({ "error": doc }));
        } else {
            let _ = writeln!(stderr, "tasker: {e}");
        }
    }
}

/// A duration in milliseconds for people: `850ms`, `12.3s`, `4m05s`, `2h03m`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1_000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1_000)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

/// The widest of these texts, in characters (for aligning columns).
pub fn max_width<'a>(texts: impl IntoIterator<Item = &'a str>) -> usize {
    texts
        .into_iter()
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(0)
}

/// The serde name of an enum value (`has_ready_steps`), as `--json` prints it.
pub fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".into(),
    }
}

/// The current time in epoch milliseconds (the library's clock unit).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn health_text(h: &tasker::HealthCounts) -> String {
    let row = |what: &str, total, pending, running, complete, error, cancelled, resolved| {
        format!(
            "{what:<6} {total:>8} {pending:>8} {running:>12} {complete:>9} {error:>7} {cancelled:>10} {resolved:>18}\n"
        )
    };
    let mut s = format!(
        "{:<6} {:>8} {:>8} {:>12} {:>9} {:>7} {:>10} {:>18}\n",
        "",
        "total",
        "pending",
        "in_progress",
        "complete",
        "error",
        "cancelled",
        "resolved_manually"
    );
    s += &row(
        "tasks",
        h.total_tasks,
        h.pending_tasks,
        h.in_progress_tasks,
        h.complete_tasks,
        h.error_tasks,
        h.cancelled_tasks,
        h.resolved_manually_tasks,
    );
    s += &row(
        "steps",
        h.total_steps,
        h.pending_steps,
        h.in_progress_steps,
        h.complete_steps,
        h.error_steps,
        h.cancelled_steps,
        h.resolved_manually_steps,
    );
    s += &format!(
        "steps: {} retryable errors, {} out of retries, {} in backoff, {} with an expired lease\n",
        h.retryable_error_steps, h.exhausted_retry_steps, h.in_backoff_steps, h.expired_lease_steps
    );
    s
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(-5), "0ms");
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(245_000), "4m05s");
        assert_eq!(duration(7_380_000), "2h03m");
    }
}
