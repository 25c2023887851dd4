//! clap commands; each is a small file calling the library.

mod attention;
pub mod bench;
mod boundary;
mod chat;
mod compare;
mod draw;
mod eval;
mod explain;
pub mod generate;
pub mod llm;
mod predict;
mod serve;
mod show_data;
mod summary;
mod summary_gguf;
mod train;
mod visualize;

use clap::{Parser, Subcommand};

use crate::error::Result;

/// nerve: train and use neural networks from the command line.
#[derive(Parser, Debug)]
#[command(name = "nerve", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model described by a TOML config (default: examples/mnist-mlp.toml).
    Train(train::TrainArgs),
    /// Evaluate a trained run: loss and the task's metrics (accuracy and confusion matrix; precision, recall, F1; MAE, RMSE, R²).
    Eval(eval::EvalArgs),
    /// Classify images (PNG/JPEG) or CSV rows with a trained run (or predict their values, for a regression).
    Predict(predict::PredictArgs),
    /// Print the layers, output shapes and parameter counts of a config or run, or a GGUF file's architecture and tensors.
    Summary(summary::SummaryArgs),
    /// Print a small network's forward pass number by number.
    Explain(explain::ExplainArgs),
    /// Draw a network: neurons and weights (with --input, each neuron's values) or a block diagram.
    Draw(draw::DrawArgs),
    /// Draw a model's decision regions over 2-D input (or a 1-D regression's fitted curve).
    Boundary(boundary::BoundaryArgs),
    /// Plot several runs' training and validation curves on one chart.
    Compare(compare::CompareArgs),
    /// Draw a grid of (augmented) training images with their labels.
    ShowData(show_data::ShowDataArgs),
    /// Draw a CNN's first-layer filters and the feature maps of each convolution for one image.
    Visualize(visualize::VisualizeArgs),
    /// Draw a GPT's attention weights over a prompt: every layer and head as a heat map.
    Attention(attention::AttentionArgs),
    /// Generate text with a trained language model or a GGUF model (--model), streamed as it is made.
    Generate(generate::GenerateArgs),
    /// Chat with a GGUF chat model (SmolLM2-135M-Instruct by default): /reset, /exit.
    Chat(chat::ChatArgs),
    /// A local web page where a small network learns 2-D data live (decision boundary, neurons, loss curves).
    Playground(serve::PlaygroundArgs),
    /// A local web page with every run under a folder: curves (live), configs, metrics, confusion matrices, samples.
    Dashboard(serve::DashboardArgs),
    /// Measure throughput (GEMM GFLOP/s, MLP training and inference samples/s).
    Bench(bench::BenchArgs),
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    crate::kernels::memory::tune_allocator();
    match cli.command {
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Summary(a) => summary::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Attention(a) => attention::run(a),
        Command::Chat(a) => chat::run(a),
        Command::ShowData(a) => show_data::run(a),
        Command::Visualize(a) => visualize::run(a),
        Command::Boundary(a) => boundary::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Draw(a) => draw::run(a),
        Command::Playground(a) => serve::playground(a),
        Command::Dashboard(a) => serve::dashboard(a),
    }
}

/// `--out` of a command that draws a PNG: the name must say .png (nerve
/// would otherwise write PNG bytes under another format's name).
pub(crate) fn check_png_out(out: &std::path::Path) -> crate::error::Result<()> {
    match out.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("png") => Ok(()),
        found => Err(crate::Error::new(format!(
            "--out {}: this picture is written as PNG, so the file name must end in .png (found {})",
            out.display(),
            found.map_or("no extension".to_string(), |e| format!(".{e}"))
        ))),
    }
}
