//! One-row and one-column products, split over their outputs on all threads.
//!
//! `m = 1` (decoding one token: `x[1, k]·W`) is `c = a·B`. With `B`
//! row-major every `c[j]` is a column sum `Σ_p a[p]·B[p, j]` (`gemv_rows`);
//! with `B` the transpose of a row-major `W[n, k]` (a Linear layer's weight)
//! every `c[j]` is a dot product of `a` with row `j` of `W` (`gemv_dots`).
//! `n = 1` is the same problem transposed: `cᵀ = bᵀ·Aᵀ`.
//!
//! These products read every weight once and are bound by memory, not by
//! arithmetic; the threads each take a contiguous run of outputs, so each
//! streams its own part of the matrix. A run's bounds do not change any
//! output's sum, so 1 and 2 threads give the same bits.

use rayon::prelude::*;

use super::{avx2, avx512, portable, Kernel, Operand, Path, Problem};

/// Multiply-adds (`k x outputs`) from which a one-row product runs on all
/// threads: 64 Ki, 256 KiB of weights.
const PAR_MIN_WORK: usize = 1 << 16;

/// Which one-row kernel, on what.
#[derive(Clone, Copy)]
enum Gemv {
    /// `c[j] = Σ_p x[p]·m[p·ld + j]`.
    Rows { ld: isize },
    /// `c[j] = Σ_p x[p]·m[j·ld + p]`.
    Dots { ld: isize },
}

/// Runs `p` here if it is a one-row or one-column product with contiguous
/// vectors; returns false (having done nothing) otherwise.
///
/// # Safety
/// As [`super::run`] for the kernel set `K`.
pub(crate) unsafe fn run<K: Kernel>(p: &Problem) -> bool {
    let Operand::Strided(b) = p.b else {
        return false;
    };
    if p.ldc != p.n {
        // A block of a wider C: its column is not contiguous.
        return false;
    }
    // (vector, matrix, kernel, outputs)
    let (x, mat, kind, outs) = if p.m == 1 {
        if p.a.cs != 1 {
            return false;
        }
        let kind = if b.rs == 1 && (b.cs != 1 || p.n == 1) {
            Gemv::Dots { ld: b.cs }
        } else if b.cs == 1 {
            Gemv::Rows { ld: b.rs }
        } else {
            return false;
        };
        (p.a.ptr, b.ptr, kind, p.n)
    } else if p.n == 1 {
        // cᵀ[1, m] = bᵀ[1, k]·Aᵀ[k, m]; element (p, i) of Aᵀ is A(i, p).
        if b.rs != 1 {
            return false;
        }
        let kind = if p.a.cs == 1 {
            Gemv::Dots { ld: p.a.rs }
        } else if p.a.rs == 1 {
            Gemv::Rows { ld: p.a.cs }
        } else {
            return false;
        };
        (b.ptr, p.a.ptr, kind, p.m)
    } else {
        return false;
    };
    let k = p.k;
    let acc = p.accumulate;
    // SAFETY (both closures): the caller's invariants cover outputs
    // `0..outs` and every `(p, j)` of the matrix; runs write disjoint
    // outputs.
    let part = |j0: usize, len: usize| match kind {
        Gemv::Rows { ld } => K::gemv_rows(k, len, x, mat.add(j0), ld, p.c.add(j0), acc),
        Gemv::Dots { ld } => K::gemv_dots(
            k,
            len,
            x,
            mat.offset(j0 as isize * ld),
            ld,
            p.c.add(j0),
            acc,
        ),
    };
    let threads = rayon::current_num_threads();
    if threads == 1 || k * outs < PAR_MIN_WORK || outs < 32 {
        part(0, outs);
        return true;
    }
    // One run per thread, on 16-output boundaries.
    let run_len = outs.div_ceil(threads).next_multiple_of(16);
    let runs = outs.div_ceil(run_len);
    let shared = SendPart(&part);
    (0..runs).into_par_iter().for_each(|r| {
        let j0 = r * run_len;
        shared.call(j0, run_len.min(outs - j0));
    });
    true
}

/// The closure that runs part of a product, shared by the threads.
struct SendPart<'a, F>(&'a F);

impl<F: Fn(usize, usize)> SendPart<'_, F> {
    /// Runs outputs `j0..j0 + len`.
    fn call(&self, j0: usize, len: usize) {
        (self.0)(j0, len)
    }
}

// SAFETY: the closure only reads the operands and writes the outputs of the
// run it is given; runs are disjoint (see `Problem`'s `Sync`).
unsafe impl<F> Sync for SendPart<'_, F> {}

/// `c[j] (+)= Σ_p x[p]·b[p·ldb + j]` for `j < n`: one row `x[k]` times the
/// first `n` columns of a row-major `b` (`k` rows of `ldb`), on the calling
/// thread, with the kernels of [`Path::selected`]. The sums are those of
/// [`super::matmul`] for the same product (bit for bit: the one-row
/// kernels split over outputs, never over `k`), without a thread hand-off,
/// for the many small products of decoding one token. A caller may split
/// the columns itself (`b` and `c` offset by the same `j0`).
pub fn gemv_rows_here(
    k: usize,
    n: usize,
    x: &[f32],
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(
        x.len() >= k && c.len() >= n && n <= ldb && (k == 0 || b.len() >= (k - 1) * ldb + n),
        "gemv_rows_here: x {} (needs {k}), b {} (needs {k} rows of {ldb}, {n} used), c {} (needs {n})",
        x.len(),
        b.len(),
        c.len()
    );
    if n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..n].fill(0.0);
        }
        return;
    }
    let (x, b, c, ld) = (x.as_ptr(), b.as_ptr(), c.as_mut_ptr(), ldb as isize);
    // SAFETY: the lengths checked above cover `x[..k]`, `c[..n]` and every
    // `b[p·ldb + j]`; the path is one this CPU runs (`Path::selected`).
    unsafe {
        match Path::selected().native() {
            Path::Avx512 => avx512::Avx512::gemv_rows(k, n, x, b, ld, c, accumulate),
            Path::Avx2 => avx2::Avx2::gemv_rows(k, n, x, b, ld, c, accumulate),
            _ => portable::Portable::gemv_rows(k, n, x, b, ld, c, accumulate),
        }
    }
}
