//! `nerve chat [--model PATH.gguf]`: talk to a pretrained chat model.
//!
//! Each line read from stdin is a message; the reply streams as it is
//! sampled and stops at the model's end-of-message token (`<|im_end|>`) or
//! after `--tokens`. The prompt is the model's own ChatML format, read from
//! its GGUF metadata (`models::chat`), with its default system message
//! unless `--system` gives one. `/reset` starts a new conversation, `/exit`
//! (or the end of input) quits.
//!
//! History: the conversation stays in the KV cache from turn to turn, so a
//! turn computes only its new tokens. When a message and its longest reply
//! (`--tokens`) would not fit in the window (`--ctx`), the oldest exchanges
//! are dropped, whole, until they do (the system message is kept) and the
//! rest is computed again; a message too long even alone is refused, and
//! the conversation goes on. After each reply: prompt and generation
//! tokens/s and how full the window is; at the end, the totals and the
//! process's resident memory.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use super::generate::SamplingArgs;
use super::llm::{self, io_err, ModelArgs, TextStream};
use crate::error::{Error, Result};
use crate::models::chat::{ChatTemplate, Role};
use crate::models::llama::LlamaDecoder;
use crate::models::{generate_from, Decoder, Sampler};

#[derive(Args, Debug)]
pub struct ChatArgs {
    /// The GGUF chat model (`bash scripts/fetch-smollm2.sh` puts SmolLM2 here).
    #[arg(long, value_name = "PATH.gguf", default_value = llm::DEFAULT_MODEL)]
    pub model: PathBuf,
    /// The system message (default: the one in the model's chat template).
    #[arg(long)]
    pub system: Option<String>,
    /// Most tokens in one reply.
    #[arg(long, default_value_t = 256, allow_negative_numbers = true)]
    pub tokens: i64,
    #[command(flatten)]
    pub model_args: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

/// Running totals for the closing line.
#[derive(Default)]
struct Totals {
    prompt: usize,
    prompt_time: Duration,
    made: usize,
    gen_time: Duration,
}

pub fn run(args: ChatArgs) -> Result<()> {
    if args.tokens < 1 {
        return Err(Error::new(format!(
            "--tokens must be at least 1, found {}",
            args.tokens
        )));
    }
    let max_reply = args.tokens as usize;
    let mut sampler = Sampler::new(args.sampling.options()?)?;
    let m = llm::load(&args.model, &args.model_args)?;
    let template = ChatTemplate::from_gguf(&m.file)?;
    let end = m.tokenizer.token_id(template.end_marker()).ok_or_else(|| {
        Error::new(format!(
            "{}: the vocabulary has no {} token for the chat template",
            args.model.display(),
            template.end_marker()
        ))
    })?;
    if max_reply + 16 > m.ctx {
        return Err(Error::new(format!(
            "--tokens {max_reply} leaves no room for a message in the context window of {} (--ctx)",
            m.ctx
        )));
    }
    let system = args.system.clone().or(template.default_system.clone());
    let name = m
        .file
        .get("general.name")
        .and_then(|v| v.as_str())
        .unwrap_or("the model")
        .to_string();
    let interactive = std::io::stdin().is_terminal();
    eprintln!(
        "{name} ({}, {} blocks), context {} tokens, replies up to {max_reply} tokens. \
         /reset starts over, /exit quits.",
        llm::mb(m.file.file_len()),
        m.model.config().n_layers,
        m.ctx
    );
    let mut dec = LlamaDecoder::new(&m.model, m.ctx);
    // The exchanges so far (user, assistant), oldest first.
    let mut history: Vec<(String, String)> = Vec::new();
    // Whether the cache ends with a reply whose end marker is not yet fed.
    let mut open_reply = false;
    let mut totals = Totals::default();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    loop {
        if interactive {
            print!("> ");
            std::io::stdout().flush().map_err(io_err)?;
        }
        line.clear();
        let n = input
            .read_line(&mut line)
            .map_err(|e| Error::new(format!("cannot read the message from stdin: {e}")))?;
        if n == 0 {
            break;
        }
        let msg = line.trim_end_matches(['\n', '\r']).trim();
        match msg {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                history.clear();
                dec.reset();
                open_reply = false;
                println!("(new conversation)");
                continue;
            }
            _ => {}
        }
        // The tokens this turn adds after what the cache holds.
        let turn = |close: bool| {
            let mut s = String::new();
            if close {
                s += template.end_marker();
                s += "\n";
            }
            s += &template.message(Role::User, msg);
            s += &template.generation_prompt();
            m.tokenizer.encode(&s)
        };
        let mut feed = if dec.position() == 0 {
            let mut s = system
                .as_ref()
                .map(|sys| template.message(Role::System, sys))
                .unwrap_or_default();
            s += &template.message(Role::User, msg);
            s += &template.generation_prompt();
            m.tokenizer.encode(&s)
        } else {
            turn(open_reply)
        };
        if dec.position() + feed.len() + max_reply > m.ctx {
            // Drop the oldest exchanges until this one fits; recompute.
            let render = |from: usize| {
                let mut msgs = Vec::new();
                if let Some(sys) = &system {
                    msgs.push((Role::System, sys.clone()));
                }
                for (u, a) in &history[from..] {
                    msgs.push((Role::User, u.clone()));
                    msgs.push((Role::Assistant, a.clone()));
                }
                msgs.push((Role::User, msg.to_string()));
                m.tokenizer.encode(&template.render(&msgs))
            };
            let mut from = 0;
            let mut ids = render(from);
            while ids.len() + max_reply > m.ctx && from < history.len() {
                from += 1;
                ids = render(from);
            }
            if ids.len() + max_reply > m.ctx {
                println!(
                    "(this message is {} tokens; with a reply of up to {max_reply} it does not fit \
                     the context window of {} tokens: send a shorter one, or raise --ctx)",
                    ids.len(),
                    m.ctx
                );
                continue;
            }
            if from > 0 {
                eprintln!(
                    "(the context window is full: the oldest {from} exchange(s) are dropped)"
                );
            }
            history.drain(..from);
            dec.reset();
            feed = ids;
        }
        let out = std::io::stdout().lock();
        let mut text = TextStream::new(&m.tokenizer, out);
        let mut reply = Vec::new();
        let start = Instant::now();
        let mut first: Option<Instant> = None;
        let mut failed = None;
        let made = generate_from(&mut dec, &feed, max_reply, &mut sampler, |t| {
            first.get_or_insert_with(Instant::now);
            if t == end || m.tokenizer.is_special(t) {
                return false;
            }
            reply.push(t);
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
        drop(text);
        println!();
        let done = Instant::now();
        let first = first.unwrap_or(done);
        // Every reply token but the last was fed back; the last (or the end
        // marker) is not in the cache, so the next turn starts by closing it.
        let last = made.last().copied();
        if last.is_some_and(|t| t != end && !m.tokenizer.is_special(t)) {
            // The reply hit --tokens: feed its last token so the cache holds it.
            dec.try_feed(&[last.expect("checked")])?;
        }
        open_reply = true;
        let decoded = made.len().saturating_sub(1);
        totals.prompt += feed.len();
        totals.prompt_time += first - start;
        totals.made += decoded;
        totals.gen_time += done - first;
        eprintln!(
            "[{}; context {}/{}]",
            llm::speed_line(feed.len(), first - start, decoded, done - first),
            dec.position(),
            m.ctx
        );
        history.push((msg.to_string(), m.tokenizer.decode(&reply)));
    }
    let rss = match (llm::resident_bytes(), llm::peak_resident_bytes()) {
        (Some(now), Some(peak)) => format!(
            "; resident memory {} (peak {})",
            llm::mb(now),
            llm::mb(peak)
        ),
        (Some(now), None) => format!("; resident memory {}", llm::mb(now)),
        _ => String::new(),
    };
    eprintln!(
        "[total: {}; model file {} (mapped), KV cache {}{rss}]",
        llm::speed_line(
            totals.prompt,
            totals.prompt_time,
            totals.made,
            totals.gen_time
        ),
        llm::mb(m.file.file_len()),
        llm::mb(dec.cache_bytes() as u64),
    );
    Ok(())
}
