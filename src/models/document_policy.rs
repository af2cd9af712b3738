//! The document policy: what a JSON document (a task context, step inputs, results, failure
//! details, resolve results, a template's handler_config) must satisfy before it is accepted.
//! Every entry point that takes a document checks it here, before anything is written, so a
//! document that storage could not give back never reaches storage.
//!
//! - Nesting depth at most [`MAX_DEPTH`]: documents are read back with serde_json, whose
//!   recursion limit is 128, inside wrappers (the step context, the dependency results); 64
//!   leaves room for those on both backends.
//! - No U+0000 in strings or keys: PostgreSQL cannot store it in `jsonb`/`text`; SQLite could,
//!   but both backends behave alike.
//! - Numbers are finite: serde_json has no NaN/±Inf (they would silently become null). A
//!   `serde_json::Value` cannot hold them, so [`check_msgpack`] finds them in the MessagePack
//!   bytes at the C boundary, along with trailing bytes after the document. JSON text cannot
//!   spell them; [`check_json`] bounds its depth before serde_json parses it (whose parser
//!   rejects trailing characters itself), so JSON and MessagePack input decode into the same
//!   serde types and meet the same checks afterwards.

use crate::Error;
use serde_json::Value;

/// The deepest nesting of arrays and maps a document may have (a scalar is depth 0, `{}` 1).
pub(crate) const MAX_DEPTH: usize = 64;

/// Checks one document; `field` names it in the error ("context", "results", ...).
pub fn check(field: &str, value: &Value) -> Result<(), Error> {
    check_depth(field, value, MAX_DEPTH)
}

/// [`check`] with another depth limit (a template, which wraps its documents in a few levels).
pub fn check_depth(field: &str, value: &Value, max_depth: usize) -> Result<(), Error> {
    walk(value, 0, max_depth).map_err(|(mut segments, reason)| {
        // Segments were collected innermost first, on the way out.
        segments.reverse();
        Error::InvalidDocument {
            path: format!("{field}{}", segments.concat()),
            reason,
        }
    })
}

/// Checks a text field stored as a string column (no NUL).
pub fn check_text(field: &str, text: &str) -> Result<(), Error> {
    if text.contains('\0') {
        return Err(Error::InvalidDocument {
            path: field.to_string(),
            reason: NUL_REASON.into(),
        });
    }
    Ok(())
}

const NUL_REASON: &str = "contains U+0000 (NUL), which storage cannot hold";

type Violation = (Vec<String>, String);

