//! nerve: neural networks from first principles.
//!
//! A neuron is a weighted sum plus a bias passed through an activation; a layer
//! is many neurons computed as one matrix product; a network is layers in a
//! row; training is forward pass, loss, backpropagation and an optimizer step.
//!
//! ```
//! use nerve::Tensor;
//! let x = Tensor::from_vec(vec![32.0, 107.0, 56.0, 11.2], &[1, 4]);
//! let w = Tensor::from_vec(vec![0.10, -0.29, -0.07, 0.46], &[4, 1]);
//! let z = x.matmul(&w).add_scalar(0.25);
//! assert!((z.item() - -26.35).abs() < 0.01);
//! ```
//!
//! # A tour
//!
//! The names are PyTorch's: [`nn`] has the layers and losses, [`optim`] the
//! optimizers, [`Tensor`] records what it computes so that
//! [`Tensor::backward`] fills every parameter's `.grad()`. Build a model,
//! train it, save it, load it back:
//!
//! ```
//! use nerve::nn::{mse_loss, Linear, Module, Reduction, ReLU, Sequential};
//! use nerve::optim::{Adam, Optimizer};
//! use nerve::Tensor;
//!
//! nerve::manual_seed(0);
//! let net = || {
//!     Sequential::new()
//!         .add(Linear::new(2, 16))
//!         .add(ReLU::new())
//!         .add(Linear::new(16, 1))
//! };
//! let model = net();
//! println!("{model:?}"); // Sequential(\n  (0): Linear(in_features=2, ...
//!
//! // XOR: forward pass, loss, backward pass, optimizer step.
//! let x = Tensor::from_vec(vec![0., 0., 0., 1., 1., 0., 1., 1.], &[4, 2]);
//! let y = Tensor::from_vec(vec![0., 1., 1., 0.], &[4, 1]);
//! let mut opt = Adam::new(model.parameters(), 0.05);
//! let mut loss = f32::INFINITY;
//! for _ in 0..300 {
//!     opt.zero_grad();
//!     let l = mse_loss(&model.forward(&x), &y, Reduction::Mean);
//!     l.backward();
//!     opt.step();
//!     loss = l.item();
//! }
//! assert!(loss < 0.01, "loss {loss}");
//!
//! // Weights as safetensors, under PyTorch's state_dict names ("0.weight", ...).
//! let dir = std::env::temp_dir().join(format!("nerve-tour-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let file = dir.join("xor.safetensors");
//! model.save_safetensors(&file)?;
//! let mut copy = net();
//! copy.load_safetensors(&file)?; // strict: every name and shape must match
//! assert_eq!(copy.forward(&x).to_vec(), model.forward(&x).to_vec());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Runs: train from a config, load the run, generate
//!
//! `nerve train config.toml` is [`train::train`]: it reads the config's data,
//! builds its [`models::Model`], trains it and writes a run directory. The
//! same config format works from Rust (docs/config.md has every key):
//!
//! ```
//! use nerve::config::Config;
//! use nerve::models::{generate, Sampler, SamplingOptions};
//! use nerve::train::{load_run, train, TrainOptions};
//! use nerve::data::CharTokenizer;
//!
//! let dir = std::env::temp_dir().join(format!("nerve-tour-run-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("text.txt"), "to be or not to be, that is the question. ".repeat(40))?;
//! let cfg = Config::parse(
//!     r#"
//!     [data]
//!     dataset = "text"
//!     path = "text.txt"
//!     seq_len = 16
//!     [model]
//!     arch = "char_rnn"
//!     cell = "lstm"
//!     embedding_dim = 8
//!     hidden_size = 32
//!     [train]
//!     max_steps = 20
//!     batch_size = 8
//!     lr = 1e-2
//!     "#,
//!     "tour.toml",
//! )?;
//! let opts = TrainOptions {
//!     out_dir: dir.join("run"),
//!     config_dir: dir.clone(), // relative data paths start here
//!     quiet: true,
//!     ..TrainOptions::default()
//! };
//! let report = train(&cfg, &opts)?;
//! assert_eq!(report.history.last().unwrap().step, 20);
//!
//! // The run directory, read back: config, facts, model with its weights.
//! let run = load_run(dir.join("run"))?;
//! let lm = run.model.as_language_model().expect("char_rnn generates");
//! let vocab = CharTokenizer::load(&dir.join("run").join("vocab.json"))?;
//! let mut sampler = Sampler::new(SamplingOptions { temperature: 0.8, seed: 1, ..Default::default() })?;
//! let ids = generate(lm, &vocab.encode("to be")?, 20, &mut sampler, |_| true);
//! println!("to be{}", vocab.decode(&ids));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Loading a run directory
//!
//! [`train::load_run`]`(dir)` (any `impl AsRef<Path>`, so a `&str` works) reads
//! what `nerve train` wrote and gives a [`train::LoadedRun`]:
//!
//! | file | what it holds | in `LoadedRun` |
//! |------|---------------|----------------|
//! | `config.toml` | the config the run was trained with | `config` |
//! | `run.json` | input shape, task, class names, epochs and steps done, best epoch, test figures | `meta` ([`train::RunMeta`]) |
//! | `model.safetensors` | the latest weights (PyTorch names) | `model`, built from the config, weights loaded, in eval mode |
//! | `best.safetensors` | the weights of the best validation loss | load with `model.load_safetensors(...)` |
//! | `metrics.csv` | one row per epoch | [`train::RunPaths::load_metrics`] |
//! | `vocab.json` | a text run's characters | [`data::CharTokenizer::load`] |
//!
//! A checkpoint cut short by a killed run is finished or dropped first. A
//! missing directory, a missing or damaged file, or weights that do not fit
//! the config are an [`Error`] naming the file, never a panic. The model is
//! a `Box<dyn Model>`: [`models::Model::forward_inputs`] runs it on a batch,
//! `as_sequential()` gives the layers of a sequential network and
//! `as_language_model()` a model that generates.
//!
//! # Features
//!
//! The default feature `cli` builds the `nerve` command (clap, plots, images,
//! progress bars, the local web pages); `cargo add nerve --no-default-features`
//! gives the library alone. `viz`, `images`, `serve`, `progress` and `mpi` can
//! be turned on one by one. Modules that exist for the command line and the
//! benchmarks (`cli`, `serve`, `kernels`) are public but hidden from these
//! docs: they are not a stable API.

#![warn(missing_docs)]

pub mod autograd;
#[cfg(feature = "cli")]
#[doc(hidden)]
// The commands' doc comments are clap's --help text (plain text, not Markdown).
#[allow(rustdoc::invalid_html_tags, rustdoc::bare_urls)]
pub mod cli;
pub mod config;
pub mod data;
pub mod dist;
pub mod error;
pub mod io;
#[doc(hidden)]
// Internals: their docs may link to each other's private helpers.
#[allow(rustdoc::private_intra_doc_links)]
pub mod kernels;
pub mod models;
pub mod nn;
pub mod optim;
pub mod schema;
#[cfg(feature = "serve")]
#[doc(hidden)]
pub mod serve;
pub mod tensor;
pub mod train;
#[cfg(feature = "viz")]
pub mod viz;

pub use autograd::{gradcheck, is_grad_enabled, no_grad, GradcheckReport, NoGradGuard};
pub use error::{Error, Result};
pub use tensor::{manual_seed, Generator, Tensor};
