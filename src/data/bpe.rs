//! Byte-level BPE, the tokenizer of GPT-2, Llama 3, SmolLM2 and others,
//! built from a GGUF file's `tokenizer.ggml.*` metadata.
//!
//! Encoding a string:
//! 1. Special tokens (`<|im_start|>`, ... : token type 3, "control") are cut
//!    out first and become their own ids.
//! 2. The pre-tokenizer splits the rest into pieces. SmolLM2's (GGUF
//!    `tokenizer.ggml.pre = "smollm"`; on the Hub, Digits then ByteLevel):
//!    every digit is a piece by itself; each stretch between digits is then
//!    split by GPT-2's pattern
//!    `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
//! 3. Each piece's UTF-8 bytes are written as GPT-2's printable characters
//!    (byte b -> one char; `Ġ` is the space), one symbol per byte.
//! 4. BPE: while two adjacent symbols form a pair in the merge list, the
//!    pair of lowest rank (earliest in the list) is joined; the final symbols
//!    are looked up in the vocabulary.
//!
//! Decoding maps the ids back to their strings and the characters back to
//! bytes.

use std::collections::HashMap;

use fancy_regex::Regex;

use crate::error::{Error, Result};
use crate::io::gguf::GgufFile;

/// GPT-2's split pattern (the ByteLevel pre-tokenizer's).
const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// GGUF token type of control tokens (special tokens).
const CONTROL: i64 = 3;

/// A byte-level BPE tokenizer.
pub struct BpeTokenizer {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    /// (left id, right id) -> (rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Special tokens, longest first.
    specials: Vec<(String, u32)>,
    byte_to_char: [char; 256],
    char_to_byte: HashMap<char, u8>,
    /// The byte-character's id for each byte (None: not in the vocabulary;
    /// such bytes are dropped, as Hugging Face's BPE does without an
    /// unknown token).
    byte_ids: [Option<u32>; 256],
    split_digits: bool,
    pattern: Regex,
    bos: Option<u32>,
    eos: Option<u32>,
}

/// GPT-2's map of bytes to printable characters: the printable Latin-1
/// bytes stand for themselves, the others (control, space, ...) for
/// U+0100 onwards in byte order.
fn byte_chars() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        map[b as usize] = if printable {
            char::from_u32(b).expect("Latin-1")
        } else {
            next += 1;
            char::from_u32(next - 1).expect("below U+0200")
        };
    }
    map
}

