//! Purge documents: which finished tasks `purge_tasks` deletes, and what it deleted.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// The batch size when a request names none, and the largest one allowed (not `pub`: cbindgen
// would put them in the C header).
pub(crate) const DEFAULT_PURGE_BATCH: u32 = 500;
const MAX_PURGE_BATCH: u32 = 10_000;

/// What `purge_tasks` deletes: tasks `complete` or `cancelled` whose finish (`completed_at`,
/// else their last update) is before `finished_before` (epoch milliseconds), of the `template`
/// when one is named, with their steps, edges, transitions and annotations. Tasks in any other
/// state are never touched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PurgeRequest {
    pub finished_before: i64,
    /// Counts what would be deleted; deletes nothing.
    pub dry_run: bool,
    /// Tasks per transaction (default 500, at most 10,000): each batch commits on its own, so
    /// a large purge never holds locks or a transaction for long.
    pub batch_size: Option<u32>,
    /// Only the tasks of this template (every template when absent).
    pub template: Option<PurgeTemplate>,
}

/// The template whose tasks a purge deletes: `name`, in `namespace` and of `version` when
/// given (absent: any, as in the task filter). Empty strings are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PurgeTemplate {
    pub name: String,
    pub namespace: Option<String>,
    pub version: Option<String>,
}

/// What `purge_tasks` deleted (or, with `dry_run`, would delete).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PurgeReport {
    pub dry_run: bool,
    pub tasks: u64,
    pub steps: u64,
    /// Transactions (dry run: reads) it took.
    pub batches: u64,
}

impl PurgeRequest {
    /// The batch size asked for, checked.
    pub(crate) fn batch(&self) -> crate::Result<u32> {
        match self.batch_size.unwrap_or(DEFAULT_PURGE_BATCH) {
            n @ 1..=MAX_PURGE_BATCH => Ok(n),
            n => Err(crate::Error::InvalidDocument {
                path: "batch_size".into(),
                reason: format!("is {n}: a batch holds 1 to {MAX_PURGE_BATCH} tasks"),
            }),
        }
    }

    /// The template filter, when given, names a template: an empty name (or an empty namespace
    /// or version) would match nothing and purge nothing silently, so it is refused.
    pub(crate) fn check_template(&self) -> crate::Result<()> {
        let Some(t) = &self.template else {
            return Ok(());
        };
        let fields = [
            ("template.name", Some(&t.name)),
            ("template.namespace", t.namespace.as_ref()),
            ("template.version", t.version.as_ref()),
        ];
        match fields
            .into_iter()
            .find(|(_, v)| v.is_some_and(|v| v.trim().is_empty()))
        {
            Some((path, _)) => Err(crate::Error::InvalidDocument {
                path: path.into(),
                reason: "is empty: name a template (or leave the field out)".into(),
            }),
            None => Ok(()),
        }
    }
}
