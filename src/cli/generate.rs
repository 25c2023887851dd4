//! `nerve generate RUN_DIR --prompt "ROMEO:" --tokens 500`: text from a
//! trained language model, streamed as it is made.
//! `nerve generate --model PATH.gguf --prompt "..."`: plain completion by a
//! pretrained GGUF model (SmolLM2), its prompt tokenized by its own BPE.
//!
//! Prints the prompt, then each new token's text as soon as it is sampled
//! (temperature, top-k, top-p, seed: see `models::generate`). The model's
//! state (a recurrent state, a KV cache) carries from token to token, so
//! nothing is recomputed. Ends with the speed on stderr.
//!
//! With `--model`: a prompt longer than the context window (`--ctx`) is an
//! error; generation that runs past it slides the window (the decoder keeps
//! the last half of the window and recomputes it, see `LlamaDecoder`). It
//! stops at a control token (`<|im_end|>`, `<|endoftext|>`) or after
//! `--tokens`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::llm::{self, io_err, ModelArgs, TextStream};
use crate::data::CharTokenizer;
use crate::error::{Error, Result};
use crate::models::llama::LlamaDecoder;
use crate::models::{generate_from, generate_with, Sampler, SamplingOptions};
use crate::train::{load_run, RunPaths};

/// Sampling options shared by `generate` and `chat`.
#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// Softmax temperature: 0 is greedy, 1 samples the model's own
    /// distribution, higher is more random.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Sample only among the k most likely tokens.
    #[arg(long, allow_negative_numbers = true)]
    pub top_k: Option<i64>,
    /// Sample among the fewest most likely tokens whose probabilities add up to p.
    #[arg(long, allow_negative_numbers = true)]
    pub top_p: Option<f32>,
    /// The seed of the draws: the same seed gives the same text.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
}

