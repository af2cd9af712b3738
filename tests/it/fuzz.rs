//! A bounded fuzz test of the C entry points that take bytes (client options, a template, a
//! task request, a step context): structured MessagePack generated from a seeded `StdRng`,
//! then mutated (bit flips, truncation, spliced bytes); the request also as JSON text (the
//! `_json` entry point and the JSON readers), and every document through
//! `tasker_document_json`. Every call must return a result code
//! that is neither PANIC nor INTERNAL, and never crash. The seed of each round is printed on
//! failure; `FUZZ_SEED=<n>` replays it. `FUZZ_SECONDS` (default 10) bounds the run
//! (`make fuzz` runs it longer).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::ffi::{c_char, CStr};

#[repr(C)]
struct Bytes {
    data: *mut u8,
    len: usize,
    cap: usize,
}

impl Bytes {
    fn empty() -> Bytes {
        Bytes {
            data: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }
}

enum Opaque {}

extern "C" {
    fn tasker_client_new(
        url: *const c_char,
        options: *const u8,
        options_len: usize,
        out: *mut *const Opaque,
        error: *mut *mut Opaque,
    ) -> u32;
    fn tasker_client_free(client: *const Opaque);
    fn tasker_register_template_msgpack(
        client: *const Opaque,
        data: *const u8,
        len: usize,
        error: *mut *mut Opaque,
    ) -> u32;
    fn tasker_create_task(
        client: *const Opaque,
        request: *const u8,
        request_len: usize,
        task_id: *mut i64,
        created: *mut bool,
        error: *mut *mut Opaque,
    ) -> u32;
    fn tasker_call_handler(
        client: *const Opaque,
        context: *const u8,
        context_len: usize,
        outcome: *mut Bytes,
        error: *mut *mut Opaque,
    ) -> u32;
    fn tasker_create_task_json(
        client: *const Opaque,
        request: *const c_char,
        request_len: usize,
        task_id: *mut i64,
        created: *mut bool,
        error: *mut *mut Opaque,
    ) -> u32;
    fn tasker_document_json(
        data: *const u8,
        len: usize,
        json: *mut Bytes,
        error: *mut *mut Opaque,
    ) -> u32;
    fn tasker_json_get(
        json: *const c_char,
        json_len: usize,
        pointer: *const c_char,
        value: *mut Bytes,
        error: *mut *mut Opaque,
    ) -> u32;
    fn tasker_bytes_free(bytes: *mut Bytes);
    fn tasker_error_message(error: *const Opaque) -> *const c_char;
    fn tasker_error_free(error: *mut Opaque);
}

const PANIC: u32 = 16;
const INTERNAL: u32 = 17;

/// Keys the documents use, so generated maps reach past the first "unknown field" check.
const KEYS: &[&str] = &[
    "name",
    "namespace",
    "namespace_name",
    "version",
    "context",
    "step_templates",
    "handler",
    "depends_on_step",
    "depends_on_steps",
    "step_inputs",
    "bypass_steps",
    "tags",
    "initiator",
    "source_system",
    "reason",
    "task",
    "step",
    "dependency_results",
    "claim_token",
    "task_id",
    "step_id",
    "attempt",
    "retry_limit",
    "retryable",
    "inputs",
    "handler_config",
    "backoff",
    "base_ms",
    "factor",
    "max_ms",
    "jitter",
    "lease_ms",
    "claim_batch",
    "default_retry_limit",
    "max_payload_bytes",
    "max_connections",
    "connect_timeout_ms",
    "schema",
    "environments",
    "dependent_system",
    "skippable",
    "reenqueue",
    "type",
    "required",
    "properties",
];

/// A small MessagePack writer: the generator needs NaN, huge lengths and odd widths that a
/// serde value cannot hold.
struct Gen<'a> {
    rng: &'a mut StdRng,
    out: Vec<u8>,
}

