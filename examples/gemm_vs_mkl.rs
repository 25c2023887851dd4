//! nerve's matrix product against MKL in one process, interleaved.
//!
//!     OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE \
//!     cargo run --release --example gemm_vs_mkl -- \
//!         /tmp/torch-venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so 512
//!
//! `nerve bench gemm` and `peers/torch/gemm.py` run one after the other, so on
//! a shared machine whose speed drifts by 1.5x within minutes a 10% difference
//! is hard to see. This harness loads MKL's `sgemm_` from PyTorch's own
//! library and alternates blocks of 10 calls of each on the same 64-byte
//! aligned operands (as PyTorch allocates them), so both see the same machine.
//! `OMP_WAIT_POLICY=PASSIVE` stops MKL's OpenMP threads from spinning after
//! each call, which would otherwise take the cores from the next nerve call.
//!
//! Prints each side's median GFLOP/s and the median of the per-block ratios
//! nerve / MKL (above 1: nerve is faster).

use std::time::Instant;

use nerve::kernels::{matmul, MatLayout};

/// As the `nerve` binary: large buffers at cache-line alignment.
#[global_allocator]
static ALLOC: nerve::kernels::memory::AlignedAlloc = nerve::kernels::memory::AlignedAlloc;

/// Fortran BLAS `sgemm_`: column-major `C = alpha·op(A)·op(B) + beta·C`.
type Sgemm = unsafe extern "C" fn(
    *const u8,
    *const u8,
    *const i32,
    *const i32,
    *const i32,
    *const f32,
    *const f32,
    *const i32,
    *const f32,
    *const i32,
    *const f32,
    *mut f32,
    *const i32,
);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lib_path = args
        .next()
        .ok_or("usage: gemm_vs_mkl PATH/TO/libtorch_cpu.so [SIZE] [ROUNDS]")?;
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(512);
    let rounds: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(60);
    nerve::kernels::memory::tune_allocator();

    // SAFETY: loading PyTorch's CPU library runs its initialisers, which
    // only set up its own state; `sgemm_` has the Fortran BLAS signature.
    let lib = unsafe { libloading::Library::new(&lib_path)? };
    let sgemm: libloading::Symbol<Sgemm> = unsafe { lib.get(b"sgemm_")? };

    let mut g = nerve::tensor::Generator::new(n as u64);
    let a: Vec<f32> = (0..n * n).map(|_| g.uniform(0.0, 1.0)).collect();
    let b: Vec<f32> = (0..n * n).map(|_| g.uniform(0.0, 1.0)).collect();
    let mut c = vec![0.0f32; n * n];
    let ni = n as i32;
    let (one, zero) = (1.0f32, 0.0f32);
    let calls = 10;
    let mut mkl = Vec::new();
    let mut ours = Vec::new();
    let mut run_mkl = || {
        let t = Instant::now();
        for _ in 0..calls {
            // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ.
            // SAFETY: every pointer covers n·n values; C does not alias A or B.
            unsafe {
                sgemm(
                    b"N".as_ptr(),
                    b"N".as_ptr(),
                    &ni,
                    &ni,
                    &ni,
                    &one,
                    b.as_ptr(),
                    &ni,
                    a.as_ptr(),
                    &ni,
                    &zero,
                    c.as_mut_ptr(),
                    &ni,
                )
            };
        }
        t.elapsed().as_secs_f64() / calls as f64
    };
    let mut c2 = vec![0.0f32; n * n];
    let mut run_ours = || {
        let t = Instant::now();
        for _ in 0..calls {
            let (l, r) = (MatLayout::Normal, MatLayout::Normal);
            matmul(n, n, n, &a, l, &b, r, &mut c2, false);
        }
        t.elapsed().as_secs_f64() / calls as f64
    };
    for round in 0..=rounds {
        // Alternate which goes first, so that neither always runs right
        // after the other's threads.
        let (t_mkl, t_ours) = if round % 2 == 0 {
            let m = run_mkl();
            (m, run_ours())
        } else {
            let o = run_ours();
            (run_mkl(), o)
        };
        if round > 0 {
            // the first round is a warm-up
            mkl.push(t_mkl);
            ours.push(t_ours);
        }
    }
    let flops = 2.0 * (n * n * n) as f64;
    let mut ratios: Vec<f64> = mkl.iter().zip(&ours).map(|(m, o)| m / o).collect();
    println!(
        "{n}x{n}x{n}, {rounds} blocks of {calls} calls each: MKL {:.1} GFLOP/s, nerve {:.1} GFLOP/s, nerve/MKL {:.3} (median of blocks)",
        flops / median(&mut mkl) / 1e9,
        flops / median(&mut ours) / 1e9,
        median(&mut ratios)
    );
    Ok(())
}
