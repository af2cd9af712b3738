//! SQLite statements run synchronously on the writer connection's raw `sqlite3*` handle, on the
//! calling thread (issue #11): sqlx-sqlite runs each connection on its own thread, and every
//! statement through it is a trip to that thread and back (~34 µs under load, PERFORMANCE.md
//! "SQLite latency"). The hot write transactions run BEGIN IMMEDIATE .. COMMIT here, on the
//! handle locked out of that thread (`SqliteConnection::lock_handle`) and kept so between
//! them (`HeldWriter`).
//!
//! The prepared statements are cached per writer connection (`RawStatements`, keyed by the SQL
//! text) and finalized before that connection closes (`Backend::close`, `Drop for Backend`):
//! sqlx closes its handles with `sqlite3_close`, which refuses (and sqlx panics) while any
//! statement of the connection is unfinalized.
//!
//! Parameters are bound like sqlx-sqlite binds them: `$N` is argument N in every statement of
//! a multi-statement text. Errors become the crate's `Error::Database` with SQLite's extended
//! code and message, as sqlx reports them (same `code()` and `kind()`).

use crate::error::{Error, Result};
use libsqlite3_sys as ffi;
use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{c_int, CStr};
use std::ptr::NonNull;
use std::sync::Arc;

/// How long a connection waits for another process's write lock (SQLite's busy timeout, set
/// on every connection of the backend).
pub(crate) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether `e` is SQLITE_BUSY (any extended code of it).
fn is_busy(e: &Error) -> bool {
    match e {
        Error::Database(sqlx::Error::Database(d)) => d
            .code()
            .and_then(|c| c.parse::<c_int>().ok())
            .is_some_and(|c| c & 0xff == ffi::SQLITE_BUSY),
        _ => false,
    }
}

/// A value bound to a `$N` parameter.
pub(crate) enum RawArg {
    Int(i64),
    Real(f64),
    Text(String),
    Null,
}

/// A column value of a result row.
#[derive(Debug, Clone)]
pub(crate) enum RawValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// One result row, with its statement's column names.
pub(crate) struct RawRow {
    names: Arc<[String]>,
    values: Vec<RawValue>,
}

impl RawRow {
    /// The value of column `i` (an index).
    pub(crate) fn at(&self, i: usize) -> Result<&RawValue> {
        self.values
            .get(i)
            .ok_or_else(|| Error::Internal(format!("no column {i} in the row")))
    }

    /// The value of the column named `name` (the first of that name).
    pub(crate) fn get(&self, name: &str) -> Result<&RawValue> {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::Internal(format!("no column {name} in the row")))?;
        self.at(i)
    }
}

impl RawValue {
    pub(crate) fn opt_int(&self) -> Result<Option<i64>> {
        match self {
            RawValue::Null => Ok(None),
            RawValue::Int(v) => Ok(Some(*v)),
            other => Err(decode_error("an integer", other)),
        }
    }
    pub(crate) fn int(&self) -> Result<i64> {
        self.opt_int()?
            .ok_or_else(|| decode_error("an integer", &RawValue::Null))
    }
    pub(crate) fn opt_real(&self) -> Result<Option<f64>> {
        match self {
            RawValue::Null => Ok(None),
            RawValue::Real(v) => Ok(Some(*v)),
            // As sqlx-sqlite decodes an INTEGER column into f64.
            RawValue::Int(v) => Ok(Some(*v as f64)),
            other => Err(decode_error("a real", other)),
        }
    }
    pub(crate) fn opt_text(&self) -> Result<Option<String>> {
        match self {
            RawValue::Null => Ok(None),
            RawValue::Text(v) => Ok(Some(v.clone())),
            other => Err(decode_error("a text", other)),
        }
    }
    pub(crate) fn text(&self) -> Result<String> {
        self.opt_text()?
            .ok_or_else(|| decode_error("a text", &RawValue::Null))
    }
}

fn decode_error(wanted: &str, got: &RawValue) -> Error {
    Error::Internal(format!("column decode: expected {wanted}, got {got:?}"))
}

