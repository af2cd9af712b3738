//! Task templates: namespaces, named tasks, dependent systems and named steps.

use super::*;
use sqlx::types::Json;
use sqlx::Row;
use std::collections::HashMap;

impl Backend {
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
        let mut systems: HashMap<&str, i64> = HashMap::new();
        let mut ids = Vec::with_capacity(steps.len());
        for (step_name, system, desc) in steps {
            let sys_id = match systems.get(system.as_str()) {
                Some(id) => *id,
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO tasker_dependent_systems (name, created_at, updated_at) VALUES ($1, $2, $2) \
                         ON CONFLICT (name) DO UPDATE SET updated_at = EXCLUDED.updated_at RETURNING dependent_system_id",
                    )
                    .bind(system)
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await?;
                    systems.insert(system.as_str(), id);
                    id
                }
            };
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
            ids.push(id);
        }
        w.tx.commit().await?;
        Ok((named_task_id, ids))
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
}
