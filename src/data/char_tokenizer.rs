//! The character tokenizer: every distinct character of a text is one token,
//! the ids in the characters' sorted order (nanoGPT's char-level scheme).
//!
//! "ROMEO:" -> [30, 27, 25, 17, 27, 10] for a vocabulary of 65 characters;
//! decode is the inverse. The vocabulary is saved in the run directory
//! (vocab.json) so generation and evaluation use the same mapping.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{describe_io, Error, Result};
use crate::io::write_atomic;

/// A character vocabulary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharTokenizer {
    /// The characters, in id order.
    chars: Vec<char>,
}

/// The file format of vocab.json.
#[derive(Serialize, Deserialize)]
struct VocabFile {
    kind: String,
    chars: String,
}

impl CharTokenizer {
    /// The vocabulary of `text`: its distinct characters, sorted.
    pub fn from_text(text: &str) -> CharTokenizer {
        let set: BTreeSet<char> = text.chars().collect();
        CharTokenizer {
            chars: set.into_iter().collect(),
        }
    }

    /// A vocabulary of these characters in this order (no repeats).
    pub fn from_chars(chars: Vec<char>) -> Result<CharTokenizer> {
        let set: BTreeSet<char> = chars.iter().copied().collect();
        if set.len() != chars.len() {
            crate::bail!("a character vocabulary lists a character twice");
        }
        Ok(CharTokenizer { chars })
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    /// The characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    fn id(&self, c: char) -> Option<u32> {
        self.chars
            .binary_search(&c)
            .ok()
            .map(|i| i as u32)
            .or_else(|| {
                // A vocabulary not in sorted order (from_chars): linear search.
                self.chars.iter().position(|&x| x == c).map(|i| i as u32)
            })
    }

    /// The ids of `text`; an error names every character that is not in
    /// the vocabulary and says what to do.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(text.len());
        let mut missing: Vec<char> = Vec::new();
        for c in text.chars() {
            match self.id(c) {
                Some(i) => ids.push(i),
                None if !missing.contains(&c) => missing.push(c),
                None => {}
            }
        }
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().map(|c| format!("{c:?}")).collect();
            crate::bail!(
                "the text has {} character{} that the model's vocabulary of {} does not know: {}; \
                 use only characters of the training text (or train on a text that has them)",
                missing.len(),
                if missing.len() == 1 { "" } else { "s" },
                self.vocab_size(),
                shown.join(", ")
            );
        }
        Ok(ids)
    }

    /// The text of `ids` (an id outside the vocabulary becomes U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&i| self.chars.get(i as usize).copied().unwrap_or('\u{FFFD}'))
            .collect()
    }

    /// Writes vocab.json.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let f = VocabFile {
            kind: "char".into(),
            chars: self.chars.iter().collect(),
        };
        let text = serde_json::to_string(&f).expect("a vocabulary serialises");
        write_atomic(path, text.as_bytes())
    }

    /// Reads vocab.json.
    pub fn load(path: impl AsRef<Path>) -> Result<CharTokenizer> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(format!(
                "cannot read {}: {}",
                path.display(),
                describe_io(&e)
            ))
        })?;
        let f: VocabFile = serde_json::from_str(&text).map_err(|e| {
            Error::new(format!(
                "{}: not a vocabulary file ({{\"kind\": \"char\", \"chars\": \"...\"}}): {e}",
                path.display()
            ))
        })?;
        if f.kind != "char" {
            crate::bail!(
                "{}: a \"{}\" vocabulary; this nerve reads \"char\" vocabularies here",
                path.display(),
                f.kind
            );
        }
        CharTokenizer::from_chars(f.chars.chars().collect()).map_err(|e| e.context(path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_sorted_ids() {
        let t = CharTokenizer::from_text("hello, world\n");
        assert_eq!(
            t.chars(),
            &['\n', ' ', ',', 'd', 'e', 'h', 'l', 'o', 'r', 'w']
        );
        let ids = t.encode("hold\n").unwrap();
        assert_eq!(ids, vec![5, 7, 6, 3, 0]);
        assert_eq!(t.decode(&ids), "hold\n");
        let e = t.encode("Hi!").unwrap_err().to_string();
        assert!(
            e.contains("'H', 'i', '!'") && e.contains("vocabulary of 10"),
            "{e}"
        );
    }
}