/// An SQLite error as sqlx-sqlite reports it (extended code, message), so the code that looks
/// at database errors sees the same `code()` and `kind()` on both paths.
#[derive(Debug)]
pub(crate) struct RawSqliteError {
    code: c_int,
    message: String,
}

impl std::fmt::Display for RawSqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for RawSqliteError {}

impl sqlx::error::DatabaseError for RawSqliteError {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(self.code.to_string().into())
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        use sqlx::error::ErrorKind;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// The connection's last error as the crate's error.
fn db_error(db: *mut ffi::sqlite3) -> Error {
    // SAFETY: `db` is the open handle locked out of sqlx's worker thread by the caller; the
    // message is copied before any other call on the handle.
    let (code, message) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db);
        let msg = ffi::sqlite3_errmsg(db);
        let message = if msg.is_null() {
            "<no message>".to_string()
        } else {
            CStr::from_ptr(msg).to_string_lossy().into_owned()
        };
        (code, message)
    };
    Error::Database(sqlx::Error::Database(Box::new(RawSqliteError {
        code,
        message,
    })))
}

/// One prepared statement: its parameters' argument numbers and its column names.
struct Stmt {
    ptr: NonNull<ffi::sqlite3_stmt>,
    /// Parameter index - 1 → argument index (`$N` → N - 1; an anonymous `?` → its position).
    params: Vec<usize>,
    names: Arc<[String]>,
}

/// The statement cache of one writer connection: each SQL text (possibly several statements)
/// as its prepared statements, in order.
#[derive(Default)]
pub(crate) struct RawStatements {
    /// The handle the statements belong to (as an address: only compared).
    handle: usize,
    stmts: HashMap<String, Vec<Stmt>>,
}

// SAFETY: the statements are only used, and finalized, while their connection's handle is
// locked by the thread that holds the writer lock (see `Backend::begin_raw`); the cache moves
// between threads only between such uses.
unsafe impl Send for RawStatements {}

/// More distinct texts than this (claims of many sizes) and the cache starts over.
const MAX_CACHED_TEXTS: usize = 256;

impl RawStatements {
    pub(crate) fn is_empty(&self) -> bool {
        self.stmts.is_empty()
    }

    /// Finalizes every statement. The caller has the connection to itself (locked handle, or
    /// the pool's only connection checked out): sqlx opens connections NOMUTEX.
    pub(crate) fn finalize_all(&mut self) {
        for (_, list) in self.stmts.drain() {
            for s in list {
                // SAFETY: each statement is finalized once (drained from the cache).
                unsafe { ffi::sqlite3_finalize(s.ptr.as_ptr()) };
            }
        }
    }

    /// The statements of `sql` on `db`, prepared on first use.
    fn prepared(&mut self, db: *mut ffi::sqlite3, sql: &str) -> Result<&mut Vec<Stmt>> {
        if self.handle != db as usize {
            // Another connection than the statements' (the writer was replaced): those of the
            // old one went with it only if finalized before; never use them on this one.
            self.finalize_all();
            self.handle = db as usize;
        }
        if !self.stmts.contains_key(sql) {
            if self.stmts.len() >= MAX_CACHED_TEXTS {
                self.finalize_all();
            }
            let list = prepare_all(db, sql)?;
            self.stmts.insert(sql.to_string(), list);
        }
        self.stmts
            .get_mut(sql)
            .ok_or_else(|| Error::Internal("statement cache".into()))
    }
}