impl Gen<'_> {
    fn str(&mut self, s: &[u8]) {
        self.out.push(0xdb);
        self.out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        self.out.extend_from_slice(s);
    }

    fn text(&mut self) {
        let s: Vec<u8> = match self.rng.random_range(0..6) {
            0 => KEYS[self.rng.random_range(0..KEYS.len())]
                .as_bytes()
                .to_vec(),
            1 => b"a\0b".to_vec(),
            2 => "é".repeat(self.rng.random_range(0..80)).into_bytes(),
            3 => b"1.0.0".to_vec(),
            4 => (0..self.rng.random_range(0..16))
                .map(|_| self.rng.random())
                .collect(),
            _ => b"x".repeat(self.rng.random_range(0..300)),
        };
        self.str(&s);
    }

    fn value(&mut self, depth: u32) {
        let leaf = depth > 90 || self.rng.random_range(0..4) == 0;
        let pick = if leaf {
            self.rng.random_range(0..7)
        } else {
            self.rng.random_range(0..10)
        };
        match pick {
            0 => self.out.push(0xc0),
            1 => self.out.push(if self.rng.random() { 0xc3 } else { 0xc2 }),
            2 => {
                self.out.push(0xd3);
                let v: i64 = match self.rng.random_range(0..4) {
                    0 => i64::MIN,
                    1 => i64::MAX,
                    2 => -1,
                    _ => self.rng.random_range(-1000..100_000),
                };
                self.out.extend_from_slice(&v.to_be_bytes());
            }
            3 => {
                self.out.push(0xcf);
                self.out.extend_from_slice(&u64::MAX.to_be_bytes());
            }
            4 => {
                self.out.push(0xcb);
                let f = [f64::NAN, f64::INFINITY, -0.0, 1e308, 2.5][self.rng.random_range(0..5)];
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            5 => self.text(),
            6 => {
                self.out.push(0xc4);
                self.out.push(3);
                self.out.extend_from_slice(&[1, 2, 3]);
            }
            7 | 8 => {
                let n = self.rng.random_range(0..6u32);
                self.out.push(0xdf);
                self.out.extend_from_slice(&n.to_be_bytes());
                for _ in 0..n {
                    self.text();
                    self.value(depth + 1);
                }
            }
            _ => {
                let n = self.rng.random_range(0..5u32);
                self.out.push(0xdd);
                self.out.extend_from_slice(&n.to_be_bytes());
                for _ in 0..n {
                    self.value(depth + 1);
                }
            }
        }
    }

    /// A map with the given keys (each present or not), values generated.
    fn document(&mut self, keys: &[&str]) {
        let present: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|_| self.rng.random_range(0..3) > 0)
            .collect();
        self.out.push(0xdf);
        self.out
            .extend_from_slice(&(present.len() as u32).to_be_bytes());
        for k in present {
            self.str(k.as_bytes());
            self.value(1);
        }
    }
}

fn mutate(rng: &mut StdRng, buf: &mut Vec<u8>) {
    for _ in 0..rng.random_range(0..4) {
        if buf.is_empty() {
            buf.push(rng.random());
            continue;
        }
        let i = rng.random_range(0..buf.len());
        match rng.random_range(0..5) {
            0 => buf[i] ^= 1 << rng.random_range(0..8),
            1 => buf.truncate(i),
            2 => buf.insert(i, rng.random()),
            3 => {
                let tail = buf[i..].to_vec();
                buf.extend_from_slice(&tail[..tail.len().min(64)]);
            }
            _ => buf[i] = [0xc1, 0xdf, 0xdd, 0xff, 0x00][rng.random_range(0..5)],
        }
    }
}

/// The error's message, freed.
unsafe fn take_message(error: *mut Opaque) -> String {
    if error.is_null() {
        return String::new();
    }
    let m = CStr::from_ptr(tasker_error_message(error))
        .to_string_lossy()
        .into_owned();
    tasker_error_free(error);
    m
}

fn check(seed: u64, entry: &str, rc: u32, message: String) {
    assert!(
        rc != PANIC && rc != INTERNAL,
        "{entry} returned {rc} ({message}); replay with FUZZ_SEED={seed}"
    );
}

/// A valid document of each kind (`n` varies the template and context).
fn valid(entry: &str, n: u32) -> Vec<u8> {
    use serde_json::json;
    let doc = match entry {
        "options" => json!({"lease_ms": 1000 + n, "claim_batch": 1 + n, "backoff": {"base_ms": 5}}),
        "template" => {
            json!({"name": format!("fz{n}"), "namespace_name": "fuzz", "version": "1.0.0",
            "step_templates": [{"name": "a", "handler": "h"},
                               {"name": "b", "handler": "h", "depends_on_step": "a"}]})
        }
        "request" => json!({"name": format!("fz{n}"), "namespace": "fuzz",
            "context": {"n": n, "s": "é"}, "step_inputs": {"a": {"k": [1, 2.5, null]}}}),
        _ => json!({"task": {"task_id": n, "context": {"n": n}},
            "step": {"step_id": 1, "name": "a", "handler": "h", "inputs": {}},
            "dependency_results": {"p": {"v": n}}}),
    };
    rmp_serde::to_vec_named(&doc).unwrap_or_default()
}

