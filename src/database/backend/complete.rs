//! TaskFinalizer, transactional path: completing claimed steps (one or a group) of a task in
//! any state, releasing their children and completing their tasks when nothing is left; and
//! complete-and-claim for inline runs.
//!
//! On PostgreSQL `complete_step` and a group without a claim go first through the
//! one-statement path (`complete_autocommit.rs`), which writes the steps of running tasks and
//! hands the rest (stale claims, cancelled, blocked or pending tasks) back to this file. Two
//! statement shapes remain: the single-step path (`complete_in`, `complete_one.rs`: task lock
//! and count in one statement, then outcome, transition and children in one more) and the
//! group path here (lock, outcomes, transitions, children, counters). Both use the one
//! transition writer and the decrement statements of `counters.rs`. Complete-and-claim goes
//! first through the dialect's fast path (`complete_step_and_claim_fast`: on PostgreSQL one
//! call of a server-side function, `complete_and_claim_fn.rs`; on SQLite the writer
//! connection's raw handle, `sqlite_raw_complete.rs`), with the same hand-back.

use super::complete_autocommit::CompletionRow;
use super::*;
use crate::state_machine::Entity;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

impl Backend {
    pub async fn complete_step(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
    ) -> Result<StepSettled> {
        if PG {
            let row = CompletionRow {
                id: step_id,
                token: claim_token,
                task: task_id,
                results,
            };
            if let Some(Some(settled)) = self
                .complete_autocommit(std::slice::from_ref(&row), now)
                .await?
                .pop()
            {
                return Ok(settled);
            }
        }
        let mut w = self.begin().await?;
        let out = Self::complete_in(&mut w.tx, task_id, step_id, claim_token, results, now).await?;
        if !out.task_finished && !out.newly_ready.is_empty() {
            Self::notify_ready(&mut w.tx).await?;
        }
        w.tx.commit().await?;
        Ok(out)
    }

    /// Completes a step and, in the SAME transaction, claims (and loads) up to `limit` ready
    /// steps of its task — typically the children this completion just released. An inline run
    /// thereby pays one commit per step instead of two (on PostgreSQL also one round trip: the
    /// complete-and-claim function, falling back to this transaction for what it leaves). The
    /// completion is exactly that of [`Backend::complete_step`] (fenced, children and task completion included); the task row
    /// is already locked by it, so the claim respects the lock order. Other workers are woken
    /// only for released steps this claim did not take. Returns the completion, the new claims
    /// and the claims' transition records.
    pub async fn complete_step_and_claim(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
        limit: i64,
    ) -> Result<CompletedAndClaimed> {
        // The dialect's fast path first (PostgreSQL: one function call; SQLite: the writer's
        // raw handle); what it does not take runs the transaction below.
        if let Some(out) = self
            .complete_step_and_claim_fast(task_id, step_id, claim_token, results, now, limit)
            .await?
        {
            return Ok(out);
        }
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let out = Self::complete_in(tx, task_id, step_id, claim_token, results, now).await?;
        let mut rec = Vec::new();
        let mut next = Vec::new();
        if !out.discarded && !out.task_finished && limit > 0 {
            let token = uuid::Uuid::new_v4().simple().to_string();
            let (claimed, loaded) = Self::claim_in(
                tx,
                &mut rec,
                ClaimScope::Task(task_id),
                limit,
                now,
                &token,
                true,
                self.claim_lease_ms,
            )
            .await?;
            next = claimed.into_iter().zip(loaded).collect::<Vec<_>>();
        }
        if !out.task_finished
            && out
                .newly_ready
                .iter()
                .any(|id| !next.iter().any(|(c, _)| c.step_id == *id))
        {
            Self::notify_ready(tx).await?;
        }
        w.tx.commit().await?;
        Ok((out, next, rec))
    }

    /// Completes several claimed steps in ONE transaction (a worker's batch: one commit, and so
    /// one WAL flush, for the group instead of one per step). Each step's outcome, children and
    /// task completion are written exactly as by [`Backend::complete_step`], fenced by its own
    /// claim token; a stale claim only drops that step's outcome (`Err(StaleClaim)` in its slot,
    /// nothing written for it), the others still commit. Task rows are locked first, in task-id
    /// order, so two groups (or a group and any single-task transaction) cannot deadlock.
    pub async fn complete_steps(
        &self,
        items: &[Completion],
        now: i64,
    ) -> Result<Vec<Result<StepSettled>>> {
        Ok(self.complete_steps_and_claim(items, now, None).await?.0)
    }

