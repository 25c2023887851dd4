//! The machine's measured f32 FMA ceiling, the yardstick for GEMM figures:
//! 12 independent chains of fused multiply-adds per thread (as
//! shared/peers/cpu/cpu_peak.c), with the vectors of a path, on a number of
//! threads started together. GFLOP/s = threads·iterations·12·lanes·2 / seconds.

use std::sync::Barrier;
use std::time::Instant;

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use super::Path;

/// Chains per thread (enough to cover 4-cycle FMA latency on 2 pipes).
const CHAINS: usize = 12;

/// Best GFLOP/s of 5 runs of `iters` iterations on `threads` threads. A
/// run lasts from the first thread's start to the last thread's end, each
/// read by the thread itself (a spawning thread that is descheduled after
/// the start would otherwise shorten the run).
fn measure(path: Path, threads: usize, iters: u64) -> f64 {
    let lanes = path.lanes();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Barrier::new(threads);
        let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        let t0 = Instant::now();
                        std::hint::black_box(chains(path, iters));
                        (t0, Instant::now())
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("an FMA thread"))
                .collect()
        });
        let first = spans.iter().map(|s| s.0).min();
        let last = spans.iter().map(|s| s.1).max();
        if let (Some(a), Some(b)) = (first, last) {
            best = best.min((b - a).as_secs_f64());
        }
    }
    threads as f64 * iters as f64 * (CHAINS * lanes * 2) as f64 / best / 1e9
}

/// The ceiling in GFLOP/s with the vectors of `path` on `threads` threads
/// (about 0.1-0.3 s).
pub fn fma_ceiling(path: Path, threads: usize) -> f64 {
    let threads = threads.max(1);
    let path = if path.native().available() {
        path.native()
    } else {
        Path::Portable
    };
    // Calibrate: about 20 ms a run.
    let probe = 200_000u64;
    let t0 = Instant::now();
    std::hint::black_box(chains(path, probe));
    let per_iter = t0.elapsed().as_secs_f64() / probe as f64;
    let iters = ((0.02 / per_iter.max(1e-12)) as u64).clamp(probe, 200_000_000);
    measure(path, threads, iters)
}

/// Runs the chains; the sum of their values (so that nothing is dropped).
fn chains(path: Path, iters: u64) -> f32 {
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `fma_ceiling` runs this path only where it is available.
        Path::Avx512 => unsafe { chains_512(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Path::Avx2 => unsafe { chains_256(iters) },
        _ => chains_portable(iters),
    }
}

/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chains_512(iters: u64) -> f32 {
    let b = _mm512_set1_ps(std::hint::black_box(0.999_999));
    let c = _mm512_set1_ps(std::hint::black_box(1e-6));
    let mut a = [_mm512_setzero_ps(); CHAINS];
    for (i, x) in a.iter_mut().enumerate() {
        *x = _mm512_set1_ps(i as f32);
    }
    for _ in 0..iters {
        for x in a.iter_mut() {
            *x = _mm512_fmadd_ps(*x, b, c);
        }
    }
    let s = a
        .iter()
        .fold(_mm512_setzero_ps(), |s, &x| _mm512_add_ps(s, x));
    _mm512_reduce_add_ps(s)
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_256(iters: u64) -> f32 {
    let b = _mm256_set1_ps(std::hint::black_box(0.999_999));
    let c = _mm256_set1_ps(std::hint::black_box(1e-6));
    let mut a = [_mm256_setzero_ps(); CHAINS];
    for (i, x) in a.iter_mut().enumerate() {
        *x = _mm256_set1_ps(i as f32);
    }
    for _ in 0..iters {
        for x in a.iter_mut() {
            *x = _mm256_fmadd_ps(*x, b, c);
        }
    }
    let mut out = [0.0f32; 8];
    let s = a
        .iter()
        .fold(_mm256_setzero_ps(), |s, &x| _mm256_add_ps(s, x));
    _mm256_storeu_ps(out.as_mut_ptr(), s);
    out.iter().sum()
}

/// Four-lane multiply-then-add chains in plain Rust.
fn chains_portable(iters: u64) -> f32 {
    let b = std::hint::black_box(0.999_999f32);
    let c = std::hint::black_box(1e-6f32);
    let mut a = [[0.0f32; 4]; CHAINS];
    for (i, x) in a.iter_mut().enumerate() {
        *x = [i as f32; 4];
    }
    for _ in 0..iters {
        for x in a.iter_mut() {
            for v in x.iter_mut() {
                *v = *v * b + c;
            }
        }
    }
    a.iter().flatten().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_is_positive_and_finite_on_every_available_path() {
        for p in [Path::Avx512, Path::Avx2, Path::Portable] {
            if p.available() {
                let g = measure(p, 1, 1000);
                assert!(g.is_finite() && g > 0.0, "{p:?}: {g}");
            }
        }
    }
}
