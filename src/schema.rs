//! Reading one section of a TOML config with serde, and messages a person can
//! act on: the file, the section, the key and its line, what was expected and
//! what was found, and the nearest valid key for a misspelt one.
//!
//! The lists of valid keys are serde's own (a struct's field names, read off
//! its derived `Deserialize`), never a second hand-kept list.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Error, Result};

/// Where a config's text came from, for messages.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The file (or another name) the text was read from.
    pub name: &'a str,
    /// The text, to find the line of a key.
    pub text: Option<&'a str>,
}

impl Source<'_> {
    /// A source without text (values built in code).
    pub const NONE: Source<'static> = Source {
        name: "config",
        text: None,
    };
}

/// The field names of a struct as its derived `Deserialize` knows them.
pub fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut found: &'static [&'static str] = &[];
    let _ = T::deserialize(Introspect(&mut found));
    found
}

/// A deserializer that only records the field or variant names it is asked for.
struct Introspect<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("introspection")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Stop {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for Introspect<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> std::result::Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> std::result::Result<V::Value, Stop> {
        *self.0 = variants;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map identifier ignored_any
    }
}

/// Edit distance between two short strings.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize)
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "; did you mean 'x'?" for the nearest candidate, or "" if none is close.
pub fn suggest(word: &str, candidates: &[&str]) -> String {
    let best = candidates
        .iter()
        .map(|c| (levenshtein(&word.to_lowercase(), c), *c))
        .min();
    match best {
        Some((d, c)) if d <= 2.max(word.len() / 3) => format!("; did you mean '{c}'?"),
        _ => String::new(),
    }
}

/// How a section is named in messages: "at the top level" or "in [train]".
fn place(section: &str) -> String {
    if section.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in [{section}]")
    }
}

/// "unknown key 'k' in \[section\]; did you mean ...; valid keys: ...".
pub fn unknown_key(key: &str, section: &str, allowed: &[&str]) -> Error {
    Error::new(format!(
        "unknown key '{key}' {}{}; valid keys: {}",
        place(section),
        suggest(key, allowed),
        allowed.join(", ")
    ))
}

/// `unknown <what> "name"; did you mean ...; valid: ...` for a name that
/// picks a variant (an architecture, an optimizer, a schedule, a layer type).
pub fn unknown_name(field: &str, what: &str, name: &str, known: &[&str]) -> Error {
    Error::new(format!(
        "{field}: unknown {what} \"{name}\"{}; valid: {}",
        suggest(name, known),
        known.join(", ")
    ))
}

/// Checks that every key of `table` is in `allowed`.
pub fn check_keys(table: &toml::Table, allowed: &[&str], section: &str) -> Result<()> {
    match table.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(unknown_key(k, section, allowed)),
        None => Ok(()),
    }
}

/// The 1-based line and text of `key = ...` in the section whose header (or
/// first key path) is `section`, if it can be found in `text`.
pub fn locate(text: &str, section: &str, key: &str) -> Option<(usize, String)> {
    let head = section.split(['[', ' ']).next().unwrap_or("");
    let mut in_section = head.is_empty();
    let is_key_line = |line: &str| {
        let l = line.trim_start().trim_start_matches('{').trim_start();
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
            || line.contains(&format!(" {key} ="))
            || line.contains(&format!("{{{key} ="))
            || line.contains(&format!(",{key} ="))
    };
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') && !t.starts_with("[[") {
            let name = t.trim_start_matches('[').split(']').next().unwrap_or("");
            in_section = name.trim() == head;
            continue;
        }
        if in_section && is_key_line(line) {
            return Some((i + 1, t.to_string()));
        }
    }
    None
}

