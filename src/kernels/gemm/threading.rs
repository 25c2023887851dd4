//! Splitting a product over the threads: `C` is cut into a grid of tiles,
//! one per thread, and each thread runs the whole BLIS loop nest on its
//! tile with its own packing buffers. `k` is never split, so every element
//! is summed in the same order whatever the split (see mod.rs).
//!
//! The grid is `tm x tn` with `tm·tn` = threads (up to 4x that for large
//! products, see `tiles_per_thread`). Each tile packs the rows of
//! `A` and the columns of `B` it reads, so splitting `m` repeats the packing
//! of `B` and splitting `n` repeats that of `A`; the grid is the one that
//! minimises the slowest tile's work plus its packing:
//!
//! ```text
//! cost(tm, tn) = rows·cols·k + PACK_COST·(rows·k·[A packed] + k·cols·[B packed])
//!                + rows·k + k·cols        (reading the operands)
//! rows = ⌈m/tm⌉ up to MR,  cols = ⌈n/tn⌉ up to NR
//! ```

use rayon::prelude::*;

use super::driver::{packs, tile};
use super::scratch::with_scratch;
use super::{Kernel, Problem};

/// Multiply-adds (`m·n·k`) from which a product runs on all threads:
/// 256 Ki, a few microseconds on one core.
const PAR_MIN_WORK: usize = 1 << 18;

/// Multiply-adds per tile from which a product gets more than one tile per
/// thread (up to 4): 16 Mi, about 65 us on one core.
const TILE_WORK: usize = 1 << 24;

/// Cost of packing one value, in multiply-adds.
const PACK_COST: usize = 8;

/// A grid of tiles over `C`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grid {
    /// Rows and columns of every tile but the last in each direction.
    pub rows: usize,
    pub cols: usize,
    /// Tiles down and across.
    pub tm: usize,
    pub tn: usize,
}

impl Grid {
    /// The whole product as one tile.
    fn single(m: usize, n: usize) -> Grid {
        Grid {
            rows: m,
            cols: n,
            tm: 1,
            tn: 1,
        }
    }
}

/// The grid of (up to) `tiles` tiles.
pub(crate) fn grid<K: Kernel>(p: &Problem, tiles: usize) -> Grid {
    let (m, n, k) = (p.m, p.n, p.k);
    if tiles <= 1 || m * n * k < PAR_MIN_WORK {
        return Grid::single(m, n);
    }
    // Whole panels: a tile only a vector or two wide runs the kernel with
    // a quarter of its accumulators (x[2048x512]·W[512x128] on 8 tiles of
    // 16 columns: 235 GFLOP/s on 2 threads, one thread's worth).
    let col_align = K::NR;
    let mut best: Option<(usize, Grid)> = None;
    for tm in 1..=tiles {
        if !tiles.is_multiple_of(tm) {
            continue;
        }
        let tn = tiles / tm;
        let rows = m.div_ceil(tm).next_multiple_of(K::MR);
        let cols = n.div_ceil(tn).next_multiple_of(col_align);
        let g = Grid {
            rows,
            cols,
            tm: m.div_ceil(rows),
            tn: n.div_ceil(cols),
        };
        let (pa, pb) = packs::<K>(p, rows.min(m), cols.min(n));
        let work = rows.min(m) * cols.min(n) * k;
        let pack = pa as usize * rows.min(m) * k + pb as usize * k * cols.min(n);
        // Every tile also reads its rows of A and columns of B at least once.
        let read = rows.min(m) * k + k * cols.min(n);
        let cost = work + PACK_COST * pack + read;
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, g));
        }
    }
    best.map_or(Grid::single(m, n), |(_, g)| g)
}

/// Tiles per thread for `work` multiply-adds. Large products get up to 4, so
/// that on a shared machine a thread slowed by another process holds up one
/// small tile, not half the product: rayon's other threads take the tiles it
/// has not started. Small products get one, where more tiles would only
/// repeat packing. On the 2-core Zen 5 with one core busy elsewhere: 512³
/// 196 -> 222 GFLOP/s, 2048x128x384 (A·Bᵀ) 206 -> 235, while 64x784x128 at
/// 4 per thread fell from 197 to 114.
fn tiles_per_thread(work: usize, threads: usize) -> usize {
    if threads <= 1 {
        return 1;
    }
    (work / (threads * TILE_WORK)).clamp(1, 4)
}

/// Runs a checked product on the tiles of its grid.
///
/// # Safety
/// As [`super::run`] for the kernel set `K`.
pub(crate) unsafe fn run<K: Kernel>(p: &Problem) {
    let threads = rayon::current_num_threads();
    let g = grid::<K>(p, threads * tiles_per_thread(p.m * p.n * p.k, threads));
    let tiles = g.tm * g.tn;
    // SAFETY (both branches): tiles are disjoint parts of C inside m x n.
    if tiles == 1 {
        with_scratch(|s| tile::<K>(p, 0..p.m, 0..p.n, s));
        return;
    }
    (0..tiles).into_par_iter().for_each(|t| {
        let (r, c) = (t / g.tn, t % g.tn);
        let rows = r * g.rows..((r + 1) * g.rows).min(p.m);
        let cols = c * g.cols..((c + 1) * g.cols).min(p.n);
        with_scratch(|s| tile::<K>(p, rows, cols, s));
    });
}
