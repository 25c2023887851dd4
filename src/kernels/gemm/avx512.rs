//! AVX-512F kernels: a 6 x 64 micro-tile (24 zmm accumulators) and the
//! one-row kernels.
//!
//! Per `p` the micro-kernel loads four vectors of the `B` panel row (64
//! values, the last one masked to `nr`), broadcasts 6 values of `A` and issues
//! 24 fused multiply-adds: 24 FMAs per 10 loads, which keeps both FMA pipes
//! of a Zen 4/5 or Xeon core busy; 24 independent accumulators cover the FMA
//! latency (4 cycles x 2 pipes = 8 needed). 64 columns divide the widths the
//! models use (128, 384, 512, 1024) with no edge panel.
//!
//! Blocking: `KC = 512` (a 512 x 64 panel of `B`, 128 KiB, streams from L2;
//! longer blocks halve the passes over `C`), `MC = 72` (72 x 512 of `A`,
//! 144 KiB, in L2). Measured on the AMD EPYC Zen 5 (family 26, model 2), one
//! thread, in one process against the `gemm` crate: 6 x 64 was 0.97-1.02x
//! the crate at 512³-2048³ where 8 x 48 was 0.93-0.96x; `KC` 256 -> 512 gave
//! +3-5% at 1024³, and prefetching the `C` tile before the loop +1-2%.
//!
//! Every edge case is the same code with fewer rows or a narrower mask,
//! instantiated per shape by const generics.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use super::{Kernel, Tile};

/// The AVX-512F kernel set.
pub(crate) struct Avx512;

const MR: usize = 6;
const NV: usize = 4;
const LANES: usize = 16;

#[cfg(target_arch = "x86_64")]
impl Kernel for Avx512 {
    const MR: usize = MR;
    const NR: usize = NV * LANES;
    const KC: usize = 512;
    const MC: usize = 72;
    const NC: usize = 3072;
    const SIMD_PACK: bool = true;

    unsafe fn tile(t: &Tile) {
        dispatch(t)
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
        gemv_rows(k, n, a, b, ldb, c, accumulate)
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
        gemv_dots(k, n, a, w, ldw, c, accumulate)
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl Kernel for Avx512 {
    const MR: usize = MR;
    const NR: usize = NV * LANES;
    const KC: usize = 512;
    const MC: usize = 72;
    const NC: usize = 3072;
    const SIMD_PACK: bool = true;
    unsafe fn tile(_: &Tile) {
        unreachable!("AVX-512 on a non-x86 CPU")
    }
    unsafe fn gemv_rows(
        _: usize,
        _: usize,
        _: *const f32,
        _: *const f32,
        _: isize,
        _: *mut f32,
        _: bool,
    ) {
        unreachable!("AVX-512 on a non-x86 CPU")
    }
    unsafe fn gemv_dots(
        _: usize,
        _: usize,
        _: *const f32,
        _: *const f32,
        _: isize,
        _: *mut f32,
        _: bool,
    ) {
        unreachable!("AVX-512 on a non-x86 CPU")
    }
}

/// The lanes `0..n` of a vector (`1 <= n <= 16`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    (((1u32 << n) - 1) & 0xffff) as __mmask16
}

/// Picks the instantiation of [`micro`] for the tile's rows and vectors.
///
/// # Safety
/// As [`Kernel::tile`]; the CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dispatch(t: &Tile) {
    macro_rules! rows {
        ($($mr:literal)*) => {
            match (t.mr, t.nr.div_ceil(LANES), t.a_packed) {
                $(
                    ($mr, 1, true) => micro::<$mr, 1, true>(t),
                    ($mr, 2, true) => micro::<$mr, 2, true>(t),
                    ($mr, 3, true) => micro::<$mr, 3, true>(t),
                    ($mr, 4, true) => micro::<$mr, 4, true>(t),
                    ($mr, 1, false) => micro::<$mr, 1, false>(t),
                    ($mr, 2, false) => micro::<$mr, 2, false>(t),
                    ($mr, 3, false) => micro::<$mr, 3, false>(t),
                    ($mr, 4, false) => micro::<$mr, 4, false>(t),
                )*
                _ => unreachable!("tile {}x{} exceeds {MR}x{}", t.mr, t.nr, NV * LANES),
            }
        };
    }
    rows!(1 2 3 4 5 6)
}

