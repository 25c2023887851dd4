//! The `gemm` crate path (`NERVE_GEMM=crate`): matrix products through the
//! `gemm` crate 0.19, as nerve ran them before its own kernels, kept so that
//! the two can be compared on any machine.
//!
//! Operands are row-major slices; a transposed operand is described by its
//! strides, so `A·Bᵀ` never copies `B`. The crate is called on blocks of
//! output rows or columns that rayon's threads take as they become free.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::MatLayout;

/// Work (m·n·k) above which the product runs on all rayon threads.
const PAR_WORK: usize = 48 * 48 * 48;

/// From this much work (m·n·k) on, a product is split into blocks of output
/// columns or rows that the threads take as they become free (see `matmul`).
/// Below that, starting the threads costs more than the split saves.
const SPLIT_MIN_WORK: usize = 1 << 20;

/// Blocks per thread: more blocks than threads let a thread that runs slow (a
/// busy core, a late wake-up) take fewer of them.
const SPLIT_BLOCKS_PER_THREAD: usize = 8;

/// A column block has at least this many columns, so that each block's pass
/// over `a` (which `gemm` reads in place) is worth its work.
const SPLIT_N_MIN_COLS: usize = 32;

/// Products with more rows than this and few columns are split by rows.
const SPLIT_M_MIN_M: usize = 256;

/// A row block of a row-split product has at least this many rows, and at
/// least as many as `b` has columns, so that packing `b` once per block costs
/// little next to the block's own work.
const SPLIT_M_MIN_ROWS: usize = 128;

/// `c = a·b` (or `c += a·b` when `accumulate`), where `a` is logically `[m, k]`,
/// `b` is `[k, n]` and `c` is `[m, n]` row-major; the caller has checked the
/// lengths.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_layout: MatLayout,
    b: &[f32],
    b_layout: MatLayout,
    c: &mut [f32],
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let p = Product {
        k,
        n,
        a: a.as_ptr(),
        a_strides: a_layout.strides(m, k),
        b: b.as_ptr(),
        b_strides: b_layout.strides(k, n),
        c: c.as_mut_ptr(),
        accumulate,
    };
    let threads = rayon::current_num_threads();
    let work = m * n * k;
    if work < PAR_WORK || threads == 1 {
        // SAFETY: the caller checked the lengths: every index of the m x n
        // block lies in the slices, and `c` does not alias `a` or `b` (it is borrowed mutably).
        unsafe { p.block(0, m, 0, n, Parallelism::None) };
        return;
    }
    let blocks = SPLIT_BLOCKS_PER_THREAD * threads;
    let rows = m
        .div_ceil(blocks)
        .max(SPLIT_M_MIN_ROWS)
        .max(n)
        .next_multiple_of(16);
    if work >= SPLIT_MIN_WORK && m > SPLIT_M_MIN_M && m >= 2 * threads * rows {
        // Many rows, a small right operand (784->128 or 128->10 over 10,000
        // rows): blocks of rows. gemm's own split is static, so one slowed
        // core held up the whole product: 10000x784x128 median 17.4-18.3 ->
        // 14.3-14.7 ms, and 10000x128x10, which gemm ran on one thread,
        // 800 -> 460 us (2 threads).
        (0..m.div_ceil(rows)).into_par_iter().for_each(|t| {
            let i0 = t * rows;
            // SAFETY: as above; blocks write disjoint rows of `c`.
            unsafe { p.block(i0, rows.min(m - i0), 0, n, Parallelism::None) };
        });
        return;
    }
    if work >= SPLIT_MIN_WORK && n >= SPLIT_N_MIN_COLS * threads {
        // Everything else wide enough: blocks of output columns. Each block
        // packs only its own columns of `b` and reads `a` in place, so the
        // split packs nothing twice, and packing runs on every thread (gemm's
        // own threading packs the left operand on one thread first).
        // 64x784x128 with Wᵀ: gemm's threading 146 us, column blocks 83 us.
        // 128x64x784: two halves 116 us, 64-column blocks 103 us. On
        // 512x512x512, gemm's two static halves took either 1.5 or 3.1 ms a
        // call (3.1: one thread did both, the other woke late); the blocks
        // run as fast as MKL interleaved in the same process.
        let cols = n
            .div_ceil(blocks)
            .max(SPLIT_N_MIN_COLS)
            .next_multiple_of(16);
        (0..n.div_ceil(cols)).into_par_iter().for_each(|t| {
            let j0 = t * cols;
            // SAFETY: as above; blocks write disjoint columns of `c`.
            unsafe { p.block(0, m, j0, cols.min(n - j0), Parallelism::None) };
        });
        return;
    }
    // SAFETY: as above.
    unsafe { p.block(0, m, 0, n, Parallelism::Rayon(threads)) };
}

/// One product's operands as raw parts, so that blocks of it can run on
/// several threads.
struct Product {
    k: usize,
    n: usize,
    a: *const f32,
    a_strides: (isize, isize),
    b: *const f32,
    b_strides: (isize, isize),
    c: *mut f32,
    accumulate: bool,
}

// SAFETY: the pointers come from slices borrowed for the whole `matmul` call,
// which returns only after every block has finished; blocks that run at the
// same time write disjoint parts of `c`.
unsafe impl Sync for Product {}

impl Product {
    /// `c[i0..i0+rows, j0..j0+cols] (+)= a[i0..i0+rows, :]·b[:, j0..j0+cols]`.
    ///
    /// # Safety
    /// The block must lie inside the `[m, n]` product the operands were
    /// checked for, and no other thread may write the same part of `c`.
    unsafe fn block(&self, i0: usize, rows: usize, j0: usize, cols: usize, par: Parallelism) {
        let (a_rs, a_cs) = self.a_strides;
        let (b_rs, b_cs) = self.b_strides;
        gemm(
            rows,
            cols,
            self.k,
            self.c.add(i0 * self.n + j0),
            1,
            self.n as isize,
            self.accumulate,
            self.a.offset(i0 as isize * a_rs),
            a_cs,
            a_rs,
            self.b.offset(j0 as isize * b_cs),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}
