//! The MPI backend of [`Collective`] (rsmpi over the system's MPI, Open MPI
//! on Debian). MPI is initialised with `MPI_THREAD_FUNNELED`: only the main
//! thread calls MPI; rayon's workers and the watchdog never do.
//!
//! Every call runs under the [`Watchdog`]: a collective that waits longer
//! than the timeout means another rank died or hangs, and this rank ends
//! itself with a message, which makes mpirun (or srun) end the whole job.

use std::time::Duration;

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;

use super::replicas::Collective;
use super::watchdog::Watchdog;
use crate::error::{Error, Result};

/// MPI_COMM_WORLD with the host of every rank.
pub struct MpiWorld {
    world: SimpleCommunicator,
    hosts: Vec<String>,
    local_size: usize,
    watchdog: Watchdog,
    // Last: MPI_Finalize when this is dropped, after everything above.
    _universe: Universe,
}

impl MpiWorld {
    /// Initialises MPI; the watchdog ends this rank when a collective
    /// waits longer than `timeout`.
    pub fn init(timeout: Duration) -> Result<MpiWorld> {
        // A rank waiting in a collective yields its core instead of spinning
        // (Open MPI spins by default, which starves the rank it waits for
        // when ranks share cores with each other or with other work: 2 ranks
        // on this 2-core machine under load ran 10-100x slower). On
        // dedicated nodes set OMPI_MCA_mpi_yield_when_idle=0.
        if std::env::var_os("OMPI_MCA_mpi_yield_when_idle").is_none() {
            std::env::set_var("OMPI_MCA_mpi_yield_when_idle", "1");
        }
        let Some((universe, _level)) = mpi::initialize_with_threading(mpi::Threading::Funneled)
        else {
            return Err(Error::new("MPI is already initialised in this process"));
        };
        let world = universe.world();
        let rank = world.rank() as usize;
        let name = mpi::environment::processor_name().unwrap_or_else(|_| "?".into());
        let local_size = world.split_shared(world.rank()).size() as usize;
        let mut w = MpiWorld {
            world,
            hosts: Vec::new(),
            local_size,
            watchdog: Watchdog::start(rank, name.clone(), timeout),
            _universe: universe,
        };
        w.hosts = w
            .all_gather_bytes(name.as_bytes())
            .into_iter()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        Ok(w)
    }

    /// Ranks on this host.
    pub fn local_size(&self) -> usize {
        self.local_size
    }

    /// Distinct hosts of the job.
    pub fn num_hosts(&self) -> usize {
        let mut h = self.hosts.clone();
        h.sort();
        h.dedup();
        h.len()
    }

    /// The watchdog's timeout.
    pub fn timeout(&self) -> Duration {
        self.watchdog.timeout()
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn sum_f32(&self, send: &[f32], recv: &mut [f32]) {
        let _g = self.watchdog.enter("a sum of gradients");
        self.world
            .all_reduce_into(send, recv, SystemOperation::sum());
    }

    fn sum_f64(&self, send: &[f64], recv: &mut [f64]) {
        let _g = self.watchdog.enter("a sum of metrics");
        self.world
            .all_reduce_into(send, recv, SystemOperation::sum());
    }

    fn broadcast_f32(&self, buf: &mut [f32]) {
        let _g = self.watchdog.enter("a broadcast of weights");
        self.world.process_at_rank(0).broadcast_into(buf);
    }

    fn all_gather_bytes(&self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let _g = self.watchdog.enter("an exchange of checks");
        let n = self.world.size() as usize;
        let len = bytes.len() as Count;
        let mut counts = vec![0 as Count; n];
        self.world.all_gather_into(&len, &mut counts[..]);
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |acc, &c| {
                let d = *acc;
                *acc += c;
                Some(d)
            })
            .collect();
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let mut buf = vec![0u8; total];
        {
            let mut part = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            self.world.all_gather_varcount_into(bytes, &mut part);
        }
        counts
            .iter()
            .zip(&displs)
            .map(|(&c, &d)| buf[d as usize..(d + c) as usize].to_vec())
            .collect()
    }

    fn host(&self, r: usize) -> String {
        self.hosts.get(r).cloned().unwrap_or_else(|| "?".into())
    }
}

impl Drop for MpiWorld {
    fn drop(&mut self) {
        // MPI_Finalize waits for the other ranks too.
        self.watchdog
            .enter_forever("the end of the job (MPI_Finalize)");
    }
}