/// `C[R x V·16] (+)= A·B` over `kc`, the last vector masked to `nr`.
///
/// # Safety
/// As [`Kernel::tile`], with `t.mr == R`, `t.nr.div_ceil(16) == V`, and
/// `t.a_packed == PACKED`; the CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn micro<const R: usize, const V: usize, const PACKED: bool>(t: &Tile) {
    let last = mask(t.nr - (V - 1) * LANES);
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    // Offsets of the R rows of A from the current column.
    let mut row = [0isize; R];
    for (i, r) in row.iter_mut().enumerate() {
        *r = if PACKED {
            i as isize
        } else {
            i as isize * t.a_rs
        };
    }
    let a_ks = if PACKED { MR as isize } else { t.a_ks };
    // Start fetching the C tile now; it is read or written after the loop.
    for i in 0..R {
        for v in 0..V {
            _mm_prefetch::<_MM_HINT_T0>(t.c.offset(i as isize * t.ldc).add(v * LANES).cast());
        }
    }
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.kc {
        let mut bv = [_mm512_setzero_ps(); V];
        for (v, x) in bv.iter_mut().enumerate() {
            *x = if v + 1 < V {
                _mm512_loadu_ps(b.add(v * LANES))
            } else {
                _mm512_maskz_loadu_ps(last, b.add(v * LANES))
            };
        }
        for i in 0..R {
            let av = _mm512_set1_ps(*a.offset(row[i]));
            for v in 0..V {
                acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
            }
        }
        a = a.offset(a_ks);
        b = b.offset(t.b_ks);
    }
    for (i, acc_i) in acc.iter().enumerate() {
        let cr = t.c.offset(i as isize * t.ldc);
        for (v, &x) in acc_i.iter().enumerate() {
            let ptr = cr.add(v * LANES);
            if v + 1 < V {
                let y = if t.overwrite {
                    x
                } else {
                    _mm512_add_ps(_mm512_loadu_ps(ptr), x)
                };
                _mm512_storeu_ps(ptr, y);
            } else {
                let y = if t.overwrite {
                    x
                } else {
                    _mm512_add_ps(_mm512_maskz_loadu_ps(last, ptr), x)
                };
                _mm512_mask_storeu_ps(ptr, last, y);
            }
        }
    }
}

/// Rows of `b` one pass of [`gemv_rows`] streams at a time.
const GEMV_ROWS: usize = 8;

/// `c[j] (+)= Σ_p a[p]·b[p·ldb + j]`, streaming `b` by rows: `c` (zeroed
/// first unless accumulating) stays in L1 while 8 rows of `b` at a time are
/// read front to back, which the hardware prefetcher follows (walking down
/// a column block instead crosses a page per row). Every `c[j]` is one
/// chain `c[j] + a[0]·b[0, j] + a[1]·b[1, j] + ...` in order of `p`.
///
/// # Safety
/// As [`Kernel::gemv_rows`]; the CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gemv_rows(
    k: usize,
    n: usize,
    a: *const f32,
    b: *const f32,
    ldb: isize,
    c: *mut f32,
    accumulate: bool,
) {
    if !accumulate {
        std::ptr::write_bytes(c, 0, n);
    }
    let mut p = 0;
    while p < k {
        let rows = GEMV_ROWS.min(k - p);
        let mut av = [_mm512_setzero_ps(); GEMV_ROWS];
        for (r, x) in av.iter_mut().enumerate().take(rows) {
            *x = _mm512_set1_ps(*a.add(p + r));
        }
        let bp = b.offset(p as isize * ldb);
        let mut j = 0;
        while j < n {
            let mk = mask((n - j).min(LANES));
            let mut cv = _mm512_maskz_loadu_ps(mk, c.add(j));
            for (r, &x) in av.iter().enumerate().take(rows) {
                let bv = _mm512_maskz_loadu_ps(mk, bp.offset(r as isize * ldb).add(j));
                cv = _mm512_fmadd_ps(x, bv, cv);
            }
            _mm512_mask_storeu_ps(c.add(j), mk, cv);
            j += LANES;
        }
        p += rows;
    }
}

/// `c[j] (+)= Σ_p a[p]·w[j·ldw + p]`: four rows of `w` at a time, each summed
/// by two vector accumulators (even and odd 16-blocks of `p`, the tail
/// masked) and reduced at the end; a leftover row runs the same code alone,
/// so its sum has the same order.
///
/// # Safety
/// As [`Kernel::gemv_dots`]; the CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gemv_dots(
    k: usize,
    n: usize,
    a: *const f32,
    w: *const f32,
    ldw: isize,
    c: *mut f32,
    accumulate: bool,
) {
    let mut j = 0;
    while j + 4 <= n {
        dots::<4>(k, a, w.offset(j as isize * ldw), ldw, c.add(j), accumulate);
        j += 4;
    }
    while j < n {
        dots::<1>(k, a, w.offset(j as isize * ldw), ldw, c.add(j), accumulate);
        j += 1;
    }
}

/// `R` dot products of `a[..k]` with rows of `w`.
///
/// # Safety
/// As [`gemv_dots`] for rows `0..R`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dots<const R: usize>(
    k: usize,
    a: *const f32,
    w: *const f32,
    ldw: isize,
    c: *mut f32,
    accumulate: bool,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut p = 0;
    while p + 2 * LANES <= k {
        let a0 = _mm512_loadu_ps(a.add(p));
        let a1 = _mm512_loadu_ps(a.add(p + LANES));
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let wr = w.offset(r as isize * ldw).add(p);
            acc_r[0] = _mm512_fmadd_ps(a0, _mm512_loadu_ps(wr), acc_r[0]);
            acc_r[1] = _mm512_fmadd_ps(a1, _mm512_loadu_ps(wr.add(LANES)), acc_r[1]);
        }
        p += 2 * LANES;
    }
    // Tail: up to two more (masked) blocks, into the same two accumulators.
    let mut half = 0;
    while p < k {
        let mk = mask((k - p).min(LANES));
        let av = _mm512_maskz_loadu_ps(mk, a.add(p));
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let wr = w.offset(r as isize * ldw).add(p);
            acc_r[half] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mk, wr), acc_r[half]);
        }
        p += LANES;
        half ^= 1;
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let s = _mm512_reduce_add_ps(_mm512_add_ps(acc_r[0], acc_r[1]));
        let ptr = c.add(r);
        *ptr = if accumulate { *ptr + s } else { s };
    }
}