impl SamplingArgs {
    /// The sampling options, checked.
    pub fn options(&self) -> Result<SamplingOptions> {
        let top_k = match self.top_k {
            Some(k) if k < 1 => {
                return Err(Error::new(format!(
                    "--top-k must be at least 1 (1 is greedy; leave it out to keep every token), found {k}"
                )))
            }
            Some(k) => Some(k as usize),
            None => None,
        };
        let o = SamplingOptions {
            temperature: self.temperature,
            top_k,
            top_p: self.top_p,
            seed: self.seed,
        };
        o.validate()?;
        Ok(o)
    }
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// A run directory of a language model trained by `nerve train`.
    #[arg(required_unless_present = "model", conflicts_with = "model")]
    pub run_dir: Option<PathBuf>,
    /// A pretrained GGUF model instead of a run (SmolLM2-135M-Instruct:
    /// `bash scripts/fetch-smollm2.sh` puts it in models/).
    #[arg(long, value_name = "PATH.gguf")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub model_args: ModelArgs,
    /// The text to continue.
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// How many tokens (characters, for a char model) to generate at most.
    #[arg(long, default_value_t = 500, allow_negative_numbers = true)]
    pub tokens: i64,
    /// A model with a context window (a GPT): once the window is full, it
    /// slides forward by this many tokens at a time (1: every token sees
    /// exactly the last block_size; the default, a quarter window, recomputes
    /// less often). See docs/gpt.md.
    #[arg(long, allow_negative_numbers = true)]
    pub slide: Option<i64>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    if args.tokens < 1 {
        return Err(Error::new(format!(
            "--tokens must be at least 1, found {}",
            args.tokens
        )));
    }
    let opts = args.sampling.options()?;
    let Some(run_dir) = args.run_dir.clone() else {
        let path = args
            .model
            .clone()
            .expect("clap requires RUN_DIR or --model");
        return run_gguf(&path, &args, opts);
    };
    let run = load_run(&run_dir)?;
    let Some(lm) = run.model.as_language_model() else {
        return Err(Error::new(format!(
            "{} is a \"{}\" model trained for {}; `nerve generate` needs a language model \
             (model.arch = \"char_rnn\" or \"gpt\" on dataset = \"text\")",
            run_dir.display(),
            run.model.arch(),
            run.meta.task().name()
        )));
    };
    if let Some(ctx) = args.model_args.ctx {
        let window = match lm.context_window() {
            Some(w) => format!("its model.block_size ({w}); --slide sets how it slides"),
            None => "none: a recurrent model carries a state instead".to_string(),
        };
        return Err(Error::new(format!(
            "--ctx {ctx} is for a GGUF model (--model); the context window of {} is {window}",
            run_dir.display()
        )));
    }
    if args.model_args.threads == Some(0) {
        return Err(Error::new("--threads must be at least 1"));
    }
    if args.model_args.threads.is_some() {
        crate::dist::configure_threads(args.model_args.threads, 1);
    }
    let vocab = CharTokenizer::load(RunPaths::new(&run_dir).vocab())?;
    let prompt = if args.prompt.is_empty() {
        // Start from a newline, as a text starts a line.
        if vocab.encode("\n").is_err() {
            return Err(Error::new(
                "give a --prompt: the model's vocabulary has no newline to start from",
            ));
        }
        "\n".to_string()
    } else {
        args.prompt.clone()
    };
    let ids = vocab.encode(&prompt).map_err(|e| e.context("--prompt"))?;
    let decoder = match (args.slide, lm.context_window()) {
        (None, _) => lm.decoder(),
        (Some(s), Some(w)) if s >= 1 && s as usize <= w => lm.decoder_sliding(s as usize),
        (Some(s), Some(w)) => {
            return Err(Error::new(format!(
                "--slide must be between 1 and the context window ({w}), found {s}"
            )))
        }
        (Some(_), None) => {
            return Err(Error::new(format!(
            "--slide: a \"{}\" model has no context window to slide (it carries a state instead)",
            run.model.arch()
        )))
        }
    };
    if let Some(w) = lm.context_window() {
        if ids.len() > w {
            eprintln!(
                "note: the prompt has {} tokens, more than the context window of {w}: the model sees its last {w}",
                ids.len()
            );
        }
    }
    let mut out = std::io::stdout().lock();
    if !args.prompt.is_empty() {
        write!(out, "{}", args.prompt).map_err(io_err)?;
        out.flush().map_err(io_err)?;
    }
    let mut sampler = Sampler::new(opts)?;
    let start = Instant::now();
    let mut failed = None;
    let made = generate_with(decoder, &ids, args.tokens as usize, &mut sampler, |t| {
        let s = vocab.decode(&[t]);
        match write!(out, "{s}").and_then(|_| out.flush()) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    });
    if let Some(e) = failed {
        return Err(io_err(e));
    }
    writeln!(out).map_err(io_err)?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{} tokens in {:.2}s ({:.0} tokens/s)",
        made.len(),
        secs,
        made.len() as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// `generate --model PATH.gguf`: plain completion.
fn run_gguf(path: &std::path::Path, args: &GenerateArgs, opts: SamplingOptions) -> Result<()> {
    let m = llm::load(path, &args.model_args)?;
    if args.prompt.is_empty() {
        return Err(Error::new(
            "give a --prompt: a pretrained model continues the text it is given",
        ));
    }
    let ids = m.tokenizer.encode(&args.prompt);
    if ids.len() > m.ctx {
        return Err(Error::new(format!(
            "--prompt has {} tokens, more than the context window of {} (--ctx; the model's \
             limit is {}): shorten it or raise --ctx",
            ids.len(),
            m.ctx,
            m.model.config().context_length
        )));
    }
    let mut out = std::io::stdout().lock();
    write!(out, "{}", args.prompt).map_err(io_err)?;
    out.flush().map_err(io_err)?;
    let mut text = TextStream::new(&m.tokenizer, out);
    let mut sampler = Sampler::new(opts)?;
    let mut dec = LlamaDecoder::new(&m.model, m.ctx);
    let start = Instant::now();
    let mut first: Option<Instant> = None;
    let mut failed = None;
    let mut stopped = false;
    let made = generate_from(&mut dec, &ids, args.tokens as usize, &mut sampler, |t| {
        first.get_or_insert_with(Instant::now);
        if m.tokenizer.is_special(t) {
            stopped = true;
            return false;
        }
        match text.push(t) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    });
    if let Some(e) = failed {
        return Err(io_err(e));
    }
    text.finish().map_err(io_err)?;
    println!();
    let end = Instant::now();
    let first = first.unwrap_or(end);
    // Tokens after the first each cost one decoding step.
    let decoded = made.len().saturating_sub(1);
    eprintln!(
        "{}{}",
        llm::speed_line(ids.len(), first - start, decoded, end - first),
        if stopped {
            " (stopped at the end-of-text token)"
        } else {
            ""
        }
    );
    Ok(())
}