/// One round: one generated (and maybe mutated) document per entry point.
fn round(client: *const Opaque, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut docs: Vec<(&str, Vec<u8>)> = Vec::new();
    for (entry, keys) in [
        (
            "options",
            &[
                "backoff",
                "lease_ms",
                "claim_batch",
                "max_payload_bytes",
                "connect_timeout_ms",
                "max_connections",
                "reenqueue",
            ][..],
        ),
        (
            "template",
            &[
                "name",
                "namespace_name",
                "version",
                "step_templates",
                "schema",
                "environments",
                "default_dependent_system",
            ][..],
        ),
        (
            "request",
            &[
                "name",
                "namespace",
                "version",
                "context",
                "step_inputs",
                "bypass_steps",
                "tags",
                "initiator",
                "reason",
            ][..],
        ),
        (
            "context",
            &["task", "step", "dependency_results", "claim_token"][..],
        ),
    ] {
        // A quarter start from a valid document, so mutations reach past decoding into
        // validation, storage and the handler call.
        let mut buf = if rng.random_range(0..4) == 0 {
            valid(entry, rng.random_range(0..4))
        } else {
            let mut g = Gen {
                rng: &mut rng,
                out: Vec::new(),
            };
            g.document(keys);
            g.out
        };
        if entry == "request" {
            // The same request as JSON text (a generated one whose binary values JSON cannot
            // hold is replaced by a valid one), mutated in its turn.
            let value = rmp_serde::from_slice::<serde_json::Value>(&buf)
                .or_else(|_| rmp_serde::from_slice(&valid(entry, 0)));
            let mut json = value
                .ok()
                .and_then(|v| serde_json::to_vec(&v).ok())
                .unwrap_or_default();
            if rng.random_range(0..2) == 0 {
                mutate(&mut rng, &mut json);
            }
            docs.push(("request_json", json));
        }
        if rng.random_range(0..2) == 0 {
            mutate(&mut rng, &mut buf);
        }
        docs.push((entry, buf));
    }
    let pointer = match rng.random_range(0..4) {
        0 => String::new(),
        1 => format!("/{}", KEYS[rng.random_range(0..KEYS.len())]),
        2 => "/context/n".to_string(),
        _ => "/step_inputs/a/k/1".to_string(),
    };
    let pointer = std::ffi::CString::new(pointer).unwrap_or_default();
    unsafe {
        for (entry, buf) in &docs {
            let mut error: *mut Opaque = std::ptr::null_mut();
            let rc = match *entry {
                "options" => {
                    let mut out: *const Opaque = std::ptr::null();
                    let rc = tasker_client_new(
                        c"sqlite::memory:".as_ptr(),
                        buf.as_ptr(),
                        buf.len(),
                        &mut out,
                        &mut error,
                    );
                    tasker_client_free(out);
                    rc
                }
                "template" => {
                    tasker_register_template_msgpack(client, buf.as_ptr(), buf.len(), &mut error)
                }
                "request_json" => {
                    let (mut id, mut created) = (0i64, false);
                    let rc = tasker_create_task_json(
                        client,
                        buf.as_ptr().cast(),
                        buf.len(),
                        &mut id,
                        &mut created,
                        &mut error,
                    );
                    check(seed, entry, rc, take_message(error));
                    error = std::ptr::null_mut();
                    let mut out = Bytes::empty();
                    let rc = tasker_json_get(
                        buf.as_ptr().cast(),
                        buf.len(),
                        pointer.as_ptr(),
                        &mut out,
                        &mut error,
                    );
                    tasker_bytes_free(&mut out);
                    rc
                }
                "request" => {
                    let (mut id, mut created) = (0i64, false);
                    tasker_create_task(
                        client,
                        buf.as_ptr(),
                        buf.len(),
                        &mut id,
                        &mut created,
                        &mut error,
                    )
                }
                _ => {
                    let mut out = Bytes::empty();
                    let rc =
                        tasker_call_handler(client, buf.as_ptr(), buf.len(), &mut out, &mut error);
                    tasker_bytes_free(&mut out);
                    rc
                }
            };
            check(seed, entry, rc, take_message(error));
            error = std::ptr::null_mut();
            let mut out = Bytes::empty();
            let rc = tasker_document_json(buf.as_ptr(), buf.len(), &mut out, &mut error);
            tasker_bytes_free(&mut out);
            check(seed, "document_json", rc, take_message(error));
        }
    }
}

#[test]
fn byte_taking_entry_points_survive_generated_and_mutated_msgpack() {
    let mut client: *const Opaque = std::ptr::null();
    let mut error: *mut Opaque = std::ptr::null_mut();
    let rc = unsafe {
        tasker_client_new(
            c"sqlite::memory:".as_ptr(),
            std::ptr::null(),
            0,
            &mut client,
            &mut error,
        )
    };
    assert_eq!(rc, 0, "{}", unsafe { take_message(error) });
    if let Some(seed) = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()) {
        round(client, seed);
        unsafe { tasker_client_free(client) };
        return;
    }
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let base: u64 = rand::random();
    let started = std::time::Instant::now();
    let mut rounds = 0u64;
    while started.elapsed().as_secs() < seconds {
        round(client, base.wrapping_add(rounds));
        rounds += 1;
    }
    eprintln!("fuzz: {rounds} rounds from seed {base} in {seconds} s");
    unsafe { tasker_client_free(client) };
}
