//! A decision's completion: the steps it chose, their edges and the decision's own outcome
//! in ONE transaction. Created once: the fencing check comes first (a stale claim creates
//! nothing), and the (task_id, name) and (from_step_id, to_step_id) keys with ON CONFLICT DO
//! NOTHING make a replay insert nothing even if it got past the fence.

use super::*;
use sqlx::{QueryBuilder, Row};

impl Backend {
    /// Completes the decision step `step_id` (fenced by `claim_token`) after creating what
    /// `plan` lists that the task does not have yet. Returns the completion and the steps
    /// created (id, name) in plan order.
    pub async fn complete_decision(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
        plan: &DecisionPlan,
    ) -> Result<(StepSettled, Vec<(i64, String)>)> {
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let task_state = Self::lock_task(tx, task_id).await?;
        // The steps it creates take the decision's priority: every step of a task has the
        // task's priority.
        let live: Option<i64> = sqlx::query_scalar(
            "SELECT priority FROM tasker_workflow_steps \
             WHERE workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress'",
        )
        .bind(step_id)
        .bind(claim_token)
        .fetch_optional(&mut **tx)
        .await?;
        let mut created = Vec::new();
        if let Some(priority) = live.filter(|_| task_state != State::Cancelled) {
            created = Self::create_chosen(tx, task_id, plan, now, priority).await?;
        }
        // The decision's own outcome last: its children (the chosen steps) lose it as a
        // pending parent, and the task completes only if nothing was created.
        let out = Self::complete_locked(
            tx,
            task_id,
            task_state,
            None,
            step_id,
            claim_token,
            results,
            now,
        )
        .await?;
        if !out.task_finished && !out.newly_ready.is_empty() {
            Self::notify_ready(tx).await?;
        }
        w.tx.commit().await?;
        Ok((out, created))
    }

    /// Inserts the plan's steps and edges that do not exist yet, counts the new steps in the
    /// task, and recounts the pending parents of every step that gained a parent.
    async fn create_chosen(
        tx: &mut Tx,
        task_id: i64,
        plan: &DecisionPlan,
        now: i64,
        priority: i64,
    ) -> Result<Vec<(i64, String)>> {
        let ids = Self::insert_steps(tx, task_id, &plan.steps, now, now, priority, true).await?;
        let created: Vec<(i64, String)> = plan
            .steps
            .iter()
            .filter_map(|s| ids.get(&s.name).map(|id| (*id, s.name.clone())))
            .collect();
        if !created.is_empty() {
            let initial: Vec<(i64, bool)> = created.iter().map(|(id, _)| (*id, false)).collect();
            Self::insert_initial_transitions(tx, &initial, now).await?;
            let n = i64::try_from(created.len()).map_err(|e| Error::Internal(e.to_string()))?;
            sqlx::query(
                "UPDATE tasker_tasks SET unfinished_steps = unfinished_steps + $2, \
                 total_steps = total_steps + $2, updated_at = $3 WHERE task_id = $1",
            )
            .bind(task_id)
            .bind(n)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        // Edges by name, set-based (a batch fan-out has two per batch): one whose ends do not
        // both exist (a branch not chosen) joins nothing. `WHERE true` lets SQLite parse the
        // ON CONFLICT after a SELECT with joins.
        let mut gained: Vec<i64> = created.iter().map(|(id, _)| *id).collect();
        for chunk in plan.edges.chunks(1000) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new("WITH v(fname, tname) AS (");
            qb.push_values(chunk, |mut b, (from, to)| {
                b.push_bind(from.clone()).push_bind(to.clone());
            });
            qb.push(
                ") INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, updated_at) \
                 SELECT f.workflow_step_id, c.workflow_step_id, 'provides', ",
            );
            qb.push_bind(now)
                .push(", ")
                .push_bind(now)
                .push(" FROM v JOIN tasker_workflow_steps f ON f.name = v.fname AND f.task_id = ");
            qb.push_bind(task_id).push(
                " JOIN tasker_workflow_steps c ON c.name = v.tname AND c.task_id = f.task_id \
                 WHERE true ON CONFLICT (from_step_id, to_step_id) DO NOTHING RETURNING to_step_id",
            );
            for r in qb.build().fetch_all(&mut **tx).await? {
                gained.push(r.try_get(0)?);
            }
        }
        gained.sort_unstable();
        gained.dedup();
        // Recounted rather than incremented: the same rule as creation (a parent not complete
        // or resolved counts), whatever subset of the edges was new.
        for chunk in gained.chunks(500) {
            let list = (2..chunk.len() + 2)
                .map(|k| format!("${k}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE tasker_workflow_steps AS s SET pending_parents = \
                 (SELECT COUNT(*) {DEPS_FROM} WHERE e.to_step_id = s.workflow_step_id \
                 AND p.state NOT IN ('complete','resolved_manually')), updated_at = $1 \
                 WHERE s.workflow_step_id IN ({list}) AND s.state = 'pending'"
            );
            let mut q = sqlx::query(&sql).bind(now);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(created)
    }
}
