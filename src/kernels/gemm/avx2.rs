//! AVX2 + FMA kernels: a 6 x 16 micro-tile (12 ymm accumulators) and the
//! one-row kernels.
//!
//! With 16 ymm registers: 12 accumulators, 2 vectors of the `B` row and one
//! broadcast of `A`. Per `p`: 2 loads, 6 broadcasts, 12 FMAs; 12 independent
//! accumulators cover the FMA latency (4-5 cycles x 2 pipes). Edges use the
//! same code with fewer rows or a masked last vector (`vmaskmovps`).
//! `KC = 256` keeps a 256 x 16 panel of `B` (16 KiB) in L1, `MC x KC`
//! (72 KiB) of `A` in L2.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use super::{Kernel, Tile};

/// The AVX2 + FMA kernel set.
pub(crate) struct Avx2;

const MR: usize = 6;
const NV: usize = 2;
const LANES: usize = 8;

#[cfg(target_arch = "x86_64")]
impl Kernel for Avx2 {
    const MR: usize = MR;
    const NR: usize = NV * LANES;
    const KC: usize = 256;
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
impl Kernel for Avx2 {
    const MR: usize = MR;
    const NR: usize = NV * LANES;
    const KC: usize = 256;
    const MC: usize = 72;
    const NC: usize = 3072;
    const SIMD_PACK: bool = true;
    unsafe fn tile(_: &Tile) {
        unreachable!("AVX2 on a non-x86 CPU")
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
        unreachable!("AVX2 on a non-x86 CPU")
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
        unreachable!("AVX2 on a non-x86 CPU")
    }
}

/// A `vmaskmovps` mask selecting lanes `0..n` (`1 <= n <= 8`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn mask(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// Picks the instantiation of [`micro`] for the tile's rows and vectors.
///
/// # Safety
/// As [`Kernel::tile`]; the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dispatch(t: &Tile) {
    macro_rules! rows {
        ($($mr:literal)*) => {
            match (t.mr, t.nr.div_ceil(LANES), t.a_packed) {
                $(
                    ($mr, 1, true) => micro::<$mr, 1, true>(t),
                    ($mr, 2, true) => micro::<$mr, 2, true>(t),
                    ($mr, 1, false) => micro::<$mr, 1, false>(t),
                    ($mr, 2, false) => micro::<$mr, 2, false>(t),
                )*
                _ => unreachable!("tile {}x{} exceeds {MR}x{}", t.mr, t.nr, NV * LANES),
            }
        };
    }
    rows!(1 2 3 4 5 6)
}

/// `C[R x V·8] (+)= A·B` over `kc`, the last vector masked to `nr`.
///
/// # Safety
/// As [`Kernel::tile`], with `t.mr == R`, `t.nr.div_ceil(8) == V`, and
/// `t.a_packed == PACKED`; the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn micro<const R: usize, const V: usize, const PACKED: bool>(t: &Tile) {
    let last = mask(t.nr - (V - 1) * LANES);
    let full = t.nr == V * LANES;
    let mut acc = [[_mm256_setzero_ps(); V]; R];
    let mut row = [0isize; R];
    for (i, r) in row.iter_mut().enumerate() {
        *r = if PACKED {
            i as isize
        } else {
            i as isize * t.a_rs
        };
    }
    let a_ks = if PACKED { MR as isize } else { t.a_ks };
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.kc {
        let mut bv = [_mm256_setzero_ps(); V];
        for (v, x) in bv.iter_mut().enumerate() {
            *x = if v + 1 < V || full {
                _mm256_loadu_ps(b.add(v * LANES))
            } else {
                _mm256_maskload_ps(b.add(v * LANES), last)
            };
        }
        for i in 0..R {
            let av = _mm256_broadcast_ss(&*a.offset(row[i]));
            for v in 0..V {
                acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
            }
        }
        a = a.offset(a_ks);
        b = b.offset(t.b_ks);
    }
    for (i, acc_i) in acc.iter().enumerate() {
        let cr = t.c.offset(i as isize * t.ldc);
        for (v, &x) in acc_i.iter().enumerate() {
            let ptr = cr.add(v * LANES);
            if v + 1 < V || full {
                let y = if t.overwrite {
                    x
                } else {
                    _mm256_add_ps(_mm256_loadu_ps(ptr), x)
                };
                _mm256_storeu_ps(ptr, y);
            } else {
                let y = if t.overwrite {
                    x
                } else {
                    _mm256_add_ps(_mm256_maskload_ps(ptr, last), x)
                };
                _mm256_maskstore_ps(ptr, last, y);
            }
        }
    }
}

