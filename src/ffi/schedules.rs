//! Cron schedules: define (upsert by name), delete, enable or disable, list them, and fire
//! the due ticks (MessagePack documents; see docs/SCHEDULING.md).

use super::*;
use crate::ScheduleSpec;
use std::ffi::c_char;

/// Stores the schedule `spec` (a MessagePack schedule spec, `spec_len` bytes, borrowed),
/// replacing the one of the same name, and writes the stored schedule as MessagePack to `out`
/// (free with tasker_bytes_free). Spec fields: name, template, cron (required); namespace
/// (default "default"), version (latest at each tick), context (a map), time_zone (IANA,
/// default "UTC"), enabled (default true), missed ("skip" or "catch_up"), max_catch_up (with
/// catch_up, 1 to 1000, default 10). Nothing is written when it is refused.
///
/// Errors: NullParameter; InvalidArgument (malformed document, unknown field);
/// InvalidRequest (bad cron expression, time zone, name, context or catch-up bound; the
/// message says which); UnknownTemplate; Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_schedule_upsert(
    client: *const tasker_client,
    spec: *const u8,
    spec_len: usize,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(Format::MsgPack, out, error, || {
        let c = client_ref(client)?;
        let spec: ScheduleSpec = decode(slice(spec, spec_len, "spec")?, "spec")?;
        Ok(c.upsert_schedule(&spec)?)
    })
}

/// Deletes the schedule named `name` (NUL-terminated UTF-8, borrowed) and its tick history;
/// the tasks it created stay. Writes whether one existed to `deleted` (may be NULL).
///
/// Errors: NullParameter; InvalidArgument (name not UTF-8); Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_schedule_delete(
    client: *const tasker_client,
    name: *const c_char,
    deleted: *mut bool,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        let r = c.delete_schedule(cstr(name, "name")?)?;
        write(deleted, r);
        Ok(())
    })
}

/// Enables or disables the schedule named `name` (borrowed). A re-enabled schedule starts at
/// its first tick after now. Writes whether one existed to `found` (may be NULL).
///
/// Errors: NullParameter; InvalidArgument; Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_schedule_set_enabled(
    client: *const tasker_client,
    name: *const c_char,
    enabled: bool,
    found: *mut bool,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        let r = c.set_schedule_enabled(cstr(name, "name")?, enabled)?;
        write(found, r);
        Ok(())
    })
}

/// Writes every schedule, by name, as a MessagePack array of schedule documents to `out`
/// (free with tasker_bytes_free): the spec's fields plus schedule_id, next_tick_at,
/// last_tick_at (nil before the first tick), created_at, updated_at (epoch milliseconds).
///
/// Errors: NullParameter; Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_schedule_list(
    client: *const tasker_client,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(Format::MsgPack, out, error, || {
        Ok(client_ref(client)?.schedules()?)
    })
}

/// Fires the schedules' ticks due at `now_ms` (epoch milliseconds): one task per due tick,
/// once across every process. Workers (tasker_worker_run) do this by themselves every
/// `schedule_check_interval_ms`; call it from a process without workers, or in tests with a
/// chosen time. Writes how many tasks it created to `created` (may be NULL).
///
/// Errors: NullParameter; Database; InvalidState after tasker_client_close. Threading: any
/// thread; enqueue callbacks run here.
#[no_mangle]
pub unsafe extern "C" fn tasker_schedule_fire_due(
    client: *const tasker_client,
    now_ms: i64,
    created: *mut u64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let n = client_ref(client)?.fire_due_schedules(now_ms)?;
        write(created, u64::try_from(n).unwrap_or(u64::MAX));
        Ok(())
    })
}
