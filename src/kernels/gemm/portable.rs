//! Portable kernels in plain Rust: any CPU, vectorised by the compiler for
//! the build's baseline (SSE2 on x86-64, NEON on aarch64).
//!
//! A 4 x 8 micro-tile: 8 accumulators of 4 lanes fit the 16 SSE registers.
//! The full tile has fixed bounds so the compiler keeps it in registers;
//! edges run the same sums (`acc += a·b` in order of `p`, not fused) with
//! run-time bounds.

use super::{Kernel, Tile};

/// The portable kernel set.
pub(crate) struct Portable;

const MR: usize = 4;
const NR: usize = 8;

impl Kernel for Portable {
    const MR: usize = MR;
    const NR: usize = NR;
    const KC: usize = 256;
    const MC: usize = 64;
    const NC: usize = 2048;
    const SIMD_PACK: bool = false;

    unsafe fn tile(t: &Tile) {
        if t.mr == MR && t.nr == NR {
            full(t)
        } else {
            edge(t)
        }
    }

    unsafe fn gemv_rows(
        k: usize,
        n: usize,
        a: *const f32,
        b: *const f32,
        ldb: isize,
        c: *mut f32,
        accumulate: bool,
    ) {
        // Row by row of b (contiguous), c in L1: c[j] += a[p]·b[p, j] in
        // order of p.
        let c = std::slice::from_raw_parts_mut(c, n);
        if !accumulate {
            c.fill(0.0);
        }
        for p in 0..k {
            let av = *a.add(p);
            let row = std::slice::from_raw_parts(b.offset(p as isize * ldb), n);
            for (x, &bj) in c.iter_mut().zip(row) {
                *x += av * bj;
            }
        }
    }

    unsafe fn gemv_dots(
        k: usize,
        n: usize,
        a: *const f32,
        w: *const f32,
        ldw: isize,
        c: *mut f32,
        accumulate: bool,
    ) {
        const L: usize = 8;
        for j in 0..n {
            let row = w.offset(j as isize * ldw);
            let mut acc = [0.0f32; L];
            let mut p = 0;
            while p + L <= k {
                for (l, x) in acc.iter_mut().enumerate() {
                    *x += *a.add(p + l) * *row.add(p + l);
                }
                p += L;
            }
            for (l, x) in acc.iter_mut().enumerate().take(k - p) {
                *x += *a.add(p + l) * *row.add(p + l);
            }
            let s =
                ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            let ptr = c.add(j);
            *ptr = if accumulate { *ptr + s } else { s };
        }
    }
}

/// Address of `A[i, p]` for a tile.
#[inline(always)]
unsafe fn a_at(t: &Tile, i: usize, p: usize) -> *const f32 {
    if t.a_packed {
        t.a.add(p * MR + i)
    } else {
        t.a.offset(i as isize * t.a_rs + p as isize * t.a_ks)
    }
}

/// The full 4 x 8 tile.
///
/// # Safety
/// As [`Kernel::tile`], with `t.mr == 4`, `t.nr == 8`.
unsafe fn full(t: &Tile) {
    let mut acc = [[0.0f32; NR]; MR];
    for p in 0..t.kc {
        let brow = t.b.offset(p as isize * t.b_ks);
        let mut bv = [0.0f32; NR];
        for (j, x) in bv.iter_mut().enumerate() {
            *x = *brow.add(j);
        }
        for (i, acc_i) in acc.iter_mut().enumerate() {
            let av = *a_at(t, i, p);
            for (x, &bj) in acc_i.iter_mut().zip(&bv) {
                *x += av * bj;
            }
        }
    }
    store(t, &acc);
}

/// A tile with fewer rows or columns: the same sums with run-time bounds.
///
/// # Safety
/// As [`Kernel::tile`].
unsafe fn edge(t: &Tile) {
    let mut acc = [[0.0f32; NR]; MR];
    for p in 0..t.kc {
        let brow = t.b.offset(p as isize * t.b_ks);
        for (i, acc_i) in acc.iter_mut().enumerate().take(t.mr) {
            let av = *a_at(t, i, p);
            for (j, x) in acc_i.iter_mut().enumerate().take(t.nr) {
                *x += av * *brow.add(j);
            }
        }
    }
    store(t, &acc);
}

/// Writes (or adds) the tile's `mr x nr` values to `C`.
///
/// # Safety
/// As [`Kernel::tile`].
unsafe fn store(t: &Tile, acc: &[[f32; NR]; MR]) {
    for (i, acc_i) in acc.iter().enumerate().take(t.mr) {
        let cr = t.c.offset(i as isize * t.ldc);
        for (j, &x) in acc_i.iter().enumerate().take(t.nr) {
            let ptr = cr.add(j);
            *ptr = if t.overwrite { x } else { *ptr + x };
        }
    }
}
