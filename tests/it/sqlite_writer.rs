//! SQLite files: every write transaction runs on one dedicated connection (its page cache and
//! statement cache stay warm; docs/ARCHITECTURE.md). Closing the store closes that connection
//! too: a write after the close fails instead of still finding it open.

use crate::common::*;

#[test]
fn closing_the_store_closes_the_writer_connection() {
    let db = new_db(Backend::Sqlite);
    let (rt, store) = store_runtime(&db.url);
    rt.block_on(async {
        use tasker::testing::ClaimScope;
        // A write transaction (a claim of nothing), on the writer connection.
        let now = tasker::Clock::now_ms(&tasker::SystemClock);
        let (claimed, _) = store.claim(ClaimScope::Any, 1, now).await.unwrap();
        assert!(claimed.is_empty());
        store.close().await;
        let after = store.claim(ClaimScope::Any, 1, now).await;
        assert!(
            matches!(after, Err(tasker::Error::Database(_))),
            "a write transaction began after close: {after:?}"
        );
    });
}
