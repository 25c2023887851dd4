//! `nerve train [CONFIG]`: train a model described by a TOML config.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::Config;
use crate::error::Result;
use crate::train::{install_ctrlc_handler, train, TrainOptions};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The TOML config (see examples/; default: examples/mnist-mlp.toml,
    /// looked up in the current directory).
    pub config: Option<PathBuf>,
    /// Override train.epochs.
    #[arg(long, allow_negative_numbers = true)]
    pub epochs: Option<usize>,
    /// Override train.max_steps (train for this many optimizer steps).
    #[arg(long, allow_negative_numbers = true)]
    pub max_steps: Option<usize>,
    /// Override train.batch_size.
    #[arg(long, allow_negative_numbers = true)]
    pub batch_size: Option<usize>,
    /// Override train.lr.
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// Override train.seed.
    #[arg(long, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Override data.path: train the same config on other data of the same
    /// kind (e.g. another text file for a language model).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The run directory (default: runs/<config name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in the output directory from its last checkpoint.
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Replace a run already in the output directory (its checkpoint,
    /// metrics and pictures are deleted first).
    #[arg(long)]
    pub force: bool,
    /// Print only errors (no progress, no per-epoch lines).
    #[arg(long, short)]
    pub quiet: bool,
    /// Hide the progress bar but keep the per-epoch lines.
    #[arg(long)]
    pub no_progress: bool,
    /// Also write steps.csv in the run directory: every step's loss.
    #[arg(long)]
    pub log_steps: bool,
    /// Threads for the kernels (default: the cores, divided among the
    /// ranks on this host in a distributed run).
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Distributed runs: seconds a rank waits for the others inside one
    /// collective call before it ends the job (a rank died or hangs).
    #[arg(long, default_value_t = 120.0, allow_negative_numbers = true)]
    pub dist_timeout: f64,
    /// Start this training as N ranks under mpirun (the same as
    /// `mpirun -np N nerve train ...`).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub ranks: Option<usize>,
    /// With --ranks: the hosts to run on (Open MPI's hostfile: `NAME slots=K` per line).
    #[arg(long, value_name = "FILE", requires = "ranks")]
    pub hostfile: Option<PathBuf>,
}

/// The default config, relative to the directory nerve runs in.
pub const DEFAULT_CONFIG: &str = "examples/mnist-mlp.toml";

impl TrainArgs {
    /// The config file: the one given, or the default when it is there.
    pub fn config_path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.config {
            return Ok(p.clone());
        }
        let p = PathBuf::from(DEFAULT_CONFIG);
        if p.is_file() {
            return Ok(p);
        }
        let here = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| ".".into());
        Err(crate::Error::new(format!(
            "no config given, and the default {DEFAULT_CONFIG} is not in {here}. \
             Give a config: `nerve train path/to/config.toml` (the repository's examples/ has several; \
             docs/config.md lists every key), or run nerve from the repository's root"
        )))
    }
}

/// Loads a config and applies command-line overrides, validating the result.
pub fn config_with_overrides(args: &TrainArgs) -> Result<Config> {
    let path = args.config_path()?;
    let mut cfg = Config::load(&path)?;
    let t = &mut cfg.train;
    if let Some(v) = args.epochs {
        t.epochs = v;
    }
    if let Some(v) = args.batch_size {
        t.batch_size = v;
    }
    if let Some(v) = args.max_steps {
        t.max_steps = Some(v);
    }
    if let Some(v) = args.lr {
        t.optimizer.set_lr(v);
    }
    if let Some(v) = args.seed {
        t.seed = v;
    }
    if let Some(p) = &args.data {
        // Relative to where the command runs, not to the config file.
        let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        cfg.data.path = Some(p.display().to_string());
    }
    cfg.validate()
        .map_err(|e| e.context("command-line override"))?;
    Ok(cfg)
}

pub fn run(args: TrainArgs) -> Result<()> {
    if let Some(n) = args.ranks {
        return launch(n, args.hostfile.as_deref());
    }
    let cfg = config_with_overrides(&args)?;
    let config = args.config_path()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(cfg.run_name(&config)));
    if crate::dist::detect().is_none_or(|l| l.rank == 0) {
        guard_existing_run(&out, args.resume, args.force)?;
    }
    let config_dir = config.parent().map(Path::to_path_buf).unwrap_or_default();
    if args.threads == Some(0) {
        return Err(crate::Error::new("--threads 0: give at least 1 thread"));
    }
    if !(args.dist_timeout > 0.0 && args.dist_timeout.is_finite()) {
        return Err(crate::Error::new(format!(
            "--dist-timeout {}: give a positive number of seconds",
            args.dist_timeout
        )));
    }
    let replicas = replicas(&args)?;
    install_ctrlc_handler();
    if let Some(r) = &replicas {
        r.set_stop_signal(crate::train::interrupted);
    }
    let opts = TrainOptions {
        out_dir: out,
        resume: args.resume,
        progress: !args.no_progress,
        quiet: args.quiet,
        config_dir,
        plot: Some(crate::viz::plot_history),
        log_steps: args.log_steps,
        replicas,
    };
    train(&cfg, &opts)?;
    Ok(())
}

