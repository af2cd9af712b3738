//! What one sqlx-sqlite call costs beyond SQLite's own work (docs/PERFORMANCE.md, "SQLite
//! latency: where the time goes"). sqlx runs each SQLite connection on its own thread: a call is
//! a message to that thread and a wake-up back. This runs the same one-row indexed read N times
//! through sqlx, then N times on the connection's raw handle locked out of that thread
//! (`lock_handle`, one hand-off for all N, the statement prepared once as a statement cache
//! would), from a thread blocked in a multi-thread runtime's `block_on`, as `Client` calls the
//! store. The difference per call is the hand-off an SQLite statement pays today.
//!
//! ```text
//! cargo run --release --example sqlite_handoff [DIR] [N] [ROUNDS]
//! ```
//! Prints, per round, the microseconds per call of each way, then the medians.

use sqlx::Connection;
use std::path::PathBuf;
use std::time::Instant;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const READ: &str = "SELECT v FROM kv WHERE id = $1";

fn main() -> Res<()> {
    let arg = |i: usize| std::env::args().nth(i);
    let dir = arg(1).map_or_else(std::env::temp_dir, PathBuf::from);
    let n: u32 = arg(2).map(|v| v.parse()).transpose()?.unwrap_or(20_000);
    let rounds: usize = arg(3).map(|v| v.parse()).transpose()?.unwrap_or(5);
    let path = dir.join(format!("sqlite_handoff_{}.db", std::process::id()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let out = rt.block_on(measure(&path, n, rounds));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let (mut via_sqlx, mut raw) = out?;
    for (i, (s, r)) in via_sqlx.iter().zip(&raw).enumerate() {
        println!("round {i}: sqlx {s:.2} us/call, raw handle {r:.2} us/call");
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (s, r) = (median(&mut via_sqlx), median(&mut raw));
    println!(
        "median: sqlx {s:.2} us/call, raw handle {r:.2} us/call, hand-off {:.2} us/call",
        s - r
    );
    Ok(())
}

/// Alternates the two ways `rounds` times; microseconds per call of each.
async fn measure(path: &std::path::Path, n: u32, rounds: usize) -> Res<(Vec<f64>, Vec<f64>)> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await?;
    sqlx::query("CREATE TABLE kv (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        .execute(&mut conn)
        .await?;
    sqlx::query("WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 99) INSERT INTO kv SELECT i, i FROM c")
        .execute(&mut conn)
        .await?;
    let (mut via_sqlx, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let mut sum = 0i64;
        for i in 0..n {
            let v: i64 = sqlx::query_scalar(READ)
                .bind(i64::from(i % 100))
                .fetch_one(&mut conn)
                .await?;
            sum = sum.wrapping_add(v);
        }
        via_sqlx.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(n));
        let t = Instant::now();
        let raw_sum = raw_reads(&mut conn, n).await?;
        raw.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(n));
        if raw_sum != sum {
            return Err(format!("the two ways read different sums ({sum}, {raw_sum})").into());
        }
    }
    conn.close().await?;
    Ok((via_sqlx, raw))
}

/// The same reads on the raw handle, one lock for all of them.
async fn raw_reads(conn: &mut sqlx::SqliteConnection, n: u32) -> Res<i64> {
    use libsqlite3_sys as ffi;
    let mut locked = conn.lock_handle().await?;
    let db = locked.as_raw_handle().as_ptr();
    let sql = std::ffi::CString::new(READ)?;
    let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
    // SAFETY: `db` is the connection's handle, locked out of its worker thread while `locked`
    // lives; the statement is finalized before `locked` is dropped.
    unsafe {
        let rc = ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut());
        if rc != ffi::SQLITE_OK {
            return Err(format!("prepare failed: {rc}").into());
        }
        let mut sum = 0i64;
        let mut failed = None;
        for i in 0..n {
            ffi::sqlite3_bind_int64(stmt, 1, i64::from(i % 100));
            let rc = ffi::sqlite3_step(stmt);
            if rc != ffi::SQLITE_ROW {
                failed = Some(rc);
                break;
            }
            sum = sum.wrapping_add(ffi::sqlite3_column_int64(stmt, 0));
            ffi::sqlite3_reset(stmt);
        }
        ffi::sqlite3_finalize(stmt);
        match failed {
            Some(rc) => Err(format!("step failed: {rc}").into()),
            None => Ok(sum),
        }
    }
}
