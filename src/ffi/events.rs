//! Event subscriptions: a C callback receives each lifecycle event as MessagePack.

use super::*;
use crate::Client;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Event callback: `event` is a MessagePack map (see docs/ABI.md) borrowed for the call.
pub type tasker_event_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const u8, event_len: usize)>;

/// An event subscription. Freeing it unsubscribes.
pub struct tasker_subscription {
    _private: [u8; 0],
}

struct Subscription {
    client: Client,
    id: u64,
}

/// Subscribes to lifecycle events. `patterns`: NUL-terminated, comma-separated event names or
/// prefixes ending in '*' ("task.*,step.completed"); NULL or "" for every event. The callback
/// receives each event (MessagePack map, borrowed) after commit, on the thread whose call
/// caused it. `userdata_free` runs exactly once when the subscription is freed or the client
/// closed (`tasker_client_close`), whichever comes first, and no event is being delivered to it. `*out` receives the subscription (free it to unsubscribe); it keeps
/// the client alive.
///
/// Errors: NullParameter (client, callback, out); InvalidArgument. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_subscribe(
    client: *const tasker_client,
    patterns: *const c_char,
    callback: tasker_event_fn,
    userdata: *mut c_void,
    userdata_free: tasker_userdata_free_fn,
    out: *mut *mut tasker_subscription,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        let cb = callback.ok_or_else(|| FfiError::null("callback"))?;
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        let patterns: Vec<String> = opt_cstr(patterns, "patterns")?
            .unwrap_or("")
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        let ud = UserData::new(userdata, userdata_free);
        let id = c.subscribe(
            patterns,
            Arc::new(move |e: &crate::Event| {
                if let Ok(bytes) = encode(e) {
                    // SAFETY: registered callback; the buffer outlives the call.
                    unsafe { cb(ud.get(), bytes.as_ptr(), bytes.len()) };
                }
            }),
        );
        let sub = Subscription {
            client: c.clone(),
            id,
        };
        *out = Box::into_raw(Box::new(sub)) as *mut tasker_subscription;
        Ok(())
    })
}

/// Unsubscribes and frees a subscription. NULL is accepted; must not be called twice.
///
/// Threading: any thread (not from inside this subscription's own callback).
#[no_mangle]
pub unsafe extern "C" fn tasker_subscription_free(subscription: *mut tasker_subscription) {
    if !subscription.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let s = Box::from_raw(subscription as *mut Subscription);
            s.client.unsubscribe(s.id);
        }));
    }
}