    /// [`Backend::complete_steps`], then — with `claim = Some((task_id, limit))`, the task being
    /// one of the group's — claims and loads up to `limit` ready steps of that task in the same
    /// transaction (an inline run's batch: its children come back without another commit; on
    /// PostgreSQL one call of the complete-and-claim function, when it settles the group).
    pub async fn complete_steps_and_claim(
        &self,
        items: &[Completion],
        now: i64,
        claim: Option<(i64, i64)>,
    ) -> Result<(Vec<Result<StepSettled>>, Vec<ClaimedStep>, Vec<Recorded>)> {
        if !PG {
            return self.complete_steps_in_tx(items, now, claim).await;
        }
        // PostgreSQL: one call for the group (the complete-and-claim function with a claim,
        // else one statement); what it left (stale claims, tasks not in progress) takes the
        // transactional path, which also claims if the call claimed nothing.
        let rows: Vec<CompletionRow<'_>> = items.iter().map(CompletionRow::from).collect();
        let (fast, mut next, mut rec) = match claim {
            Some((task_id, limit)) if limit > 0 => {
                self.complete_and_claim_fn(&rows, now, task_id, limit)
                    .await?
            }
            _ => (
                self.complete_autocommit(&rows, now).await?,
                Vec::new(),
                Vec::new(),
            ),
        };
        let rest: Vec<Completion> = items
            .iter()
            .zip(&fast)
            .filter(|(_, f)| f.is_none())
            .map(|(i, _)| i.clone())
            .collect();
        let mut slow = if rest.is_empty() {
            Vec::new()
        } else {
            let claim = claim.filter(|_| next.is_empty());
            let (slow, n, r) = self.complete_steps_in_tx(&rest, now, claim).await?;
            next.extend(n);
            rec.extend(r);
            slow
        }
        .into_iter();
        let mut out = Vec::with_capacity(items.len());
        for f in fast {
            out.push(match f {
                Some(settled) => Ok(settled),
                None => slow
                    .next()
                    .ok_or_else(|| Error::Internal("completion left unsettled".into()))?,
            });
        }
        Ok((out, next, rec))
    }

