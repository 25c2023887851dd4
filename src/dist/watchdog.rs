//! The watchdog of a distributed run: a thread that ends this rank when a
//! collective call has waited longer than the timeout.
//!
//! A rank that dies makes mpirun end the job by itself; a rank that hangs
//! (stopped, deadlocked, cut off) leaves the others waiting inside a
//! collective. Their watchdogs then print what they waited for and exit
//! with status 1, and mpirun ends the rest. Files are written atomically
//! and a checkpoint is committed by its run.json (written last), so the
//! run directory keeps its last complete checkpoint.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct State {
    /// Milliseconds since `start` when the current collective began + 1
    /// (0: not inside one).
    entered: AtomicU64,
    /// Collective calls begun.
    calls: AtomicUsize,
    what: Mutex<&'static str>,
    start: Instant,
}

/// Watches this rank's collective calls.
pub struct Watchdog {
    state: Arc<State>,
    timeout: Duration,
}

/// Inside a collective until dropped.
pub struct Guard<'a>(&'a Watchdog);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.state.entered.store(0, Ordering::SeqCst);
    }
}

impl Watchdog {
    /// Starts the watching thread of rank `rank` on `host`.
    pub fn start(rank: usize, host: String, timeout: Duration) -> Watchdog {
        let state = Arc::new(State {
            entered: AtomicU64::new(0),
            calls: AtomicUsize::new(0),
            what: Mutex::new(""),
            start: Instant::now(),
        });
        let s = state.clone();
        let tick = (timeout / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
        std::thread::Builder::new()
            .name("nerve-watchdog".into())
            .spawn(move || loop {
                std::thread::sleep(tick);
                let e = s.entered.load(Ordering::SeqCst);
                if e == 0 {
                    continue;
                }
                let waited = s.start.elapsed().saturating_sub(Duration::from_millis(e - 1));
                if waited >= timeout {
                    let what = *s.what.lock().unwrap_or_else(|p| p.into_inner());
                    eprintln!(
                        "error: rank {rank} (on {host}) waited {:.0} s for the other ranks in {what} \
                         (collective call {}): another rank has died or hangs. Ending the job; the run \
                         directory keeps its last complete checkpoint (continue with --resume). \
                         The timeout is --dist-timeout (now {} s).",
                        waited.as_secs_f64(),
                        s.calls.load(Ordering::SeqCst),
                        timeout.as_secs()
                    );
                    // SAFETY: _exit ends the process at once without running
                    // atexit handlers (MPI's would wait for the lost rank).
                    unsafe { libc::_exit(1) };
                }
            })
            .expect("start the watchdog thread");
        Watchdog { state, timeout }
    }

    /// The timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Marks the start of a collective named `what`, until the guard drops.
    pub fn enter(&self, what: &'static str) -> Guard<'_> {
        *self.state.what.lock().unwrap_or_else(|p| p.into_inner()) = what;
        self.state.calls.fetch_add(1, Ordering::SeqCst);
        let ms = self.state.start.elapsed().as_millis() as u64;
        self.state.entered.store(ms + 1, Ordering::SeqCst);
        Guard(self)
    }

    /// Marks the start of a wait that lasts until the process ends.
    pub fn enter_forever(&self, what: &'static str) {
        std::mem::forget(self.enter(what));
    }
}
