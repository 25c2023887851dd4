//! The training loop: mini-batches, validation after every epoch, early
//! stopping, checkpoints in a run directory, metrics, a plot, a progress bar.

pub mod boundary;
pub mod compare;
pub mod diagnostics;
mod evaluate;
mod interrupt;
pub mod pictures;
mod plot;
mod progress;
mod run_dir;
mod setup;
pub mod task;
mod trainer;

pub use diagnostics::{Diagnostic, Diagnostics};
pub use evaluate::{evaluate, EvalResult};
pub use interrupt::{install_ctrlc_handler, interrupted, request_interrupt};
pub use plot::plot_history;
pub use run_dir::{load_run, EpochRow, LoadedRun, RunMeta};
pub use setup::{
    build_model, build_model_for, load_splits, make_optimizer, make_scheduler, BuiltModel, Splits,
};
pub use task::{evaluate_task, Metrics, Task};
pub use trainer::{train, TrainOptions, TrainReport};
