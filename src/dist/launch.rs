//! How this process was started: alone, or as one rank of N by a launcher
//! (Open MPI's mpirun, MPICH's hydra, Slurm's srun), read from the
//! variables the launcher sets. A build without the `mpi` feature uses it
//! to say, once, that it cannot join the others.

use crate::error::Error;

/// A launch of several ranks.
#[derive(Clone, Debug, PartialEq)]
pub struct Launch {
    /// Who started it ("mpirun (Open MPI)", "srun (Slurm)", ...).
    pub launcher: &'static str,
    pub rank: usize,
    pub size: usize,
}

fn var(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// The launch this process is part of, if a launcher started it as one
/// of several ranks.
pub fn detect() -> Option<Launch> {
    let found = |launcher, rank: Option<usize>, size: Option<usize>| {
        size.map(|size| Launch {
            launcher,
            rank: rank.unwrap_or(0),
            size,
        })
    };
    found(
        "mpirun (Open MPI)",
        var("OMPI_COMM_WORLD_RANK"),
        var("OMPI_COMM_WORLD_SIZE"),
    )
    .or_else(|| found("an MPI launcher (PMI)", var("PMI_RANK"), var("PMI_SIZE")))
    .or_else(|| {
        found(
            "srun (Slurm)",
            var("SLURM_PROCID"),
            var("SLURM_STEP_NUM_TASKS"),
        )
    })
    .filter(|l| l.size > 1)
}

/// Whether this process is a rank other than 0 of a launch (it prints
/// nothing that every rank would print).
pub fn is_secondary_rank() -> bool {
    detect().is_some_and(|l| l.rank > 0)
}

/// The error of a build without MPI started as one of several ranks
/// (shared: only rank 0 prints it).
pub fn not_built_error(l: &Launch) -> Error {
    Error::new(format!(
        "this nerve was built without the `mpi` feature, but {} started it as rank {} of {}: \
         each rank would train the whole run alone and they would overwrite each other's run directory. \
         Build it with `cargo build --release --features mpi` (Debian: apt-get install libopenmpi-dev openmpi-bin libclang-dev), \
         or run `nerve train` without the launcher",
        l.launcher, l.rank, l.size
    ))
    .shared()
}

/// Sets the size of rayon's global pool (the threads of every kernel):
/// `explicit` if given, else the cores this process may use divided among
/// the `local_ranks` ranks of its host (cores bound to this rank by the
/// launcher count as its own). Returns the number chosen.
pub fn configure_threads(explicit: Option<usize>, local_ranks: usize) -> usize {
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    let online = online_cpus().unwrap_or(usable);
    let n = explicit.unwrap_or_else(|| usable.min(online / local_ranks.max(1)).max(1));
    if explicit.is_some() || local_ranks > 1 {
        // Fails only when the pool was already built (a library caller's
        // own choice): keep that one.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
    }
    rayon::current_num_threads()
}

#[cfg(feature = "mpi")]
fn online_cpus() -> Option<usize> {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    (n > 0).then_some(n as usize)
}

#[cfg(not(feature = "mpi"))]
fn online_cpus() -> Option<usize> {
    None
}