/// Rows of `b` one pass of [`gemv_rows`] streams at a time.
const GEMV_ROWS: usize = 8;

/// `c[j] (+)= Σ_p a[p]·b[p·ldb + j]`, streaming `b` by rows, 8 at a time,
/// with `c` (zeroed first unless accumulating) in L1; every `c[j]` is one
/// chain over `p` in order (see the AVX-512 kernel).
///
/// # Safety
/// As [`Kernel::gemv_rows`]; the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
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
    let full = n / LANES * LANES;
    let tail = mask((n - full).max(1));
    let mut p = 0;
    while p < k {
        let rows = GEMV_ROWS.min(k - p);
        let mut av = [_mm256_setzero_ps(); GEMV_ROWS];
        for (r, x) in av.iter_mut().enumerate().take(rows) {
            *x = _mm256_broadcast_ss(&*a.add(p + r));
        }
        let bp = b.offset(p as isize * ldb);
        let mut j = 0;
        while j < full {
            let mut cv = _mm256_loadu_ps(c.add(j));
            for (r, &x) in av.iter().enumerate().take(rows) {
                let bv = _mm256_loadu_ps(bp.offset(r as isize * ldb).add(j));
                cv = _mm256_fmadd_ps(x, bv, cv);
            }
            _mm256_storeu_ps(c.add(j), cv);
            j += LANES;
        }
        if full < n {
            let mut cv = _mm256_maskload_ps(c.add(full), tail);
            for (r, &x) in av.iter().enumerate().take(rows) {
                let bv = _mm256_maskload_ps(bp.offset(r as isize * ldb).add(full), tail);
                cv = _mm256_fmadd_ps(x, bv, cv);
            }
            _mm256_maskstore_ps(c.add(full), tail, cv);
        }
        p += rows;
    }
}

/// `c[j] (+)= Σ_p a[p]·w[j·ldw + p]`: four rows at a time, two accumulators
/// per row (even and odd 8-blocks of `p`, the tail masked); a leftover row
/// runs the same code alone.
///
/// # Safety
/// As [`Kernel::gemv_dots`]; the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
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

/// Horizontal sum of a vector, in a fixed order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hsum(x: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

/// `R` dot products of `a[..k]` with rows of `w`.
///
/// # Safety
/// As [`gemv_dots`] for rows `0..R`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dots<const R: usize>(
    k: usize,
    a: *const f32,
    w: *const f32,
    ldw: isize,
    c: *mut f32,
    accumulate: bool,
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let mut p = 0;
    while p + 2 * LANES <= k {
        let a0 = _mm256_loadu_ps(a.add(p));
        let a1 = _mm256_loadu_ps(a.add(p + LANES));
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let wr = w.offset(r as isize * ldw).add(p);
            acc_r[0] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(wr), acc_r[0]);
            acc_r[1] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(wr.add(LANES)), acc_r[1]);
        }
        p += 2 * LANES;
    }
    let mut half = 0;
    while p < k {
        let mk = mask((k - p).min(LANES));
        let av = _mm256_maskload_ps(a.add(p), mk);
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let wr = w.offset(r as isize * ldw).add(p);
            acc_r[half] = _mm256_fmadd_ps(av, _mm256_maskload_ps(wr, mk), acc_r[half]);
        }
        p += LANES;
        half ^= 1;
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let s = hsum(_mm256_add_ps(acc_r[0], acc_r[1]));
        let ptr = c.add(r);
        *ptr = if accumulate { *ptr + s } else { s };
    }
}
