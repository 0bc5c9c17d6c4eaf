//! Canonical JSON: one byte string per JSON value, so hashes of arguments and audit
//! entries can be recomputed by a verifier in any language.
//!
//! The rules:
//! - object members sorted by key, comparing the keys' UTF-8 bytes;
//! - no whitespace outside strings;
//! - strings as `serde_json` writes them (UTF-8, only `"`, `\` and control characters
//!   escaped, control characters as `\n`-style or `\u00XX` escapes);
//! - numbers as `serde_json` writes them (integers without a fraction or exponent).
//!
//! ```
//! use identity_types::canonical_json;
//! let v = serde_json::json!({"b": 1, "a": [true, null, "x"]});
//! assert_eq!(canonical_json(&v), r#"{"a":[true,null,"x"],"b":1}"#);
//! ```

use serde_json::Value;

/// The canonical encoding of `value`.
#[must_use]
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            // Sorted explicitly rather than relying on serde_json's map type: a crate
            // elsewhere in the build could turn on `preserve_order`.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_scalar(out, &Value::String(key.clone()));
                out.push(':');
                write_value(out, member);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        scalar => write_scalar(out, scalar),
    }
}

fn write_scalar(out: &mut String, scalar: &Value) {
    // Serialising a scalar `Value` to a string cannot fail.
    if let Ok(s) = serde_json::to_string(scalar) {
        out.push_str(&s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_table() {
        let cases = [
            (json!(null), "null"),
            (json!({"z": 1, "a": {"y": 2, "b": 3}}), r#"{"a":{"b":3,"y":2},"z":1}"#),
            (json!({"é": 1, "e": 2, "E": 3}), r#"{"E":3,"e":2,"é":1}"#),
            (json!(["b", "a"]), r#"["b","a"]"#),
            (json!("line\nbreak \"q\""), r#""line\nbreak \"q\"""#),
            (json!(1.5), "1.5"),
            (json!(-0), "0"),
        ];
        for (value, expected) in cases {
            assert_eq!(canonical_json(&value), expected);
        }
    }

    #[test]
    fn key_order_of_input_does_not_matter() {
        let a: Value = serde_json::from_str(r#"{"x":1,"y":{"q":1,"p":2}}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{ "y": {"p":2, "q":1}, "x": 1 }"#).expect("json");
        assert_eq!(canonical_json(&a), canonical_json(&b));
    }
}
