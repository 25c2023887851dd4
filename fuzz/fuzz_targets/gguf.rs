//! Fuzz target for the GGUF reader and everything built on its header: any
//! bytes must give a GgufFile or an error, never a panic, an out-of-bounds
//! read or a huge allocation. A file that parses goes further: every
//! tensor's bytes and first row, every metadata summary, the llama config,
//! the tokenizer (and an encode/decode), the chat template, and when the
//! whole model builds, one token through it.
//!
//!   RUSTC_BOOTSTRAP=1 cargo fuzz run gguf fuzz/corpus/gguf fuzz/seeds -- -max_len=65536
#![no_main]

use libfuzzer_sys::fuzz_target;
use nerve::data::BpeTokenizer;
use nerve::io::gguf::GgufFile;
use nerve::models::chat::ChatTemplate;
use nerve::models::llama::{Llama, LlamaConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(f) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    for (_, v) in &f.header().metadata {
        let _ = v.summary();
    }
    for t in &f.header().tensors {
        let _ = f.tensor_bytes(t);
        if let Ok(q) = f.quant_tensor(&t.name) {
            if q.rows() > 0 && q.cols() <= 1 << 16 {
                let mut row = vec![0.0f32; q.cols()];
                q.dequantize_row_into(0, &mut row);
            }
        }
    }
    let _ = LlamaConfig::from_gguf(&f);
    if let Ok(t) = BpeTokenizer::from_gguf(&f) {
        let ids = t.encode("Hello, world! 123 <|im_start|>user\n  é");
        let _ = t.decode(&ids);
    }
    let _ = ChatTemplate::from_gguf(&f);
    if let Ok(m) = Llama::from_file(&f) {
        let c = m.config();
        // Only shapes a fuzz input can hold run (their tensors are in it).
        if c.dim * c.n_layers <= 1 << 16 {
            let mut cache = m.new_cache(4);
            let _ = m.forward(&[0], &mut cache);
            let _ = m.forward(&[c.vocab_size as u32], &mut cache);
        }
    }
});