    /// The transactional group completion (every case; see `complete_steps_and_claim`).
    async fn complete_steps_in_tx(
        &self,
        items: &[Completion],
        now: i64,
        claim: Option<(i64, i64)>,
    ) -> Result<(Vec<Result<StepSettled>>, Vec<ClaimedStep>, Vec<Recorded>)> {
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let mut task_ids: Vec<i64> = items.iter().map(|i| i.task_id).collect();
        task_ids.sort_unstable();
        task_ids.dedup();
        let list = (1..=task_ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT task_id, state FROM tasker_tasks WHERE task_id IN ({list}) ORDER BY task_id{}",
            sql::LOCK_ROWS
        );
        let mut q = sqlx::query(&sql);
        for id in &task_ids {
            q = q.bind(*id);
        }
        let mut states: HashMap<i64, State> = HashMap::with_capacity(task_ids.len());
        for r in q.fetch_all(&mut **tx).await? {
            states.insert(r.try_get(0)?, state_of(&r.try_get::<String, _>(1)?)?);
        }

        // Results by item index; None until settled.
        let mut out: Vec<Option<Result<StepSettled>>> = (0..items.len()).map(|_| None).collect();
        // Children this group released (woken workers take them unless our own claim does).
        let mut released: Vec<i64> = Vec::new();
        // Steps of cancelled tasks take the (rare) one-by-one discard path.
        let mut batch = Vec::with_capacity(items.len());
        for (n, i) in items.iter().enumerate() {
            let state = *states
                .get(&i.task_id)
                .ok_or(Error::TaskNotFound(i.task_id))?;
            if state == State::Cancelled {
                out[n] = Some(
                    match Self::complete_locked(
                        tx,
                        i.task_id,
                        state,
                        None,
                        i.step_id,
                        &i.claim_token,
                        &i.results,
                        now,
                    )
                    .await
                    {
                        Err(Error::StaleClaim(id)) => Err(Error::StaleClaim(id)),
                        Err(e) => return Err(e),
                        Ok(settled) => {
                            released.extend(settled.newly_ready.iter().copied());
                            Ok(settled)
                        }
                    },
                );
            } else {
                batch.push(n);
            }
        }
        if !batch.is_empty() {
            ensure_allowed(Entity::Step, State::InProgress, State::Complete)?;
            // 1. The fenced outcomes, all in one statement: a row comes back only where the claim
            //    token still matches; the others are stale and nothing is written for them.
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE tasker_workflow_steps AS s SET state = 'complete', results = v.results, processed_at = ",
            );
            qb.push_bind(now);
            qb.push(
                ", claim_token = NULL, lease_expires_at = NULL, ready_at = NULL, updated_at = ",
            );
            qb.push_bind(now);
            qb.push(" FROM (");
            for (k, n) in batch.iter().enumerate() {
                let i = &items[*n];
                qb.push(if k == 0 {
                    "SELECT "
                } else {
                    " UNION ALL SELECT "
                });
                qb.push_bind(i.step_id);
                qb.push(" AS id, ");
                qb.push_bind(i.claim_token.as_str());
                qb.push(" AS token, ");
                qb.push_bind(Json(&i.results));
                qb.push(" AS results");
            }
            qb.push(
                ") AS v WHERE s.workflow_step_id = v.id AND s.claim_token = v.token AND s.state = 'in_progress' \
                 RETURNING workflow_step_id, name, attempts, last_attempted_at",
            );
            let mut done: HashMap<i64, (String, i64, Option<i64>)> =
                HashMap::with_capacity(batch.len());
            for r in qb.build().fetch_all(&mut **tx).await? {
                done.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
            }
            // 2. Their transition rows, one statement.
            let mut rows = Vec::with_capacity(done.len());
            let mut completed = Vec::with_capacity(done.len());
            for n in &batch {
                let i = &items[*n];
                match done.get(&i.step_id) {
                    None => out[*n] = Some(Err(Error::StaleClaim(i.step_id))),
                    Some((name, attempts, started)) => {
                        completed.push(*n);
                        rows.push(TransitionRow {
                            task_id: i.task_id,
                            id: i.step_id,
                            step_name: Some(name.clone()),
                            from: Some(State::InProgress),
                            to: State::Complete,
                            metadata: serde_json::json!({"attempt": attempts, "execution_duration_ms": now - started.unwrap_or(now)}),
                        });
                    }
                }
            }
            let mut step_rec = Vec::with_capacity(rows.len());
            Self::transitions(tx, &mut step_rec, Entity::Step, &rows, now).await?;
            let mut settled: Vec<StepSettled> = step_rec
                .into_iter()
                .map(|r| StepSettled {
                    recorded: vec![r],
                    ..Default::default()
                })
                .collect();
            if !completed.is_empty() {
                // 3. Children of every completed step, one statement (a child with two parents
                //    in the group loses two).
                let list = (2..completed.len() + 2)
                    .map(|k| format!("${k}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = release_children_sql(&list, "$1", RELEASED);
                let mut q = sqlx::query(&sql).bind(now);
                for n in &completed {
                    q = q.bind(items[*n].step_id);
                }
                let ready = ready_children(&q.fetch_all(&mut **tx).await?)?;
                // (Which parent released a child only matters for waking workers: all go to the
                // first completion of the group.)
                released.extend(ready.iter().copied());
                settled[0].newly_ready = ready;
                // 4. The tasks' unfinished counters, one statement.
                let mut per_task: Vec<(i64, i64)> = Vec::new();
                for n in &completed {
                    match per_task.iter_mut().find(|(t, _)| *t == items[*n].task_id) {
                        Some((_, c)) => *c += 1,
                        None => per_task.push((items[*n].task_id, 1)),
                    }
                }
                let mut args = NumberedArgs::default();
                let now_p = args.int(now);
                let counts = per_task
                    .iter()
                    .map(|(task_id, n)| {
                        format!(
                            "SELECT {} AS tid, {} AS n",
                            args.int(*task_id),
                            args.int(*n)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                let sql = count_finished_sql(&counts, &now_p, false);
                let mut finished = Vec::new();
                for r in args.bind(sqlx::query(&sql)).fetch_all(&mut **tx).await? {
                    if r.try_get::<i64, _>(1)? == 0 {
                        finished.push(r.try_get::<i64, _>(0)?);
                    }
                }
                // 5. Tasks with nothing left complete, in the same transaction; their events
                //    follow their last step's.
                finished.sort_unstable();
                for task_id in finished {
                    let k = completed
                        .iter()
                        .rposition(|n| items[*n].task_id == task_id)
                        .ok_or_else(|| {
                            Error::Internal("finished task without a completion".into())
                        })?;
                    let state = states[&task_id];
                    Self::drive_task(
                        tx,
                        &mut settled[k].recorded,
                        task_id,
                        state,
                        State::Complete,
                        serde_json::json!({}),
                        now,
                    )
                    .await?;
                    settled[k].task_finished = true;
                    states.insert(task_id, State::Complete);
                }
            }
            for (n, s) in completed.into_iter().zip(settled) {
                out[n] = Some(Ok(s));
            }
        }
        let mut claim_rec = Vec::new();
        let mut next: Vec<ClaimedStep> = Vec::new();
        if let Some((task_id, limit)) = claim {
            // Only a task this transaction has locked (lock order) and that is still active.
            if limit > 0
                && matches!(
                    states.get(&task_id),
                    Some(State::Pending | State::InProgress)
                )
            {
                let token = uuid::Uuid::new_v4().simple().to_string();
                let (claimed, loaded) = Self::claim_in(
                    tx,
                    &mut claim_rec,
                    ClaimScope::Task(task_id),
                    limit,
                    now,
                    &token,
                    true,
                    self.claim_lease_ms,
                )
                .await?;
                next = claimed.into_iter().zip(loaded).collect();
            }
        }
        if released
            .iter()
            .any(|id| !next.iter().any(|(c, _)| c.step_id == *id))
        {
            Self::notify_ready(tx).await?;
        }
        w.tx.commit().await?;
        let out = out
            .into_iter()
            .map(|o| o.ok_or_else(|| Error::Internal("completion left unsettled".into())))
            .collect::<Result<Vec<_>>>()?;
        Ok((out, next, claim_rec))
    }
}
