//! The PostgreSQL LISTEN loop: wakes idle workers when another process made steps ready
//! (NOTIFY on `READY_CHANNEL`) and `wait_task` callers when a task finished or became blocked
//! (`FINISHED_CHANNEL`, sent by a trigger). Reconnects after a lost connection; ends when the
//! pool closes.

use super::{FINISHED_CHANNEL, READY_CHANNEL};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Spawns the loop on `rt`; a notification on `READY_CHANNEL` wakes the waiters of `ready`,
/// one on `FINISHED_CHANNEL` those of `settled`.
pub(crate) fn spawn_ready_listener(
    rt: &tokio::runtime::Runtime,
    pool: sqlx::PgPool,
    ready: Arc<tokio::sync::Notify>,
    settled: Arc<tokio::sync::Notify>,
) {
    rt.spawn(
        async move {
            loop {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut l) => {
                        if let Err(e) = l.listen_all([READY_CHANNEL, FINISHED_CHANNEL]).await {
                            tracing::warn!(error = %e, "LISTEN failed; polling only");
                        } else {
                            // A notification sent before this LISTEN (at start, or while
                            // reconnecting) is lost: waiters look again now.
                            settled.notify_waiters();
                            ready.notify_waiters();
                            loop {
                                match l.recv().await {
                                    Ok(n) if n.channel() == FINISHED_CHANNEL => {
                                        settled.notify_waiters()
                                    }
                                    Ok(_) => ready.notify_waiters(),
                                    Err(e) => {
                                        // A closed pool is the client going away, not news.
                                        if !pool.is_closed() {
                                            tracing::warn!(error = %e, "LISTEN connection lost");
                                        }
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot open LISTEN connection"),
                }
                if pool.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        .instrument(tracing::info_span!("tasker.listener")),
    );
}
