//! Hand-made GGUF files for tests: a writer and a tiny but complete llama
//! model (random Q8_0 weights, a byte-level BPE vocabulary of the 256 byte
//! characters plus ChatML's special tokens, the ChatML template), so the
//! commands can be run end to end without the real model.
#![allow(dead_code)]

/// A metadata value to write.
pub enum Meta {
    Str(String),
    U32(u32),
    F32(f32),
    Strs(Vec<String>),
    I32s(Vec<i32>),
    /// Raw bytes after the type id (hostile values).
    Raw(u32, Vec<u8>),
}

/// One tensor: name, dims (innermost first), ggml type id, bytes.
pub struct Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub type_id: u32,
    pub bytes: Vec<u8>,
}

pub struct Gguf {
    pub meta: Vec<(String, Meta)>,
    pub tensors: Vec<Tensor>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

impl Gguf {
    pub fn set(&mut self, key: &str, v: Meta) {
        self.meta.retain(|(k, _)| k != key);
        self.meta.push((key.to_string(), v));
    }

    pub fn tensor_mut(&mut self, name: &str) -> &mut Tensor {
        self.tensors
            .iter_mut()
            .find(|t| t.name == name)
            .expect("tensor present")
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut f = b"GGUF".to_vec();
        f.extend(3u32.to_le_bytes());
        f.extend((self.tensors.len() as u64).to_le_bytes());
        f.extend((self.meta.len() as u64).to_le_bytes());
        for (k, v) in &self.meta {
            put_str(&mut f, k);
            match v {
                Meta::Str(s) => {
                    f.extend(8u32.to_le_bytes());
                    put_str(&mut f, s);
                }
                Meta::U32(x) => {
                    f.extend(4u32.to_le_bytes());
                    f.extend(x.to_le_bytes());
                }
                Meta::F32(x) => {
                    f.extend(6u32.to_le_bytes());
                    f.extend(x.to_le_bytes());
                }
                Meta::Strs(a) => {
                    f.extend(9u32.to_le_bytes());
                    f.extend(8u32.to_le_bytes());
                    f.extend((a.len() as u64).to_le_bytes());
                    for s in a {
                        put_str(&mut f, s);
                    }
                }
                Meta::I32s(a) => {
                    f.extend(9u32.to_le_bytes());
                    f.extend(5u32.to_le_bytes());
                    f.extend((a.len() as u64).to_le_bytes());
                    for x in a {
                        f.extend(x.to_le_bytes());
                    }
                }
                Meta::Raw(ty, bytes) => {
                    f.extend(ty.to_le_bytes());
                    f.extend(bytes);
                }
            }
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_str(&mut f, &t.name);
            f.extend((t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                f.extend(d.to_le_bytes());
            }
            f.extend(t.type_id.to_le_bytes());
            f.extend(offset.to_le_bytes());
            offset += (t.bytes.len() as u64).div_ceil(32) * 32;
        }
        while !f.len().is_multiple_of(32) {
            f.push(0);
        }
        for t in &self.tensors {
            f.extend(&t.bytes);
            while !f.len().is_multiple_of(32) {
                f.push(0);
            }
        }
        f
    }
}

/// A deterministic stream of bytes (xorshift).
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }
}

/// `rows` x `cols` of Q8_0 (scale 1/64, random codes).
fn q8_0(rows: usize, cols: usize, seed: u64) -> Tensor {
    let mut g = Bytes(seed * 0x9E37_79B9 + 1);
    let mut bytes = Vec::new();
    for _ in 0..rows * cols / 32 {
        bytes.extend(half::f16::from_f32(1.0 / 64.0).to_bits().to_le_bytes());
        bytes.extend((0..32).map(|_| g.next()));
    }
    Tensor {
        name: String::new(),
        dims: vec![cols as u64, rows as u64],
        type_id: 8,
        bytes,
    }
}

fn ones(n: usize) -> Tensor {
    Tensor {
        name: String::new(),
        dims: vec![n as u64],
        type_id: 0,
        bytes: (0..n).flat_map(|_| 1.0f32.to_le_bytes()).collect(),
    }
}

/// GPT-2's printable character for each byte.
fn byte_char(b: u8) -> char {
    let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    if printable {
        return b as char;
    }
    let below = (0..b)
        .filter(|&c| !((33..=126).contains(&c) || (161..=172).contains(&c) || c >= 174))
        .count();
    char::from_u32(256 + below as u32).unwrap()
}

pub const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a tiny test model<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// The tiny llama: 1 block, width 32, 2 query heads and 1 key/value head of
/// 16, feed-forward 32, context 256, vocabulary 256 bytes + 3 specials.
pub fn tiny_llama() -> Gguf {
    let (dim, ffn, vocab) = (32usize, 32usize, 259usize);
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    tokens.extend(["<|endoftext|>", "<|im_start|>", "<|im_end|>"].map(String::from));
    let mut types = vec![1i32; 256];
    types.extend([3, 3, 3]);
    let meta = vec![
        ("general.architecture".into(), Meta::Str("llama".into())),
        ("general.name".into(), Meta::Str("tiny test llama".into())),
        ("llama.block_count".into(), Meta::U32(1)),
        ("llama.context_length".into(), Meta::U32(256)),
        ("llama.embedding_length".into(), Meta::U32(dim as u32)),
        ("llama.feed_forward_length".into(), Meta::U32(ffn as u32)),
        ("llama.attention.head_count".into(), Meta::U32(2)),
        ("llama.attention.head_count_kv".into(), Meta::U32(1)),
        ("llama.rope.freq_base".into(), Meta::F32(10000.0)),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Meta::F32(1e-5),
        ),
        ("tokenizer.ggml.model".into(), Meta::Str("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Meta::Str("smollm".into())),
        ("tokenizer.ggml.tokens".into(), Meta::Strs(tokens)),
        ("tokenizer.ggml.token_type".into(), Meta::I32s(types)),
        ("tokenizer.ggml.merges".into(), Meta::Strs(vec![])),
        ("tokenizer.ggml.eos_token_id".into(), Meta::U32(258)),
        ("tokenizer.chat_template".into(), Meta::Str(CHATML.into())),
    ];
    let mut tensors = Vec::new();
    let mut add = |name: &str, mut t: Tensor| {
        t.name = name.into();
        tensors.push(t);
    };
    add("token_embd.weight", q8_0(vocab, dim, 1));
    add("output_norm.weight", ones(dim));
    add("blk.0.attn_norm.weight", ones(dim));
    add("blk.0.attn_q.weight", q8_0(dim, dim, 2));
    add("blk.0.attn_k.weight", q8_0(16, dim, 3));
    add("blk.0.attn_v.weight", q8_0(16, dim, 4));
    add("blk.0.attn_output.weight", q8_0(dim, dim, 5));
    add("blk.0.ffn_norm.weight", ones(dim));
    add("blk.0.ffn_gate.weight", q8_0(ffn, dim, 6));
    add("blk.0.ffn_up.weight", q8_0(ffn, dim, 7));
    add("blk.0.ffn_down.weight", q8_0(dim, ffn, 8));
    Gguf { meta, tensors }
}
