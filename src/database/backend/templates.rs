//! Task templates: namespaces, named tasks, dependent systems and named steps.

use super::*;
use sqlx::types::Json;
use sqlx::Row;
use std::collections::HashMap;

/// How many times a registration that PostgreSQL chose as a deadlock victim is retried. The
/// deterministic lock order below leaves no cycle among registrations themselves; the retry
/// covers other writers of these rows (an operator's own statements).
const DEADLOCK_RETRIES: u32 = 3;

/// SQLSTATE 40P01, deadlock_detected (PostgreSQL; SQLite has no deadlocks, its writers queue).
fn is_deadlock(e: &Error) -> bool {
    match e {
        Error::Database(sqlx::Error::Database(d)) => d.code().as_deref() == Some("40P01"),
        _ => false,
    }
}

impl Backend {
    /// Registers a template's rows. Rows shared between templates (namespace, dependent systems,
    /// named steps) are upserted in one global order — namespace, then systems sorted by name,
    /// then steps sorted by (system, name) — so two registrations that share them in opposite
    /// template order take their row locks in the same order and cannot deadlock.
    pub async fn upsert_template(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
        description: Option<&str>,
        configuration: &Value,
        steps: &[(String, String, Option<String>)],
        now: i64,
    ) -> Result<(i64, Vec<i64>)> {
        let mut attempt = 0u32;
        loop {
            let once: Result<(i64, Vec<i64>)> = async {
                let mut w = self.begin().await?;
                let tx = &mut w.tx;
                let ns_id: i64 = sqlx::query_scalar(
                    "INSERT INTO tasker_task_namespaces (name, created_at, updated_at) VALUES ($1, $2, $2) \
                     ON CONFLICT (name) DO UPDATE SET updated_at = EXCLUDED.updated_at RETURNING task_namespace_id",
                )
                .bind(namespace)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?;
                let named_task_id: i64 = sqlx::query_scalar(
                    "INSERT INTO tasker_named_tasks (task_namespace_id, name, version, description, configuration, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6) \
                     ON CONFLICT (task_namespace_id, name, version) DO UPDATE SET \
                     description = EXCLUDED.description, configuration = EXCLUDED.configuration, updated_at = EXCLUDED.updated_at \
                     RETURNING named_task_id",
                )
                .bind(ns_id)
                .bind(name)
                .bind(version)
                .bind(description)
                .bind(Json(configuration))
                .bind(now)
                .fetch_one(&mut **tx)
                .await?;
                let mut system_names: Vec<&str> = steps.iter().map(|(_, sys, _)| sys.as_str()).collect();
                system_names.sort_unstable();
                system_names.dedup();
                let mut systems: HashMap<&str, i64> = HashMap::with_capacity(system_names.len());
                for system in system_names {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO tasker_dependent_systems (name, created_at, updated_at) VALUES ($1, $2, $2) \
                         ON CONFLICT (name) DO UPDATE SET updated_at = EXCLUDED.updated_at RETURNING dependent_system_id",
                    )
                    .bind(system)
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await?;
                    systems.insert(system, id);
                }
                // Steps in (system, name) order; the ids go back in the template's order.
                let mut order: Vec<usize> = (0..steps.len()).collect();
                order.sort_by(|&a, &b| (&steps[a].1, &steps[a].0).cmp(&(&steps[b].1, &steps[b].0)));
                let mut ids = vec![0i64; steps.len()];
                for i in order {
                    let (step_name, system, desc) = &steps[i];
                    let sys_id = systems.get(system.as_str()).copied().ok_or_else(|| {
                        Error::Internal(format!("dependent system '{system}' was not upserted"))
                    })?;
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO tasker_named_steps (dependent_system_id, name, description, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $4) \
                         ON CONFLICT (dependent_system_id, name) DO UPDATE SET updated_at = EXCLUDED.updated_at \
                         RETURNING named_step_id",
                    )
                    .bind(sys_id)
                    .bind(step_name)
                    .bind(desc.as_deref())
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await?;
                    ids[i] = id;
                }
                w.tx.commit().await?;
                Ok((named_task_id, ids))
            }
            .await;
            match once {
                Err(e) if is_deadlock(&e) && attempt < DEADLOCK_RETRIES => {
                    attempt += 1;
                    tracing::warn!(
                        namespace,
                        name,
                        version,
                        attempt,
                        "template registration deadlocked; retrying"
                    );
                }
                other => return other,
            }
        }
    }

    pub async fn template_configurations(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<(String, Value)>> {
        let rows = sqlx::query(
            "SELECT nt.version, nt.configuration FROM tasker_named_tasks nt \
             JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id \
             WHERE ns.name = $1 AND nt.name = $2",
        )
        .bind(namespace)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let v: String = r.try_get("version")?;
                let c: Json<Value> = r.try_get("configuration")?;
                Ok((v, c.0))
            })
            .collect()
    }

    /// The configuration of every registered template version (for listing them).
    pub async fn all_template_configurations(&self) -> Result<Vec<Value>> {
        let rows = sqlx::query("SELECT configuration FROM tasker_named_tasks")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<Json<Value>, _>("configuration")?.0))
            .collect()
    }
}
