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
    /// This process's rank, 0-based.
    pub rank: usize,
    /// Number of ranks.
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
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
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

/// Starts this same command as `ranks` ranks under `mpirun` (with the hosts
/// of `hostfile`), passing its output through; `args` are the command's
/// arguments without `--ranks` and `--hostfile`. When mpirun cannot start
/// the ranks (an unreachable host, no ssh), its error is passed on with
/// what to check.
#[cfg(feature = "mpi")]
pub fn run_under_mpirun(
    ranks: usize,
    hostfile: Option<&std::path::Path>,
    args: &[std::ffi::OsString],
) -> crate::error::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe()
        .map_err(|e| Error::new(format!("cannot find this program's path: {e}")))?;
    let mut c = Command::new("mpirun");
    c.arg("-np").arg(ranks.to_string());
    if let Some(h) = hostfile {
        if !h.is_file() {
            return Err(Error::new(format!(
                "--hostfile {}: no such file (one host per line: `NAME slots=N`)",
                h.display()
            )));
        }
        c.arg("--hostfile").arg(h);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        c.arg("--allow-run-as-root");
    }
    c.arg(&exe).args(args).stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| {
        Error::new(format!(
            "cannot start mpirun: {}; install Open MPI (Debian: apt-get install openmpi-bin) or start the ranks yourself",
            crate::error::describe_io(&e)
        ))
    })?;
    let mut seen = Vec::new();
    if let Some(err) = child.stderr.take() {
        let mut out = std::io::stderr();
        for line in BufReader::new(err).lines().map_while(|l| l.ok()) {
            let _ = writeln!(out, "{line}");
            if seen.len() < 200 {
                seen.push(line);
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::new(format!("mpirun: {e}")))?;
    if status.success() {
        return Ok(());
    }
    let text = seen.join("\n");
    let startup = text.contains("unable to reliably start")
        || text.contains("Could not resolve hostname")
        || text.contains("Host key verification failed")
        || text.contains("Permission denied")
        || text.contains("plm_rsh_agent");
    if startup {
        let cause = seen
            .iter()
            .find(|l| l.starts_with("ssh:") || l.contains("Permission denied"))
            .cloned()
            .unwrap_or_else(|| "ORTE was unable to reliably start one or more daemons".into());
        let hosts = hostfile
            .and_then(|h| std::fs::read_to_string(h).ok())
            .map(|t| {
                t.lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .filter(|h| !h.starts_with('#'))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        return Err(Error::new(format!(
            "mpirun could not start the ranks on {}: {cause}. Check, for each host: that its name resolves from here \
             (`getent hosts NAME`); that `ssh NAME true` works without a password; that nerve is at {} there too, \
             built with the same Open MPI; and that no firewall blocks Open MPI's TCP connections between the hosts",
            if hosts.is_empty() { "its hosts".to_string() } else { format!("the hosts of {} ({hosts})", hostfile.map_or(String::new(), |h| h.display().to_string())) },
            exe.display()
        )));
    }
    Err(Error::new(format!(
        "the distributed run ended with {status} (the ranks' messages are above)"
    )))
}