/// Prepares every statement of `sql` (empty ones skipped).
fn prepare_all(db: *mut ffi::sqlite3, sql: &str) -> Result<Vec<Stmt>> {
    let mut out: Vec<Stmt> = Vec::new();
    let bytes = sql.as_bytes();
    let mut offset = 0usize;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let len =
            c_int::try_from(rest.len()).map_err(|_| Error::Internal("SQL text too long".into()))?;
        let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
        let mut tail: *const std::ffi::c_char = std::ptr::null();
        // SAFETY: `rest` is valid for `len` bytes; SQLite writes the statement and the tail
        // (a pointer into `rest`).
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                rest.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                &mut tail,
            )
        };
        if rc != ffi::SQLITE_OK {
            let e = db_error(db);
            for s in out {
                // SAFETY: prepared above, not cached yet.
                unsafe { ffi::sqlite3_finalize(s.ptr.as_ptr()) };
            }
            return Err(e);
        }
        let used = if tail.is_null() {
            rest.len()
        } else {
            (tail as usize).saturating_sub(rest.as_ptr() as usize)
        };
        offset = offset.saturating_add(used.max(1));
        let Some(ptr) = NonNull::new(stmt) else {
            continue; // whitespace or a comment
        };
        match describe(ptr) {
            Ok(s) => out.push(s),
            Err(e) => {
                // SAFETY: prepared above, cached nowhere.
                unsafe { ffi::sqlite3_finalize(ptr.as_ptr()) };
                for s in out {
                    // SAFETY: likewise.
                    unsafe { ffi::sqlite3_finalize(s.ptr.as_ptr()) };
                }
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// A prepared statement's parameter numbering and column names.
fn describe(ptr: NonNull<ffi::sqlite3_stmt>) -> Result<Stmt> {
    let p = ptr.as_ptr();
    // SAFETY: `p` is a live prepared statement; names are copied at once.
    let (params, names) = unsafe {
        let count = ffi::sqlite3_bind_parameter_count(p);
        let mut params = Vec::with_capacity(count.max(0) as usize);
        for i in 1..=count {
            let name = ffi::sqlite3_bind_parameter_name(p, i);
            let n = if name.is_null() {
                i as usize
            } else {
                let s = CStr::from_ptr(name).to_string_lossy();
                s.get(1..)
                    .and_then(|d| d.parse::<usize>().ok())
                    .ok_or_else(|| Error::Internal(format!("parameter {s} is not $N")))?
            };
            params.push(n.saturating_sub(1));
        }
        let cols = ffi::sqlite3_column_count(p);
        let mut names = Vec::with_capacity(cols.max(0) as usize);
        for i in 0..cols {
            let n = ffi::sqlite3_column_name(p, i);
            names.push(if n.is_null() {
                String::new()
            } else {
                CStr::from_ptr(n).to_string_lossy().into_owned()
            });
        }
        (params, names)
    };
    Ok(Stmt {
        ptr,
        params,
        names: names.into(),
    })
}

/// A write transaction on a locked raw handle. Dropped without `commit`, it rolls back.
pub(crate) struct RawTx<'c> {
    db: *mut ffi::sqlite3,
    cache: &'c mut RawStatements,
    open: bool,
}

impl<'c> RawTx<'c> {
    /// BEGIN IMMEDIATE on `db`, which the caller has locked out of sqlx's worker thread and
    /// keeps locked (and the writer lock held) until this is dropped. `None` when another
    /// process holds the file's write lock: this thread is a runtime thread and must not sit
    /// in SQLite's busy handler, so the caller hands the transaction to sqlx (whose connection
    /// thread waits there instead).
    pub(crate) fn begin(
        db: NonNull<ffi::sqlite3>,
        cache: &'c mut RawStatements,
    ) -> Result<Option<Self>> {
        let mut tx = RawTx {
            db: db.as_ptr(),
            cache,
            open: false,
        };
        let wait_ms = c_int::try_from(BUSY_TIMEOUT.as_millis()).unwrap_or(c_int::MAX);
        // SAFETY: the locked handle; the timeout is put back before anything else runs on it.
        unsafe { ffi::sqlite3_busy_timeout(tx.db, 0) };
        let begun = tx.exec("BEGIN IMMEDIATE", &[]);
        unsafe { ffi::sqlite3_busy_timeout(tx.db, wait_ms) };
        match begun {
            Ok(_) => {
                tx.open = true;
                Ok(Some(tx))
            }
            Err(e) if is_busy(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Commits; on failure the transaction is rolled back (by drop).
    pub(crate) fn commit(mut self) -> Result<()> {
        self.exec("COMMIT", &[])?;
        self.open = false;
        Ok(())
    }

    /// Runs every statement of `sql` with `args` (`$N` = `args[N - 1]`); the rows of all of
    /// them, in order (like sqlx's `fetch_all` of a multi-statement call).
    pub(crate) fn exec(&mut self, sql: &str, args: &[RawArg]) -> Result<Vec<RawRow>> {
        let db = self.db;
        let stmts = self.cache.prepared(db, sql)?;
        let mut rows = Vec::new();
        for s in stmts.iter() {
            let r = run(db, s, args, &mut rows);
            // SAFETY: a live statement; reset so it holds no read lock and can run again.
            unsafe {
                ffi::sqlite3_reset(s.ptr.as_ptr());
                ffi::sqlite3_clear_bindings(s.ptr.as_ptr());
            }
            r?;
        }
        Ok(rows)
    }
}

impl Drop for RawTx<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // SAFETY: the handle is still locked by the caller (this borrows its cache).
        let in_tx = unsafe { ffi::sqlite3_get_autocommit(self.db) } == 0;
        if in_tx {
            if let Err(e) = self.exec("ROLLBACK", &[]) {
                tracing::error!(error = %e, "rollback of a raw SQLite transaction failed");
            }
        }
    }
}

/// Binds and steps one statement, appending its rows.
fn run(db: *mut ffi::sqlite3, s: &Stmt, args: &[RawArg], rows: &mut Vec<RawRow>) -> Result<()> {
    let p = s.ptr.as_ptr();
    for (i, &n) in s.params.iter().enumerate() {
        let arg = args
            .get(n)
            .ok_or_else(|| Error::Internal(format!("no argument ${}", n.saturating_add(1))))?;
        let idx = c_int::try_from(i.saturating_add(1))
            .map_err(|_| Error::Internal("too many parameters".into()))?;
        // SAFETY: a live statement and a valid index; text is copied by SQLite (TRANSIENT).
        let rc = unsafe {
            match arg {
                RawArg::Int(v) => ffi::sqlite3_bind_int64(p, idx, *v),
                RawArg::Real(v) => ffi::sqlite3_bind_double(p, idx, *v),
                RawArg::Null => ffi::sqlite3_bind_null(p, idx),
                RawArg::Text(t) => ffi::sqlite3_bind_text64(
                    p,
                    idx,
                    t.as_ptr().cast(),
                    t.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                    ffi::SQLITE_UTF8 as _,
                ),
            }
        };
        if rc != ffi::SQLITE_OK {
            return Err(db_error(db));
        }
    }
    loop {
        // SAFETY: a live, bound statement on the locked handle.
        let rc = unsafe { ffi::sqlite3_step(p) };
        match rc {
            ffi::SQLITE_ROW => rows.push(read_row(p, &s.names)?),
            ffi::SQLITE_DONE => return Ok(()),
            _ => return Err(db_error(db)),
        }
    }
}

fn read_row(p: *mut ffi::sqlite3_stmt, names: &Arc<[String]>) -> Result<RawRow> {
    let mut values = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        let i = i as c_int;
        // SAFETY: the statement has a current row with `names.len()` columns; text is copied
        // before the next call on the statement.
        let v = unsafe {
            match ffi::sqlite3_column_type(p, i) {
                ffi::SQLITE_INTEGER => RawValue::Int(ffi::sqlite3_column_int64(p, i)),
                ffi::SQLITE_FLOAT => RawValue::Real(ffi::sqlite3_column_double(p, i)),
                ffi::SQLITE_NULL => RawValue::Null,
                _ => {
                    let t = ffi::sqlite3_column_text(p, i);
                    let n = ffi::sqlite3_column_bytes(p, i).max(0) as usize;
                    if t.is_null() {
                        RawValue::Text(String::new())
                    } else {
                        let bytes = std::slice::from_raw_parts(t, n);
                        RawValue::Text(String::from_utf8(bytes.to_vec()).map_err(|e| {
                            Error::Internal(format!("column is not UTF-8 text: {e}"))
                        })?)
                    }
                }
            }
        };
        values.push(v);
    }
    Ok(RawRow {
        names: names.clone(),
        values,
    })
}
