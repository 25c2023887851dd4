//! Data-parallel training: every replica holds the whole model, trains on
//! its share of each global batch, and the gradients are summed across
//! replicas before every optimizer step (PyTorch's DistributedDataParallel).
//!
//! - [`replicas`]: the backend-free part (shares of a batch, gradient
//!   buckets, agreement on errors, checksums) over a [`Collective`].
//! - `mpi` (cargo feature `mpi`): the Collective over MPI, with a watchdog
//!   that ends the job when a rank dies or hangs.
//! - [`launch`]: how the process was started (mpirun, srun) and how many
//!   threads each rank uses.
//!
//! See docs/distributed.md.

pub mod launch;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod replicas;
#[cfg(feature = "mpi")]
mod watchdog;

pub use launch::{configure_threads, detect, is_secondary_rank, Launch};
pub use replicas::{
    batch_rows, share_range, Checksum, Collective, CommStats, Replicas, StepSums, BUCKET_FLOATS,
};
