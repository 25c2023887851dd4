//! nerve's matrix product against MKL in one process, interleaved.
//!
//!     OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE \
//!     cargo run --release --example gemm_vs_mkl -- \
//!         /tmp/torch-venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so \
//!         512 1024 64,784,128 64,784,128,NT 784,64,128,TN
//!
//! Each shape is `N` (square) or `M,K,N[,XY]`, where `X` and `Y` (`N` or
//! `T`) say whether `A` and `B` are stored transposed, as nerve's Linear
//! reads its weight (`NT`) or a weight gradient reads its input (`TN`).
//! `NERVE_GEMM` picks nerve's kernels as usual; `ROUNDS` (default 40) sets
//! the number of blocks.
//!
//! `nerve bench gemm` and `peers/torch/gemm.py` run one after the other, so on
//! a shared machine whose speed drifts by 1.5x within minutes a 10% difference
//! is hard to see. This harness loads MKL's `sgemm_` from PyTorch's own
//! library and alternates blocks of calls of each on the same 64-byte
//! aligned operands (as PyTorch allocates them), so both see the same machine.
//! `OMP_WAIT_POLICY=PASSIVE` stops MKL's OpenMP threads from spinning after
//! each call, which would otherwise take the cores from the next nerve call.
//!
//! Prints, per shape, each side's median GFLOP/s and the median and
//! quartiles of the per-block ratios nerve / MKL (above 1: nerve is faster).

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

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// (m, k, n, a transposed, b transposed) from `N` or `M,K,N[,XY]`.
fn parse(s: &str) -> Result<(usize, usize, usize, bool, bool), String> {
    let f: Vec<&str> = s.split(',').collect();
    let num = |x: &str| x.parse::<usize>().map_err(|e| format!("{s}: {e}"));
    let (m, k, n) = match f.len() {
        1 => (num(f[0])?, num(f[0])?, num(f[0])?),
        3 | 4 => (num(f[0])?, num(f[1])?, num(f[2])?),
        _ => return Err(format!("{s}: expected N or M,K,N[,XY]")),
    };
    let t = f.get(3).copied().unwrap_or("NN").as_bytes();
    if t.len() != 2 {
        return Err(format!("{s}: layouts are two letters, N or T"));
    }
    Ok((m, k, n, t[0] == b'T', t[1] == b'T'))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let lib_path = args
        .next()
        .ok_or("usage: gemm_vs_mkl PATH/TO/libtorch_cpu.so [SHAPE ...]")?;
    let mut shapes: Vec<String> = args.collect();
    if shapes.is_empty() {
        shapes.push("512".into());
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    nerve::kernels::memory::tune_allocator();

    // SAFETY: loading PyTorch's CPU library runs its initialisers, which
    // only set up its own state; `sgemm_` has the Fortran BLAS signature.
    let lib = unsafe { libloading::Library::new(&lib_path)? };
    let sgemm: libloading::Symbol<Sgemm> = unsafe { lib.get(b"sgemm_")? };
    println!(
        "{} | nerve kernels: {}",
        nerve::kernels::gemm::cpu_description(),
        nerve::kernels::gemm::Path::selected().name()
    );

    for s in &shapes {
        let (m, k, n, ta, tb) = parse(s)?;
        let mut g = nerve::tensor::Generator::new((m * 31 + k * 7 + n) as u64);
        let a: Vec<f32> = (0..m * k).map(|_| g.uniform(0.0, 1.0)).collect();
        let b: Vec<f32> = (0..k * n).map(|_| g.uniform(0.0, 1.0)).collect();
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        let calls = ((1e9 / flops) as usize).clamp(1, 20_000);
        let la = if ta {
            MatLayout::Transposed
        } else {
            MatLayout::Normal
        };
        let lb = if tb {
            MatLayout::Transposed
        } else {
            MatLayout::Normal
        };
        // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ:
        // B stored [k, n] is, read column-major, Bᵀ as it is ("N", ld n);
        // stored [n, k] it is B and needs "T" (ld k). The same for A.
        let (tra, lda) = if tb { (b"T", k) } else { (b"N", n) };
        let (trb, ldb) = if ta { (b"T", m) } else { (b"N", k) };
        let (mi, ki, ni) = (n as i32, k as i32, m as i32);
        let (lda, ldb, ldc) = (lda as i32, ldb as i32, n as i32);
        let (one, zero) = (1.0f32, 0.0f32);
        let run_mkl = |c: &mut [f32]| {
            let t = Instant::now();
            for _ in 0..calls {
                // SAFETY: every pointer covers its operand as the leading
                // dimensions describe; C does not alias A or B.
                unsafe {
                    sgemm(
                        tra.as_ptr(),
                        trb.as_ptr(),
                        &mi,
                        &ni,
                        &ki,
                        &one,
                        b.as_ptr(),
                        &lda,
                        a.as_ptr(),
                        &ldb,
                        &zero,
                        c.as_mut_ptr(),
                        &ldc,
                    )
                };
            }
            t.elapsed().as_secs_f64() / calls as f64
        };
        let mut c2 = vec![0.0f32; m * n];
        let run_ours = |c: &mut [f32]| {
            let t = Instant::now();
            for _ in 0..calls {
                matmul(m, k, n, &a, la, &b, lb, c, false);
            }
            t.elapsed().as_secs_f64() / calls as f64
        };
        let (mut mkl, mut ours) = (Vec::new(), Vec::new());
        for round in 0..=rounds {
            // Alternate which goes first, so that neither always runs right
            // after the other's threads.
            let (t_mkl, t_ours) = if round % 2 == 0 {
                let x = run_mkl(&mut c);
                (x, run_ours(&mut c2))
            } else {
                let o = run_ours(&mut c2);
                (run_mkl(&mut c), o)
            };
            if round > 0 {
                // the first round is a warm-up
                mkl.push(t_mkl);
                ours.push(t_ours);
            }
        }
        let worst = c
            .iter()
            .zip(&c2)
            .map(|(x, y)| ((x - y) / x.abs().max(1e-30)).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{s}: nerve and MKL differ by {worst:e}");
        let mut ratios: Vec<f64> = mkl.iter().zip(&ours).map(|(x, o)| x / o).collect();
        println!(
            "{s:>16}: MKL {:7.1} GFLOP/s, nerve {:7.1} GFLOP/s, nerve/MKL {:.3} (quartiles {:.2}-{:.2}, {rounds} blocks of {calls})",
            flops / quantile(&mut mkl, 0.5) / 1e9,
            flops / quantile(&mut ours, 0.5) / 1e9,
            quantile(&mut ratios, 0.5),
            quantile(&mut ratios, 0.25),
            quantile(&mut ratios, 0.75),
        );
    }
    Ok(())
}