/// Deserializes one section (a TOML value) as `T`. An unknown key gets the
/// nearest valid one suggested; a wrong type names the key and its line.
pub fn read<T: DeserializeOwned>(value: toml::Value, section: &str, src: &Source) -> Result<T> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.message().trim_end().to_string();
        let sub = if path == "." || path.is_empty() {
            section.to_string()
        } else if section.is_empty() {
            path.clone()
        } else {
            format!("{section}.{path}")
        };
        if let Some((field, expected)) = parse_unknown_field(&msg) {
            let (sec, _) = split_last(&sub, &field);
            return unknown_key(&field, &sec, &expected);
        }
        let key = path.rsplit('.').next().unwrap_or("").to_string();
        let line = src
            .text
            .filter(|_| !key.is_empty() && key != "?")
            .and_then(|t| locate(t, section, &key))
            .map(|(n, l)| format!("line {n}: {l}: "))
            .unwrap_or_default();
        Error::new(format!("{line}{sub}: {msg}"))
    })
}

/// `serde`'s "unknown field `x`, expected one of `a`, `b`" as ("x", [a, b]).
fn parse_unknown_field(msg: &str) -> Option<(String, Vec<&str>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.is_empty())
        .collect();
    Some((field.to_string(), expected))
}

/// Splits "train.early_stopping.x" into the section without a trailing key.
fn split_last(path: &str, field: &str) -> (String, String) {
    match path.strip_suffix(&format!(".{field}")) {
        Some(sec) => (sec.to_string(), field.to_string()),
        None => (path.to_string(), field.to_string()),
    }
}

/// A size in a config: `3` (square), `[3, 5]` (height, width), or for
/// padding also `"same"` (output as large as the input, stride 1) or `"valid"` (0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeSpec {
    /// (height, width); a single number n is (n, n).
    Pair(usize, usize),
    /// `"same"`: padding that keeps the input's size (stride 1).
    Same,
}

impl Serialize for SizeSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match *self {
            SizeSpec::Pair(a, b) if a == b => s.serialize_u64(a as u64),
            SizeSpec::Pair(a, b) => [a, b].serialize(s),
            SizeSpec::Same => s.serialize_str("same"),
        }
    }
}

impl<'de> Deserialize<'de> for SizeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<SizeSpec, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SizeSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size: a whole number like 3, a pair [height, width] like [3, 5], or (padding only) \"same\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<SizeSpec, E> {
                Ok(SizeSpec::Pair(v as usize, v as usize))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<SizeSpec, E> {
                if v < 0 {
                    return Err(E::custom(format!("a size cannot be negative, found {v}")));
                }
                Ok(SizeSpec::Pair(v as usize, v as usize))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<SizeSpec, E> {
                match v {
                    "same" => Ok(SizeSpec::Same),
                    "valid" => Ok(SizeSpec::Pair(0, 0)),
                    _ => Err(E::custom(format!(
                        "unknown size \"{v}\"; expected a number, a pair [height, width], \"same\" or \"valid\""
                    ))),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<SizeSpec, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element::<i64>()? {
                    if x < 0 {
                        return Err(de::Error::custom(format!(
                            "a size cannot be negative, found {x}"
                        )));
                    }
                    v.push(x as usize);
                }
                match v[..] {
                    [a, b] => Ok(SizeSpec::Pair(a, b)),
                    _ => Err(de::Error::custom(format!(
                        "a size pair is [height, width], found {} values",
                        v.len()
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Demo {
        lr: f32,
        #[serde(default)]
        epochs: usize,
    }

    #[test]
    fn fields_come_from_serde() {
        assert_eq!(fields_of::<Demo>(), &["lr", "epochs"]);
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_named() {
        let text = "[train]\nlrr = 0.1\n";
        let v: toml::Table = text.parse().unwrap();
        let src = Source {
            name: "x.toml",
            text: Some(text),
        };
        let e = read::<Demo>(v["train"].clone(), "train", &src).unwrap_err();
        assert!(
            e.message()
                .starts_with("unknown key 'lrr' in [train]; did you mean 'lr'?"),
            "{e}"
        );
        let text = "[train]\nepochs = 2\nlr = \"fast\"\n";
        let v: toml::Table = text.parse().unwrap();
        let src = Source {
            name: "x.toml",
            text: Some(text),
        };
        let e = read::<Demo>(v["train"].clone(), "train", &src).unwrap_err();
        assert!(e.message().contains("line 3: lr = \"fast\""), "{e}");
        assert!(e.message().contains("invalid type"), "{e}");
    }
}
