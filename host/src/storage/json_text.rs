//! A `serde_json::Value` written as JSON text: byte for byte what `serde_json` writes, with a
//! string escape that tests eight bytes at a time.
//!
//! The decision log keeps every decision's input, and writing it is most of what logging a
//! decision costs the writer thread: `serde_json` looks every byte of every string up in its
//! escape table (a tenth of an authorized read's instructions went to that loop). Almost no
//! byte of an input needs escaping (ids, names, roles), so a word is tested whole for the three
//! kinds of byte that do (`"`, `\` and the controls below 0x20) and copied if it holds none.
//! The output must stay `serde_json`'s exactly: records are compared and migrated as bytes, and
//! a test holds the two writers to the same text.

use std::io::Write as _;

use serde_json::Value;

/// Appends `value` as `serde_json::to_writer` would write it.
pub fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Numbers are few in an input (times, counts); serde_json's own formatting keeps them
        // exact (integers as such, floats shortest round-trip).
        Value::Number(number) => {
            // INVARIANT: writing to a Vec cannot fail.
            let _ = write!(out, "{number}");
        }
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write(out, item);
            }
            out.push(b'}');
        }
    }
}

/// `text` quoted and escaped as `serde_json` escapes it.
fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if any_needs_escape(bytes) {
        let mut copied = 0;
        for (i, &byte) in bytes.iter().enumerate() {
            if needs_escape(byte) {
                out.extend_from_slice(&bytes[copied..i]);
                write_escape(out, byte);
                copied = i + 1;
            }
        }
        out.extend_from_slice(&bytes[copied..]);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// Whether any byte of `bytes` needs escaping, tested a word at a time; the last few bytes
/// are padded with spaces into a word of their own, so a short key costs one test.
fn any_needs_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut whole = [0; 8];
        whole.copy_from_slice(word);
        if word_needs_escape(u64::from_le_bytes(whole)) {
            return true;
        }
    }
    let rest = words.remainder();
    let mut last = [b' '; 8];
    last[..rest.len()].copy_from_slice(rest);
    word_needs_escape(u64::from_le_bytes(last))
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Whether any of the eight bytes of `word` needs escaping. Each test is exact as a whole (it
/// may mark the wrong byte of a word, never a word without one): `(x - n) & !x & 0x80`, per
/// byte, is non-zero somewhere exactly when some byte of `x` is below `n` (for `n <= 0x80`).
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    let control = below(word, 0x20);
    let quote = below(word ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(word ^ (ONES * u64::from(b'\\')), 1);
    control | quote | backslash != 0
}

fn write_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
            return;
        }
    };
    out.push(b'\\');
    out.push(short);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn written(value: &Value) -> String {
        let mut out = Vec::new();
        write(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_string_is_written_as_serde_json_writes_it() {
        // Each byte that needs escaping, at every offset of a word and across word edges, and
        // text that needs none, of lengths around the word size.
        let mut texts: Vec<String> = (0u8..0x80).map(|b| char::from(b).to_string()).collect();
        for special in ['"', '\\', '\n', '\u{1}', '\u{1f}', '\u{7f}', 'é', '€', '😀'] {
            for at in 0..20 {
                let mut text: String = "abcdefghijklmnopqrst".chars().take(at).collect();
                text.push(special);
                text.push_str("0123456789");
                texts.push(text);
            }
        }
        texts.extend((0..20).map(|n| "x".repeat(n)));
        texts.push("ordinary org name, tenant `acme-7` in eu-west".into());
        for text in texts {
            let value = Value::String(text.clone());
            assert_eq!(
                written(&value),
                serde_json::to_string(&value).unwrap(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_policy_input_is_written_as_serde_json_writes_it() {
        let value = json!({
            "action": "member.invite",
            "actor": {"id": "0193c0de-0000-7000-8000-000000000001", "operator": false,
                      "relation": "member", "role": "admin", "provider_role": null,
                      "grant": {"id": "g\"1\"", "scope": "read"}},
            "org": {"name": "Acme \\ Co\n", "plan_features": ["sso", "audit"], "tags": []},
            "resource": {"role": "member", "count": 3, "ratio": 0.25, "neg": -7,
                         "big": 18_446_744_073_709_551_615u64, "empty": {}},
            "now": 1_765_000_000_000i64
        });
        assert_eq!(written(&value), serde_json::to_string(&value).unwrap());
        for scalar in [
            json!(null),
            json!(true),
            json!(false),
            json!(1.5e300),
            json!([]),
        ] {
            assert_eq!(written(&scalar), serde_json::to_string(&scalar).unwrap());
        }
    }
}