impl BpeTokenizer {
    /// Builds the tokenizer of a GGUF file (`tokenizer.ggml.model = "gpt2"`).
    pub fn from_gguf(f: &GgufFile) -> Result<BpeTokenizer> {
        let err = |m: String| Error::new(format!("{}: {m}", f.path().display()));
        let model = f.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(err(format!(
                "tokenizer.ggml.model is `{model}`; nerve reads byte-level BPE (`gpt2`) tokenizers only"
            )));
        }
        let strings = |key: &str| -> Result<Vec<String>> {
            f.get_array(key)?
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        err(format!(
                            "{key}[{i}] is a {} (expected a string)",
                            v.type_name()
                        ))
                    })
                })
                .collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let types: Vec<i64> = match f.get("tokenizer.ggml.token_type") {
            None => vec![1; tokens.len()],
            Some(_) => f
                .get_array("tokenizer.ggml.token_type")?
                .iter()
                .map(|v| v.as_i64().unwrap_or(1))
                .collect(),
        };
        let pre = f
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        let split_digits = match pre {
            "smollm" | "starcoder" | "refact" | "codeshell" => true,
            "gpt2" | "default" | "gpt-2" => false,
            other => {
                return Err(err(format!(
                    "tokenizer.ggml.pre is `{other}`; nerve knows the pre-tokenizers `smollm` and `gpt2`"
                )))
            }
        };
        let id_of = |key: &str| f.get(key).and_then(|v| v.as_u64()).map(|v| v as u32);
        let mut tk = BpeTokenizer::new(tokens, &merges, &types, split_digits)?;
        tk.bos = id_of("tokenizer.ggml.bos_token_id").filter(|&i| (i as usize) < tk.tokens.len());
        tk.eos = id_of("tokenizer.ggml.eos_token_id").filter(|&i| (i as usize) < tk.tokens.len());
        Ok(tk)
    }

    /// A tokenizer from its vocabulary, merges ("left right", best first),
    /// GGUF token types (3 = special) and whether digits are split one by one.
    pub fn new(
        tokens: Vec<String>,
        merges: &[String],
        types: &[i64],
        split_digits: bool,
    ) -> Result<BpeTokenizer> {
        let byte_to_char = byte_chars();
        let char_to_byte = byte_to_char
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let mut byte_ids = [None; 256];
        for (b, c) in byte_to_char.iter().enumerate() {
            byte_ids[b] = ids.get(&c.to_string()).copied();
        }
        let mut merge_map = HashMap::with_capacity(merges.len());
        for (rank, m) in merges.iter().enumerate() {
            let (a, b) = m
                .split_once(' ')
                .ok_or_else(|| Error::new(format!("merge {rank} `{m}` is not two symbols")))?;
            let (Some(&ia), Some(&ib), Some(&ij)) =
                (ids.get(a), ids.get(b), ids.get(&format!("{a}{b}")))
            else {
                return Err(Error::new(format!(
                    "merge {rank} `{m}` uses a symbol not in the vocabulary"
                )));
            };
            merge_map.entry((ia, ib)).or_insert((rank as u32, ij));
        }
        let mut specials: Vec<(String, u32)> = tokens
            .iter()
            .zip(types)
            .enumerate()
            .filter(|(_, (_, &ty))| ty == CONTROL)
            .map(|(i, (t, _))| (t.clone(), i as u32))
            .filter(|(t, _)| !t.is_empty())
            .collect();
        specials.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        Ok(BpeTokenizer {
            tokens,
            ids,
            merges: merge_map,
            specials,
            byte_to_char,
            char_to_byte,
            byte_ids,
            split_digits,
            pattern: Regex::new(GPT2_PATTERN).expect("a valid pattern"),
            bos: None,
            eos: None,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The beginning- and end-of-sequence ids named in the file.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// The end-of-sequence id named in the file, if any.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// The id of a token string (e.g. a special token), if it is one.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// Whether `id` is a special (control) token.
    pub fn is_special(&self, id: u32) -> bool {
        self.specials.iter().any(|&(_, i)| i == id)
    }

    /// The ids of `text`, special tokens in it recognised.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The earliest special token in `rest` (the longest at a tie).
            let found = self
                .specials
                .iter()
                .filter_map(|(s, id)| rest.find(s.as_str()).map(|at| (at, s.len(), *id)))
                .min_by_key(|&(at, len, _)| (at, std::cmp::Reverse(len)));
            match found {
                Some((at, len, id)) => {
                    self.encode_ordinary(&rest[..at], &mut out);
                    out.push(id);
                    rest = &rest[at + len..];
                }
                None => {
                    self.encode_ordinary(rest, &mut out);
                    break;
                }
            }
        }
        out
    }

    /// Encodes text with no special tokens in it.
    fn encode_ordinary(&self, text: &str, out: &mut Vec<u32>) {
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if self.split_digits && c.is_numeric() {
                self.encode_stretch(&text[start..i], out);
                self.encode_stretch(&text[i..i + c.len_utf8()], out);
                start = i + c.len_utf8();
            }
        }
        self.encode_stretch(&text[start..], out);
    }

    /// Splits a stretch by the GPT-2 pattern and encodes each piece.
    fn encode_stretch(&self, text: &str, out: &mut Vec<u32>) {
        let mut done = 0;
        for m in self.pattern.find_iter(text) {
            // The pattern matches every character (its last branches take
            // any whitespace, the others everything else). Should the regex
            // engine still give up (its backtracking limit), the rest of the
            // stretch is encoded as one piece rather than lost or a panic.
            match m {
                Ok(m) => {
                    self.bpe(m.as_str().as_bytes(), out);
                    done = m.end();
                }
                Err(_) => break,
            }
        }
        if done < text.len() {
            self.bpe(&text.as_bytes()[done..], out);
        }
    }

    /// The BPE merges applied to one piece's bytes.
    fn bpe(&self, bytes: &[u8], out: &mut Vec<u32>) {
        let mut syms: Vec<u32> = bytes
            .iter()
            .filter_map(|&b| self.byte_ids[b as usize])
            .collect();
        while syms.len() > 1 {
            let best = syms
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| {
                    self.merges
                        .get(&(w[0], w[1]))
                        .map(|&(rank, id)| (rank, i, id))
                })
                .min();
            let Some((_, i, id)) = best else { break };
            syms[i] = id;
            syms.remove(i + 1);
        }
        out.extend(syms);
    }

    /// The text of `ids` (special tokens written as themselves); bytes that
    /// do not form UTF-8 become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }

    /// The bytes of `ids` (a streamed token may end inside a character).
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for &id in ids {
            let Some(tok) = self.tokens.get(id as usize) else {
                continue;
            };
            if self.is_special(id) {
                bytes.extend_from_slice(tok.as_bytes());
                continue;
            }
            for c in tok.chars() {
                match self.char_to_byte.get(&c) {
                    Some(&b) => bytes.push(b),
                    None => bytes.extend_from_slice(c.to_string().as_bytes()),
                }
            }
        }
        bytes
    }

    /// A token's string as stored (GPT-2 characters).
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    #[doc(hidden)]
    pub fn byte_char(&self, b: u8) -> char {
        self.byte_to_char[b as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny vocabulary: the 256 byte characters, then merges "a b", "ab c".
    fn tiny() -> BpeTokenizer {
        let chars = byte_chars();
        let mut tokens: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        tokens.extend(["ab".to_string(), "abc".to_string(), "<|s|>".to_string()]);
        let mut types = vec![1; tokens.len()];
        types[258] = CONTROL;
        BpeTokenizer::new(tokens, &["a b".into(), "ab c".into()], &types, true).unwrap()
    }

    #[test]
    fn gpt2_byte_map_is_a_bijection_with_space_as_g_dot() {
        let m = byte_chars();
        assert_eq!(m[b' ' as usize], 'Ġ');
        assert_eq!(m[b'\n' as usize], 'Ċ');
        assert_eq!(m[b'A' as usize], 'A');
        let set: std::collections::HashSet<char> = m.iter().copied().collect();
        assert_eq!(set.len(), 256);
    }

    #[test]
    fn merges_by_rank_specials_and_digits() {
        let t = tiny();
        assert_eq!(t.encode("abc"), vec![257]);
        assert_eq!(t.encode("abd"), vec![256, b'd' as u32]);
        assert_eq!(t.encode("x<|s|>ab"), vec![b'x' as u32, 258, 256]);
        // Digits are pieces of their own: "12" is two tokens even if merged.
        assert_eq!(t.encode("12"), vec![b'1' as u32, b'2' as u32]);
        for s in ["abc d\n\n e", "<|s|>", "", "é 日本"] {
            assert_eq!(t.decode(&t.encode(s)), s);
        }
    }
}