/// A new run never overwrites one already in `out` unless told (`--force`):
/// says what is there and the ways on. With `--force` the old run's files
/// are removed first, so nothing of it is mistaken for the new one.
fn guard_existing_run(out: &Path, resume: bool, force: bool) -> Result<()> {
    let paths = crate::train::RunPaths::new(out);
    if resume || !paths.meta().exists() {
        return Ok(());
    }
    if force {
        for f in paths.all_files() {
            match std::fs::remove_file(&f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(crate::Error::new(format!(
                        "--force: cannot remove {}: {}",
                        f.display(),
                        crate::error::describe_io(&e)
                    )))
                }
                _ => {}
            }
        }
        return Ok(());
    }
    let what = match paths.load_meta() {
        Ok(m) => {
            let done = if m.steps_done > 0 && m.epochs_done == 0 {
                format!("{} steps", m.steps_done)
            } else {
                format!(
                    "{} epoch{} ({} steps)",
                    m.epochs_done,
                    if m.epochs_done == 1 { "" } else { "s" },
                    m.steps_done
                )
            };
            let result = match (m.test_accuracy, m.best_val_loss) {
                (Some(a), _) => format!(", test accuracy {:.2}%", a * 100.0),
                (None, Some(l)) => format!(", best validation loss {l:.4}"),
                _ => String::new(),
            };
            if m.finished {
                format!("a finished run: {done}{result}")
            } else {
                format!("an unfinished run, stopped after {done}{result}")
            }
        }
        Err(_) => "a run (its run.json cannot be read)".into(),
    };
    Err(crate::Error::new(format!(
        "{} already holds {what}; nerve train does not overwrite it. \
         Use --out DIR to train a new run elsewhere, --resume to continue this one \
         (with a larger --epochs or --max-steps to train longer), or --force to replace it",
        out.display()
    )))
}

/// The replicas of a distributed run when a launcher started this process
/// as one of several ranks (MPI initialised, threads per rank set).
#[cfg(feature = "mpi")]
fn replicas(args: &TrainArgs) -> Result<Option<crate::dist::Replicas>> {
    if crate::dist::detect().is_none() {
        crate::dist::configure_threads(args.threads, 1);
        return Ok(None);
    }
    let world =
        crate::dist::mpi::MpiWorld::init(std::time::Duration::from_secs_f64(args.dist_timeout))?;
    crate::dist::configure_threads(args.threads, world.local_size());
    Ok(Some(crate::dist::Replicas::new(Box::new(world))))
}

/// Without MPI: refuses to run as one of several ranks (rank 0 says why).
#[cfg(not(feature = "mpi"))]
fn replicas(args: &TrainArgs) -> Result<Option<crate::dist::Replicas>> {
    if let Some(l) = crate::dist::detect() {
        return Err(crate::dist::launch::not_built_error(&l));
    }
    crate::dist::configure_threads(args.threads, 1);
    Ok(None)
}

/// `--ranks N [--hostfile F]`: this command again, as N ranks of mpirun.
#[cfg(feature = "mpi")]
fn launch(n: usize, hostfile: Option<&Path>) -> Result<()> {
    if n == 0 {
        return Err(crate::Error::new("--ranks 0: give at least 1 rank"));
    }
    if crate::dist::detect().is_some() {
        return Err(crate::Error::new(
            "--ranks: this process is already a rank of a distributed job; leave out --ranks under mpirun or srun",
        ));
    }
    // The arguments after `nerve`, less --ranks and --hostfile (and their values).
    let mut rest = Vec::new();
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--ranks" || s == "--hostfile" {
            it.next();
        } else if !(s.starts_with("--ranks=") || s.starts_with("--hostfile=")) {
            rest.push(a);
        }
    }
    crate::dist::launch::run_under_mpirun(n, hostfile, &rest)
}

#[cfg(not(feature = "mpi"))]
fn launch(_: usize, _: Option<&Path>) -> Result<()> {
    Err(crate::Error::new(
        "--ranks: this nerve was built without the `mpi` feature; build it with `cargo build --release --features mpi` \
         (Debian: apt-get install libopenmpi-dev openmpi-bin libclang-dev)",
    ))
}
