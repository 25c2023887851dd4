//! Training: the step-based [`Trainer`], and `train(config)`, a whole run in
//! a run directory (evaluation, metrics, checkpoints, resume, best weights,
//! early stopping, diagnostics, a progress bar).

mod checkpoint;
pub mod config;
pub mod diagnostics;
mod evaluate;
pub mod explain;
mod interrupt;
mod progress;
mod run;
mod run_dir;
mod setup;
pub mod task;
mod trainer;

pub use checkpoint::BestWeights;
pub use diagnostics::{Diagnostic, Diagnostics};
pub use evaluate::{evaluate, EvalResult};
pub use interrupt::{install_ctrlc_handler, interrupted, request_interrupt};
pub use run::{train, PlotFn, TrainOptions, TrainReport, EVAL_BATCH};
pub use run_dir::{load_run, metrics_csv, parse_metrics, EpochRow, LoadedRun, RunMeta, RunPaths};
pub use setup::{
    build_model, build_model_for, load_data, load_splits, load_text, LoadedData, Splits,
    DEFAULT_SEQ_LEN,
};
pub use task::{evaluate_model, evaluate_task, Metrics, Task};
pub use trainer::{NoObserver, NonFiniteLoss, StepObserver, StepOutcome, Trainer};
