//! `nerve attention RUN_DIR --prompt "..." --out attention.png`: a trained
//! GPT's attention weights over the prompt, every layer and head as a heat
//! map over its characters (see `viz::attention`).

use std::path::PathBuf;

use clap::Args;

use crate::data::CharTokenizer;
use crate::error::{Error, Result};
use crate::train::{load_run, RunPaths};
use crate::viz::attention::draw_attention;

#[derive(Args, Debug)]
pub struct AttentionArgs {
    /// A run directory of a GPT trained by `nerve train` (model.arch = "gpt").
    pub run_dir: PathBuf,
    /// The text whose attention to draw (at most the context window; a
    /// longer one is cut to its last block_size characters).
    #[arg(long)]
    pub prompt: String,
    /// The PNG to write.
    #[arg(long, default_value = "attention.png")]
    pub out: PathBuf,
}

pub fn run(args: AttentionArgs) -> Result<()> {
    super::check_png_out(&args.out)?;
    if args.prompt.is_empty() {
        return Err(Error::new(
            "--prompt is empty: give the text whose attention to draw",
        ));
    }
    let run = load_run(&args.run_dir)?;
    let lm = run.model.as_language_model();
    let window = lm.and_then(|m| m.context_window());
    let (Some(lm), Some(window)) = (lm, window) else {
        return Err(Error::new(format!(
            "{} is a \"{}\" model; `nerve attention` draws a transformer's attention (model.arch = \"gpt\")",
            args.run_dir.display(),
            run.model.arch()
        )));
    };
    let vocab = CharTokenizer::load(RunPaths::new(&args.run_dir).vocab())?;
    let ids = vocab
        .encode(&args.prompt)
        .map_err(|e| e.context("--prompt"))?;
    let mut chars: Vec<char> = args.prompt.chars().collect();
    let ids = if ids.len() > window {
        eprintln!(
            "note: the prompt has {} characters, more than the context window of {window}: drawing its last {window}",
            ids.len()
        );
        chars.drain(..chars.len() - window);
        ids[ids.len() - window..].to_vec()
    } else {
        ids
    };
    let Some((heads, maps)) = lm.attention_maps(&ids) else {
        return Err(Error::new(format!(
            "{}: this model has no attention weights to draw",
            args.run_dir.display()
        )));
    };
    let title = format!(
        "{}: attention of {} layers x {heads} heads over {} characters (row: a position; column: what it looks at)",
        args.run_dir.display(),
        maps.len(),
        ids.len()
    );
    draw_attention(&maps, heads, &chars, &title, &args.out)?;
    println!(
        "wrote {} ({} layers x {heads} heads, {} characters)",
        args.out.display(),
        maps.len(),
        ids.len()
    );
    Ok(())
}