fn walk(value: &Value, depth: usize, max_depth: usize) -> Result<(), Violation> {
    let deeper = || {
        if depth >= max_depth {
            Err((Vec::new(), format!("nests deeper than {max_depth} levels")))
        } else {
            Ok(())
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Err((Vec::new(), NUL_REASON.into())),
        Value::Array(items) => {
            deeper()?;
            for (i, v) in items.iter().enumerate() {
                walk(v, depth + 1, max_depth).map_err(|(mut p, r)| {
                    p.push(format!("[{i}]"));
                    (p, r)
                })?;
            }
            Ok(())
        }
        Value::Object(map) => {
            deeper()?;
            for (k, v) in map {
                if k.contains('\0') {
                    return Err((
                        vec![format!(".{}", k.replace('\0', "\\0"))],
                        NUL_REASON.into(),
                    ));
                }
                walk(v, depth + 1, max_depth).map_err(|(mut p, r)| {
                    p.push(format!(".{k}"));
                    (p, r)
                })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Checks raw MessagePack before it is decoded: exactly one document (no trailing bytes), no
/// NaN/±Inf, nesting at most `max_depth` (the document's own depth: wrappers such as a task
/// request add their levels to [`MAX_DEPTH`]). Strings and the depth of the fields inside are
/// then checked by [`check`] on the decoded value. Errors name the path (`what.key[3]`).
pub fn check_msgpack(bytes: &[u8], what: &str, max_depth: usize) -> Result<(), String> {
    // An iterative walk (no recursion: a hostile depth cannot overflow the stack); paths are
    // only built for an error.
    struct Frame {
        left: u64,
        is_map: bool,
        expect_key: bool,
        key: (usize, usize),
        index: u64,
    }
    let path = |stack: &[Frame]| {
        let mut p = what.to_string();
        for f in stack {
            if f.is_map {
                p.push('.');
                p.push_str(&String::from_utf8_lossy(&bytes[f.key.0..f.key.1]));
            } else {
                p.push_str(&format!("[{}]", f.index.saturating_sub(1)));
            }
        }
        p
    };
    let mut r = Reader { b: bytes, pos: 0 };
    let mut stack: Vec<Frame> = Vec::new();
    let mut root_read = false;
    loop {
        while stack.last().is_some_and(|f| f.left == 0) {
            stack.pop();
        }
        if stack.is_empty() && root_read {
            if r.pos != bytes.len() {
                return Err(format!(
                    "{what} has {} trailing bytes after the MessagePack document",
                    bytes.len() - r.pos
                ));
            }
            return Ok(());
        }
        let mut reading_key = false;
        match stack.last_mut() {
            None => root_read = true,
            Some(f) => {
                f.left -= 1;
                if f.is_map {
                    reading_key = f.expect_key;
                    f.expect_key = !f.expect_key;
                } else {
                    f.index += 1;
                }
            }
        }
        let start = r.pos;
        let item = r
            .item()
            .map_err(|e| format!("malformed MessagePack {what}: {e}"))?;
        if reading_key {
            if let Some(f) = stack.last_mut() {
                f.key = match item {
                    Item::Str(at) => (at, r.pos),
                    _ => (start, start),
                };
            }
        }
        match item {
            Item::Float(f) if !f.is_finite() => {
                return Err(format!(
                    "{} is {f}: only finite numbers are allowed",
                    path(&stack)
                ))
            }
            Item::Container { len, is_map } => {
                if stack.len() >= max_depth {
                    return Err(format!(
                        "{} nests deeper than {max_depth} levels",
                        path(&stack)
                    ));
                }
                stack.push(Frame {
                    left: if is_map { len.saturating_mul(2) } else { len },
                    is_map,
                    expect_key: true,
                    key: (0, 0),
                    index: 0,
                });
            }
            _ => {}
        }
    }
}

/// Checks raw JSON text before it is parsed: nesting at most `max_depth` (the document's own
/// depth, as for [`check_msgpack`]), so serde_json never reaches its recursion limit (128) and
/// a too-deep document is refused with a message that says so. Strings, NUL and the depth of
/// the fields are then checked by [`check`] on the decoded value; malformed text and trailing
/// characters are left to serde_json's parser, which refuses both.
pub fn check_json(bytes: &[u8], what: &str, max_depth: usize) -> Result<(), String> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                if depth >= max_depth {
                    return Err(format!(
                        "{what} nests deeper than {max_depth} levels (at byte {at} of the JSON text)"
                    ));
                }
                depth += 1;
            }
            // Unbalanced closers are the parser's to report.
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

enum Item {
    Float(f64),
    /// A string; its bytes start at this offset and end where the reader stopped.
    Str(usize),
    Container {
        len: u64,
        is_map: bool,
    },
    Other,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| "truncated document".to_string())?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn skip(&mut self, n: u64) -> Result<Item, String> {
        let n = usize::try_from(n).map_err(|_| "length out of range".to_string())?;
        self.take(n)?;
        Ok(Item::Other)
    }

    fn string(&mut self, n: u64) -> Result<Item, String> {
        let n = usize::try_from(n).map_err(|_| "length out of range".to_string())?;
        let at = self.pos;
        self.take(n)?;
        Ok(Item::Str(at))
    }

    fn item(&mut self) -> Result<Item, String> {
        let tag = self.take(1)?[0];
        let container = |len: u64, is_map: bool| Ok(Item::Container { len, is_map });
        match tag {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Ok(Item::Other),
            0x80..=0x8f => container(u64::from(tag & 0x0f), true),
            0x90..=0x9f => container(u64::from(tag & 0x0f), false),
            0xa0..=0xbf => self.string(u64::from(tag & 0x1f)),
            // str/bin 8, 16, 32: a 1-, 2- or 4-byte length.
            0xc4..=0xc6 | 0xd9..=0xdb => {
                let is_str = tag >= 0xd9;
                let n = self.uint(1 << (tag - if is_str { 0xd9 } else { 0xc4 }))?;
                if is_str {
                    self.string(n)
                } else {
                    self.skip(n)
                }
            }
            // ext 8, 16, 32: a length, then the type byte and the data.
            0xc7..=0xc9 => {
                let n = self.uint(1 << (tag - 0xc7))?;
                self.skip(n.saturating_add(1))
            }
            0xca => {
                let bits = self.uint(4)?;
                let bits = u32::try_from(bits).map_err(|_| "bad float".to_string())?;
                Ok(Item::Float(f64::from(f32::from_bits(bits))))
            }
            0xcb => Ok(Item::Float(f64::from_bits(self.uint(8)?))),
            0xcc | 0xd0 => self.skip(1),
            0xcd | 0xd1 => self.skip(2),
            0xce | 0xd2 => self.skip(4),
            0xcf | 0xd3 => self.skip(8),
            0xd4 => self.skip(2),
            0xd5 => self.skip(3),
            0xd6 => self.skip(5),
            0xd7 => self.skip(9),
            0xd8 => self.skip(17),
            // array/map 16, 32: a 2- or 4-byte count.
            0xdc..=0xdf => {
                let is_map = tag >= 0xde;
                let n = self.uint(2 << (tag - if is_map { 0xde } else { 0xdc }))?;
                container(n, is_map)
            }
            0xc1 => Err("invalid byte 0xc1".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> Value {
        let mut v = json!(1);
        for _ in 0..depth {
            v = json!([v]);
        }
        v
    }

    #[test]
    fn depth_limit_is_inclusive() {
        assert!(check("context", &nested(MAX_DEPTH)).is_ok());
        let e = check("context", &nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(e.to_string().contains("context"), "{e}");
    }

    #[test]
    fn nul_is_rejected_with_its_path() {
        let e = check("context", &json!({"a": {"b": ["x\u{0}y"]}})).unwrap_err();
        assert!(e.to_string().contains("context.a.b[0]"), "{e}");
        assert!(check("context", &json!({"k\u{0}": 1})).is_err());
    }

    #[test]
    fn json_scan_bounds_depth_outside_strings_only() {
        assert_eq!(check_json(br#"{"a": [1, {"b": "x"}]}"#, "doc", 3), Ok(()));
        let e = check_json(br#"{"a": [1, {"b": "x"}]}"#, "doc", 2).unwrap_err();
        assert!(e.contains("doc nests deeper than 2 levels"), "{e}");
        // brackets inside strings (escaped quotes included) are text, not nesting
        assert_eq!(
            check_json(br#"{"k[[": "\"[[{{", "e": "\\"}"#, "doc", 1),
            Ok(())
        );
        let deep = "[".repeat(100_000);
        let e = check_json(deep.as_bytes(), "doc", 72).unwrap_err();
        assert!(e.contains("at byte 72"), "{e}");
        assert_eq!(check_json(&nested_json(72), "doc", 72), Ok(()));
        assert!(check_json(&nested_json(73), "doc", 72).is_err());
    }

    fn nested_json(depth: usize) -> Vec<u8> {
        serde_json::to_vec(&nested(depth)).unwrap()
    }

    #[test]
    fn msgpack_scan_finds_nan_trailing_bytes_and_depth() {
        let ok =
            rmp_serde::to_vec_named(&json!({"a": [1, 2.5, "x", {"b": null}], "c": {}})).unwrap();
        assert_eq!(check_msgpack(&ok, "doc", 8), Ok(()));
        // str8, array16 and map16 headers, and a NaN after them found at its path.
        let keys: serde_json::Map<String, Value> =
            (0..20).map(|i| (format!("k{i}"), json!(i))).collect();
        let mut wide = json!({"long": "x".repeat(300), "arr": vec![1; 20], "map": keys});
        let bytes = rmp_serde::to_vec_named(&wide).unwrap();
        assert_eq!(check_msgpack(&bytes, "doc", 8), Ok(()));
        wide["map"]["zz"] = json!(0.5);
        let mut bytes = rmp_serde::to_vec_named(&wide).unwrap();
        let at = bytes.len() - 8; // the f64 is last: keys are sorted ("map" last, "zz" last in it)
        bytes[at..].copy_from_slice(&f64::INFINITY.to_bits().to_be_bytes());
        let e = check_msgpack(&bytes, "doc", 8).unwrap_err();
        assert!(e.contains("doc.map.zz"), "{e}");
        let mut trailing = ok.clone();
        trailing.push(0xc0);
        assert!(check_msgpack(&trailing, "doc", 8)
            .unwrap_err()
            .contains("trailing"));
        // {"ctx": {"x": NaN}}
        let mut nan = vec![0x81, 0xa3, b'c', b't', b'x', 0x81, 0xa1, b'x', 0xcb];
        nan.extend_from_slice(&f64::NAN.to_bits().to_be_bytes());
        let e = check_msgpack(&nan, "doc", 8).unwrap_err();
        assert!(e.contains("doc.ctx.x"), "{e}");
        let mut inf = vec![0x92, 0x01, 0xca];
        inf.extend_from_slice(&f32::INFINITY.to_bits().to_be_bytes());
        assert!(check_msgpack(&inf, "doc", 8)
            .unwrap_err()
            .contains("doc[1]"));
        let deep = vec![0x91; 100];
        assert!(check_msgpack(&deep, "doc", 8)
            .unwrap_err()
            .contains("deeper"));
        assert!(check_msgpack(&[0x92, 0x01], "doc", 8).is_err(), "truncated");
    }
}
