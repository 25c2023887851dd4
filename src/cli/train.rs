//! `nerve train [CONFIG]`: train a model described by a TOML config.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::Config;
use crate::error::Result;
use crate::train::{install_ctrlc_handler, train, TrainOptions};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The TOML config (see examples/).
    #[arg(default_value = "examples/mnist-mlp.toml")]
    pub config: PathBuf,
    /// Override train.epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override train.max_steps (train for this many optimizer steps).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Override train.batch_size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Override train.lr.
    #[arg(long)]
    pub lr: Option<f32>,
    /// Override train.seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override data.path: train the same config on other data of the same
    /// kind (e.g. another text file for a language model).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The run directory (default: runs/<config name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in the output directory from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
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
    #[arg(long)]
    pub threads: Option<usize>,
    /// Distributed runs: seconds a rank waits for the others inside one
    /// collective call before it ends the job (a rank died or hangs).
    #[arg(long, default_value_t = 120.0)]
    pub dist_timeout: f64,
    /// Start this training as N ranks under mpirun (the same as
    /// `mpirun -np N nerve train ...`).
    #[arg(long, value_name = "N")]
    pub ranks: Option<usize>,
    /// With --ranks: the hosts to run on (Open MPI's hostfile: `NAME slots=K` per line).
    #[arg(long, value_name = "FILE", requires = "ranks")]
    pub hostfile: Option<PathBuf>,
}

/// Loads a config and applies command-line overrides, validating the result.
pub fn config_with_overrides(args: &TrainArgs) -> Result<Config> {
    let mut cfg = Config::load(&args.config)?;
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
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(cfg.run_name(&args.config)));
    let config_dir = args
        .config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
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
