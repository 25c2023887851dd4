//! A small persistent thread pool for the many short parallel steps of LLM
//! decoding: one token through SmolLM2 is about 130 matrix products of
//! 0.01-2 ms each, and a hand-off through rayon's sleeping workers (a futex
//! wake-up and a condition variable on the way back) costs tens of
//! microseconds each time. Here the workers spin on one atomic word between
//! jobs, so a hand-off is a cache-line transfer (well under a microsecond).
//!
//! `run(n, f)` calls `f(0) .. f(n - 1)`, each exactly once, on the pool's
//! workers and on the calling thread, and returns when all are done. Tasks
//! are claimed one at a time from a shared counter, so a worker that the
//! operating system has descheduled (a busy machine) delays nothing: the
//! caller and the other workers take the rest.
//!
//! The job lives in one 64-bit word: job generation (24 bits), task count
//! (20 bits) and next task (20 bits). A task is claimed by compare-and-swap
//! on that word, so a claim succeeds only for the job in place at that
//! instant; the caller installs a new job only after every task of the last
//! one is claimed and finished, so whoever holds a task sees its job alive.
//!
//! Idle workers spin for a short while (`SPIN`), then yield the processor
//! (`YIELD`, a good neighbour on a shared machine), then sleep on a condition
//! variable until the next job. A nested or concurrent `run` (a task that
//! itself runs a job, two threads using the pool at once) runs its tasks on
//! its own thread, in order.

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it starts yielding.
const SPIN: Duration = Duration::from_micros(50);
/// How long it then yields before it sleeps.
const YIELD: Duration = Duration::from_millis(2);

/// Most tasks in one job (the width of the task fields).
pub const MAX_TASKS: usize = (1 << 20) - 1;

const TASK_BITS: u32 = 20;
const TASK_MASK: u64 = (1 << TASK_BITS) - 1;

fn pack(gen: u64, n: usize, next: usize) -> u64 {
    (gen << (2 * TASK_BITS)) | ((n as u64) << TASK_BITS) | next as u64
}

fn unpack(s: u64) -> (u64, usize, usize) {
    (
        s >> (2 * TASK_BITS),
        ((s >> TASK_BITS) & TASK_MASK) as usize,
        (s & TASK_MASK) as usize,
    )
}

type Task<'a> = dyn Fn(usize) + Sync + 'a;

/// The job being run: a pointer to the caller's closure.
struct Job {
    f: *const Task<'static>,
}

struct Shared {
    state: AtomicU64,
    job: AtomicPtr<Job>,
    /// Tasks of the current job not yet finished.
    remaining: AtomicUsize,
    /// A task of the current job panicked.
    panicked: AtomicBool,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Shared {
    /// Claims the next task of whatever job is in place, if any is left.
    fn claim(&self) -> Option<usize> {
        let mut s = self.state.load(Acquire);
        loop {
            let (_, n, next) = unpack(s);
            if next >= n {
                return None;
            }
            match self.state.compare_exchange_weak(s, s + 1, AcqRel, Acquire) {
                Ok(_) => return Some(next),
                Err(now) => s = now,
            }
        }
    }

    /// Runs task `i` of the current job (which `claim` just gave).
    fn run_task(&self, i: usize) {
        // SAFETY: task i is claimed and not finished, so the caller of `run`
        // is still waiting and its closure (and `Job`) are alive.
        let f = unsafe { &*(*self.job.load(Acquire)).f };
        if catch_unwind(AssertUnwindSafe(|| f(i))).is_err() {
            self.panicked.store(true, Release);
        }
        self.remaining.fetch_sub(1, AcqRel);
    }
}

/// A fixed set of worker threads.
pub struct SpinPool {
    shared: Arc<Shared>,
    threads: usize,
    /// Held by the thread whose job is running.
    dispatch: Mutex<()>,
    generation: AtomicU64,
}

thread_local! {
    /// Set on the pool's workers and during a `run` (nested runs go serial).
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

impl SpinPool {
    /// A pool running jobs on `threads` threads: the caller and
    /// `threads - 1` workers.
    pub fn new(threads: usize) -> SpinPool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            remaining: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        for i in 1..threads {
            let s = shared.clone();
            std::thread::Builder::new()
                .name(format!("nerve-worker-{i}"))
                .spawn(move || worker(&s))
                .expect("start a worker thread");
        }
        SpinPool {
            shared,
            threads,
            dispatch: Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    /// Threads that run a job (the caller included).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Calls `f(i)` for every i in 0..n, spread over the pool, and returns
    /// when all calls have returned. A panic in a task is raised here after
    /// the others finish.
    pub fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        let nested = INSIDE.with(|c| c.get());
        let guard = if nested || self.threads == 1 || n <= 1 {
            None
        } else {
            self.dispatch.try_lock().ok()
        };
        let Some(_guard) = guard else {
            (0..n).for_each(f);
            return;
        };
        assert!(
            n <= MAX_TASKS,
            "SpinPool::run: {n} tasks (at most {MAX_TASKS})"
        );
        let sh = &*self.shared;
        // SAFETY: the 'static is a lie that `run` makes true: it returns only
        // after every task has finished, and no task runs after that (a claim
        // needs an unclaimed task of this job).
        let f: *const Task<'static> = unsafe { std::mem::transmute(f as *const Task<'_>) };
        let job = Job { f };
        sh.panicked.store(false, Relaxed);
        sh.remaining.store(n, Relaxed);
        sh.job.store(&job as *const Job as *mut Job, Release);
        let gen = (self.generation.fetch_add(1, Relaxed) + 1) & ((1 << 24) - 1);
        sh.state.store(pack(gen, n, 0), SeqCst);
        if sh.sleepers.load(SeqCst) > 0 {
            let _l = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
            sh.wake.notify_all();
        }
        INSIDE.with(|c| c.set(true));
        while let Some(i) = sh.claim() {
            sh.run_task(i);
        }
        let start = Instant::now();
        let mut spins = 0u32;
        while sh.remaining.load(Acquire) != 0 {
            spins += 1;
            if spins < 1 << 12 || start.elapsed() < SPIN {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        INSIDE.with(|c| c.set(false));
        sh.job.store(std::ptr::null_mut(), Release);
        if sh.panicked.load(Acquire) {
            resume_unwind(Box::new("a parallel task panicked"));
        }
    }
}

fn worker(sh: &Shared) {
    INSIDE.with(|c| c.set(true));
    let has_work = |s: u64| {
        let (_, n, next) = unpack(s);
        next < n
    };
    loop {
        // Wait for a job with unclaimed tasks: spinning, then yielding, then
        // asleep.
        let start = Instant::now();
        let mut spins = 0u32;
        while !has_work(sh.state.load(Acquire)) {
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) {
                std::hint::spin_loop();
                continue;
            }
            let idle = start.elapsed();
            if idle < SPIN {
                std::hint::spin_loop();
            } else if idle < YIELD {
                std::thread::yield_now();
            } else {
                let mut l = sh.lock.lock().unwrap_or_else(|e| e.into_inner());
                sh.sleepers.fetch_add(1, SeqCst);
                while !has_work(sh.state.load(SeqCst)) {
                    l = sh
                        .wake
                        .wait_timeout(l, Duration::from_millis(100))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                sh.sleepers.fetch_sub(1, SeqCst);
            }
        }
        while let Some(i) = sh.claim() {
            sh.run_task(i);
        }
    }
}

static GLOBAL: OnceLock<SpinPool> = OnceLock::new();

/// The process's pool, started on first use with `threads` threads if given
/// (`nerve --threads`), else as many as rayon's current pool has (which
/// follows `RAYON_NUM_THREADS`, else the number of cores).
pub fn global_with(threads: Option<usize>) -> &'static SpinPool {
    GLOBAL.get_or_init(|| SpinPool::new(threads.unwrap_or_else(rayon::current_num_threads)))
}

/// The process's pool (see [`global_with`]).
pub fn global() -> &'static SpinPool {
    global_with(None)
}

