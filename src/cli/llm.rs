//! What the commands that run a GGUF model share: its options, loading it
//! with messages a person can act on, streaming its text, timing it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::data::BpeTokenizer;
use crate::error::{Error, Result};
use crate::io::gguf::GgufFile;
use crate::models::llama::Llama;

/// Where `scripts/fetch-smollm2.sh` puts the model.
pub const DEFAULT_MODEL: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The KV cache's positions unless `--ctx` says otherwise.
pub const DEFAULT_CTX: usize = 2048;

/// The model options of `generate --model` and `chat`.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Most positions the model attends to (its KV cache): default 2048 or
    /// the model's context window if smaller (SmolLM2's: 8192). Each
    /// position costs the cache 2 x blocks x kv_width x 2 bytes (SmolLM2:
    /// 23 KB).
    #[arg(long, allow_negative_numbers = true)]
    pub ctx: Option<usize>,
    /// Worker threads (default: all cores, or RAYON_NUM_THREADS).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub threads: Option<usize>,
}

/// A model, its tokenizer and its file.
pub struct Loaded {
    pub file: GgufFile,
    pub model: Llama,
    pub tokenizer: BpeTokenizer,
    /// The cache size in positions (`--ctx`, checked).
    pub ctx: usize,
}

/// Opens a GGUF model for generation; a missing file names the fetch script.
pub fn load(path: &Path, args: &ModelArgs) -> Result<Loaded> {
    if !path.exists() {
        let hint = if path.ends_with(DEFAULT_MODEL) || path == Path::new(DEFAULT_MODEL) {
            "run `bash scripts/fetch-smollm2.sh` to download SmolLM2-135M-Instruct there".into()
        } else {
            format!(
                "give the path of a GGUF file with --model (`bash scripts/fetch-smollm2.sh` \
                 downloads SmolLM2-135M-Instruct to {DEFAULT_MODEL})"
            )
        };
        return Err(Error::new(format!(
            "model file {} does not exist; {hint}",
            path.display()
        )));
    }
    if path.is_dir() {
        return Err(Error::new(format!(
            "{} is a directory; --model takes a .gguf file",
            path.display()
        )));
    }
    if let Some(n) = args.threads {
        if n == 0 {
            return Err(Error::new("--threads must be at least 1"));
        }
    }
    crate::kernels::spin_pool::global_with(args.threads);
    let file = GgufFile::open(path)?;
    let model = Llama::from_file(&file)?;
    let tokenizer = BpeTokenizer::from_gguf(&file)?;
    let c = model.config();
    if tokenizer.vocab_size() > c.vocab_size {
        return Err(Error::new(format!(
            "{}: the tokenizer has {} tokens but the model's vocabulary is {}",
            path.display(),
            tokenizer.vocab_size(),
            c.vocab_size
        )));
    }
    let ctx = args.ctx.unwrap_or(DEFAULT_CTX.min(c.context_length));
    if ctx < 16 || ctx > c.context_length {
        return Err(Error::new(format!(
            "--ctx must be between 16 and the model's context window of {} tokens, found {ctx}",
            c.context_length
        )));
    }
    Ok(Loaded {
        file,
        model,
        tokenizer,
        ctx,
    })
}

/// Writes tokens' text as it comes: bytes of a character split across
/// tokens are held until the character is whole.
pub struct TextStream<'a, W: Write> {
    tok: &'a BpeTokenizer,
    out: W,
    pending: Vec<u8>,
}

impl<'a, W: Write> TextStream<'a, W> {
    pub fn new(tok: &'a BpeTokenizer, out: W) -> TextStream<'a, W> {
        TextStream {
            tok,
            out,
            pending: Vec::new(),
        }
    }

    /// Writes token `id`'s text (what of it forms whole characters).
    pub fn push(&mut self, id: u32) -> std::io::Result<()> {
        self.pending.extend(self.tok.decode_bytes(&[id]));
        let upto = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // An incomplete character at the end waits; invalid bytes go out
            // as U+FFFD.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        if upto > 0 {
            let text = String::from_utf8_lossy(&self.pending[..upto]).into_owned();
            self.pending.drain(..upto);
            self.out.write_all(text.as_bytes())?;
            self.out.flush()?;
        }
        Ok(())
    }

    /// Writes what is held (an incomplete character as U+FFFD).
    pub fn finish(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.out.write_all(text.as_bytes())?;
        }
        self.out.flush()
    }
}

/// "12 prompt tokens at 210.5 tokens/s, 64 generated at 98.1 tokens/s".
pub fn speed_line(prompt: usize, prompt_time: Duration, made: usize, gen_time: Duration) -> String {
    let rate = |n: usize, t: Duration| n as f64 / t.as_secs_f64().max(1e-9);
    format!(
        "{prompt} prompt tokens at {:.1} tokens/s, {made} generated at {:.1} tokens/s",
        rate(prompt, prompt_time),
        rate(made, gen_time)
    )
}

/// This process's resident memory in bytes (Linux: VmRSS), if known.
pub fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Megabytes with one decimal.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// A closed stdout (`| head`) ends the program quietly; other write errors
/// are errors.
pub fn io_err(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Error::new(format!("cannot write the text: {e}"))
}

/// The default model path, relative to the working directory.
pub fn default_model() -> PathBuf {
    PathBuf::from(DEFAULT_MODEL)
}
