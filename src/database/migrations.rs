//! The schema migrations, embedded in the library and handed to sqlx's `Migrator`.

use crate::Result;

/// The schema migrations, embedded in the library: (version, description, SQL). `sqlx::migrate!`
/// did the same but needs sqlx's proc macros, which compile sqlx and SQLite a second time for the
/// build host (a fifth of a clean release build here). A migration's checksum is the SHA-384 of
/// its SQL either way, so databases migrated by earlier builds stay valid. A test checks that
/// this list matches the files in migrations/.
pub(crate) const PG_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial schema",
        include_str!("../../migrations/postgres/0001_initial_schema.sql"),
    ),
    (
        2,
        "claim order indexes",
        include_str!("../../migrations/postgres/0002_claim_order_indexes.sql"),
    ),
    (
        3,
        "insert only transitions",
        include_str!("../../migrations/postgres/0003_insert_only_transitions.sql"),
    ),
    (
        4,
        "hot task updates",
        include_str!("../../migrations/postgres/0004_hot_task_updates.sql"),
    ),
    (
        5,
        "task finished notify",
        include_str!("../../migrations/postgres/0005_task_finished_notify.sql"),
    ),
    (
        6,
        "steps exhausted index",
        include_str!("../../migrations/postgres/0006_steps_exhausted_index.sql"),
    ),
    (
        7,
        "transition foreign keys",
        include_str!("../../migrations/postgres/0007_transition_foreign_keys.sql"),
    ),
    (
        8,
        "steps error index",
        include_str!("../../migrations/postgres/0008_steps_error_index.sql"),
    ),
    (
        9,
        "schedules",
        include_str!("../../migrations/postgres/0009_schedules.sql"),
    ),
    (
        11,
        "step checkpoints",
        include_str!("../../migrations/postgres/0011_step_checkpoints.sql"),
    ),
    (
        14,
        "step timeouts",
        include_str!("../../migrations/postgres/0014_step_timeouts.sql"),
    ),
    (
        15,
        "step priority",
        include_str!("../../migrations/postgres/0015_step_priority.sql"),
    ),
    (
        16,
        "batch failure",
        include_str!("../../migrations/postgres/0016_batch_failure.sql"),
    ),
    (
        17,
        "task deadlines",
        include_str!("../../migrations/postgres/0017_task_deadlines.sql"),
    ),
    (
        18,
        "concurrency limits",
        include_str!("../../migrations/postgres/0018_concurrency_limits.sql"),
    ),
    (
        19,
        "rate limits",
        include_str!("../../migrations/postgres/0019_rate_limits.sql"),
    ),
    (
        20,
        "step foreign keys",
        include_str!("../../migrations/postgres/0020_step_foreign_keys.sql"),
    ),
    (
        21,
        "task finish watch",
        include_str!("../../migrations/postgres/0021_task_finish_watch.sql"),
    ),
    (
        22,
        "domain checks",
        include_str!("../../migrations/postgres/0022_domain_checks.sql"),
    ),
    (
        23,
        "lease index predicate",
        include_str!("../../migrations/postgres/0023_lease_index_predicate.sql"),
    ),
    (
        24,
        "finish watched on transitions",
        include_str!("../../migrations/postgres/0024_finish_watched_on_transitions.sql"),
    ),
];
pub(crate) const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial schema",
        include_str!("../../migrations/sqlite/0001_initial_schema.sql"),
    ),
    (
        2,
        "claim order indexes",
        include_str!("../../migrations/sqlite/0002_claim_order_indexes.sql"),
    ),
    (
        3,
        "insert only transitions",
        include_str!("../../migrations/sqlite/0003_insert_only_transitions.sql"),
    ),
    (
        4,
        "hot task updates",
        include_str!("../../migrations/sqlite/0004_hot_task_updates.sql"),
    ),
    (
        5,
        "steps exhausted index",
        include_str!("../../migrations/sqlite/0005_steps_exhausted_index.sql"),
    ),
    (
        6,
        "steps error index",
        include_str!("../../migrations/sqlite/0006_steps_error_index.sql"),
    ),
    (
        7,
        "schedules",
        include_str!("../../migrations/sqlite/0007_schedules.sql"),
    ),
    (
        9,
        "step checkpoints",
        include_str!("../../migrations/sqlite/0009_step_checkpoints.sql"),
    ),
    (
        12,
        "step timeouts",
        include_str!("../../migrations/sqlite/0012_step_timeouts.sql"),
    ),
    (
        13,
        "step priority",
        include_str!("../../migrations/sqlite/0013_step_priority.sql"),
    ),
    (
        14,
        "batch failure",
        include_str!("../../migrations/sqlite/0014_batch_failure.sql"),
    ),
    (
        15,
        "task deadlines",
        include_str!("../../migrations/sqlite/0015_task_deadlines.sql"),
    ),
    (
        16,
        "concurrency limits",
        include_str!("../../migrations/sqlite/0016_concurrency_limits.sql"),
    ),
    (
        17,
        "rate limits",
        include_str!("../../migrations/sqlite/0017_rate_limits.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl sqlx::migrate::MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = std::result::Result<
                        Vec<sqlx::migrate::Migration>,
                        sqlx::error::BoxDynError,
                    >,
                > + Send,
        >,
    > {
        use std::borrow::Cow;
        let migrations = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                sqlx::migrate::Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    sqlx::migrate::MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

pub(crate) async fn migrator(
    m: &'static [(i64, &'static str, &'static str)],
) -> Result<sqlx::migrate::Migrator> {
    Ok(sqlx::migrate::Migrator::new(Embedded(m)).await?)
}

#[cfg(test)]
mod tests {
    /// Every file in migrations/<backend>/ is embedded, in order, with its version.
    #[test]
    fn embedded_migrations_match_the_files() {
        for (dir, list) in [
            ("postgres", super::PG_MIGRATIONS),
            ("sqlite", super::SQLITE_MIGRATIONS),
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut files: Vec<(i64, String)> = std::fs::read_dir(&path)
                .expect("migrations directory")
                .map(|e| {
                    e.expect("dir entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .filter(|n| n.ends_with(".sql"))
                .map(|n| {
                    let version = n
                        .split('_')
                        .next()
                        .and_then(|v| v.parse().ok())
                        .expect("NNNN_name.sql");
                    let sql = std::fs::read_to_string(path.join(&n)).expect("readable");
                    (version, sql)
                })
                .collect();
            files.sort();
            let embedded: Vec<(i64, String)> =
                list.iter().map(|(v, _, s)| (*v, s.to_string())).collect();
            assert_eq!(
                files, embedded,
                "migrations/{dir} and the embedded list differ"
            );
            assert!(list
                .iter()
                .all(|(_, _, s)| !s.starts_with("-- no-transaction")));
        }
    }
}