/// The `i`-th of `parts` near-equal consecutive ranges covering `0..len`.
pub fn split(len: usize, parts: usize, i: usize) -> std::ops::Range<usize> {
    let parts = parts.max(1);
    let base = len / parts;
    let extra = len % parts;
    let start = i * base + i.min(extra);
    start..start + base + usize::from(i < extra)
}

/// A raw pointer that tasks may share to write disjoint parts of one buffer.
#[derive(Clone, Copy)]
pub struct SharedMut<T>(*mut T, usize);

// SAFETY: users write disjoint elements only (each documents why).
unsafe impl<T: Send> Send for SharedMut<T> {}
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    pub fn new(s: &mut [T]) -> SharedMut<T> {
        SharedMut(s.as_mut_ptr(), s.len())
    }

    pub fn len(&self) -> usize {
        self.1
    }

    pub fn is_empty(&self) -> bool {
        self.1 == 0
    }

    /// The elements `range` as a mutable slice.
    ///
    /// # Safety
    /// No other live reference may overlap `range` (tasks take disjoint
    /// ranges), and the buffer must outlive the use.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, range: std::ops::Range<usize>) -> &mut [T] {
        assert!(
            range.start <= range.end && range.end <= self.1,
            "SharedMut: out of range"
        );
        std::slice::from_raw_parts_mut(self.0.add(range.start), range.end - range.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once() {
        let pool = SpinPool::new(3);
        for n in [0, 1, 2, 7, 1000] {
            let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..50 {
                pool.run(n, &|i| {
                    hits[i].fetch_add(1, Relaxed);
                });
            }
            assert!(hits.iter().all(|h| h.load(Relaxed) == 50), "n = {n}");
        }
    }

    #[test]
    fn nested_and_concurrent_runs_complete() {
        let pool = Arc::new(SpinPool::new(2));
        let total = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let (p, t) = (pool.clone(), total.clone());
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        p.run(4, &|_| {
                            p.run(3, &|_| {
                                t.fetch_add(1, Relaxed);
                            })
                        });
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(total.load(Relaxed), 3 * 100 * 4 * 3);
    }

    #[test]
    fn a_panicking_task_is_raised_after_the_others() {
        let pool = SpinPool::new(2);
        let done = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.run(8, &|i| {
                if i == 3 {
                    panic!("task 3");
                }
                done.fetch_add(1, Relaxed);
            })
        }));
        assert!(r.is_err());
        assert_eq!(done.load(Relaxed), 7);
        // The pool still works.
        pool.run(4, &|_| {
            done.fetch_add(1, Relaxed);
        });
        assert_eq!(done.load(Relaxed), 11);
    }

    #[test]
    fn split_covers_the_range() {
        let r: Vec<_> = (0..3).map(|i| split(10, 3, i)).collect();
        assert_eq!(r, vec![0..4, 4..7, 7..10]);
    }
}
