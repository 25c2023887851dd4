//! AVX-512 VNNI dot products of a quantised weight row with 8-bit
//! activations, two blocks of 32 per step: `vpdpbusd` multiplies 64 unsigned
//! weight bytes by 64 signed activation bytes and sums each four into sixteen
//! i32 lanes (lanes 0-7 the first block, 8-15 the second).
//!
//! VNNI's first operand is unsigned, so signed weights are shifted: Q4_0's
//! codes are used as stored (0..15, the true value is code - 8) and Q8_0's
//! with their sign bit flipped (w + 128); the shift times the activations,
//! a second `vpdpbusd` of the constant shift with the same activations, is
//! subtracted, so each lane holds exactly the integer sum of `dot_avx2.rs`.
//! The lanes are then accumulated in the AVX2 kernels' order (block b's
//! eight lanes, then block b + 1's), so the results are the same bits; an odd
//! last block goes through the AVX2 step.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::activations::ActRow;
use super::dot_avx2::{check, halves, hsum, nibbles, step_q4_0, step_q4_1, step_q8_0};

/// Two blocks' 16 bytes of nibbles as 64 codes, in activation order.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn nibbles2(p0: *const u8, p1: *const u8) -> __m512i {
    _mm512_inserti64x4(_mm512_castsi256_si512(nibbles(p0)), nibbles(p1), 1)
}

/// The exact lane sums of 64 codes `x` (unsigned, each `shift` above its
/// value) times 64 activation codes at `y`, as f32.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn lanes(x: __m512i, y: *const i8, shift: i8) -> __m512 {
    let y = _mm512_loadu_si512(y as *const _);
    let zero = _mm512_setzero_si512();
    let mut p = _mm512_dpbusd_epi32(zero, x, y);
    if shift != 0 {
        p = _mm512_sub_epi32(p, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(shift), y));
    }
    _mm512_cvtepi32_ps(p)
}

/// acc = fma(s0, lanes 0-7, acc), then fma(s1, lanes 8-15, acc).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn accumulate(acc: __m256, p: __m512, s0: f32, s1: f32) -> __m256 {
    let acc = _mm256_fmadd_ps(_mm256_set1_ps(s0), _mm512_castps512_ps256(p), acc);
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p), 1));
    _mm256_fmadd_ps(_mm256_set1_ps(s1), hi, acc)
}

/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn dot_q4_0(w: &[u8], a: ActRow) -> f32 {
    let nb = check(w, 18, &a);
    let (wp, qp) = (w.as_ptr(), a.qs.as_ptr());
    let mut acc = _mm256_setzero_ps();
    let mut b = 0;
    // SAFETY (every pointer below): blocks b and b + 1 lie in w and their
    // codes in a.qs (checked above).
    while b + 2 <= nb {
        let (blk0, blk1) = (wp.add(b * 18), wp.add(b * 18 + 18));
        let p = lanes(nibbles2(blk0.add(2), blk1.add(2)), qp.add(b * 32), 8);
        acc = accumulate(acc, p, halves(blk0).0 * a.d[b], halves(blk1).0 * a.d[b + 1]);
        b += 2;
    }
    if b < nb {
        acc = step_q4_0(wp.add(b * 18), qp.add(b * 32), a.d[b], acc);
    }
    hsum(acc)
}

/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn dot_q4_1(w: &[u8], a: ActRow) -> f32 {
    let nb = check(w, 20, &a);
    let (wp, qp) = (w.as_ptr(), a.qs.as_ptr());
    let mut acc = _mm256_setzero_ps();
    let mut offsets = 0.0f32;
    let mut b = 0;
    // SAFETY (every pointer below): blocks b and b + 1 lie in w and their
    // codes in a.qs (checked above).
    while b + 2 <= nb {
        let (blk0, blk1) = (wp.add(b * 20), wp.add(b * 20 + 20));
        let ((d0, m0), (d1, m1)) = (halves(blk0), halves(blk1));
        let p = lanes(nibbles2(blk0.add(4), blk1.add(4)), qp.add(b * 32), 0);
        acc = accumulate(acc, p, d0 * a.d[b], d1 * a.d[b + 1]);
        offsets += m0 * a.s[b];
        offsets += m1 * a.s[b + 1];
        b += 2;
    }
    if b < nb {
        offsets += step_q4_1(wp.add(b * 20), qp.add(b * 32), a.d[b], a.s[b], &mut acc);
    }
    hsum(acc) + offsets
}

/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn dot_q8_0(w: &[u8], a: ActRow) -> f32 {
    let nb = check(w, 34, &a);
    let (wp, qp) = (w.as_ptr(), a.qs.as_ptr());
    let flip = _mm256_set1_epi8(-128);
    let mut acc = _mm256_setzero_ps();
    let mut b = 0;
    // SAFETY (every pointer below): blocks b and b + 1 lie in w and their
    // codes in a.qs (checked above).
    while b + 2 <= nb {
        let (blk0, blk1) = (wp.add(b * 34), wp.add(b * 34 + 34));
        let x0 = _mm256_xor_si256(_mm256_loadu_si256(blk0.add(2) as *const _), flip);
        let x1 = _mm256_xor_si256(_mm256_loadu_si256(blk1.add(2) as *const _), flip);
        let x = _mm512_inserti64x4(_mm512_castsi256_si512(x0), x1, 1);
        let p = lanes(x, qp.add(b * 32), -128);
        acc = accumulate(acc, p, halves(blk0).0 * a.d[b], halves(blk1).0 * a.d[b + 1]);
        b += 2;
    }
    if b < nb {
        acc = step_q8_0(wp.add(b * 34), qp.add(b * 32), a.d[b], acc);
    }
    hsum(acc)
}

/// One weight row times `N` activation rows at once: each weight block is
/// loaded and unpacked once for all `N`. Each row's sum is accumulated
/// exactly as by the one-row kernel (its own accumulator, the same order),
/// so the results are the same bits.
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn dot_q4_0_n<const N: usize>(w: &[u8], a: &[ActRow; N]) -> [f32; N] {
    let nb = check(w, 18, &a[0]);
    a.iter().for_each(|r| _ = check(w, 18, r));
    let wp = w.as_ptr();
    let mut acc = [_mm256_setzero_ps(); N];
    let mut b = 0;
    // SAFETY (every pointer below): blocks b and b + 1 lie in w and their
    // codes in each a[t].qs (checked above).
    while b + 2 <= nb {
        let (blk0, blk1) = (wp.add(b * 18), wp.add(b * 18 + 18));
        let (d0, d1) = (halves(blk0).0, halves(blk1).0);
        let x = nibbles2(blk0.add(2), blk1.add(2));
        for t in 0..N {
            let p = lanes(x, a[t].qs.as_ptr().add(b * 32), 8);
            acc[t] = accumulate(acc[t], p, d0 * a[t].d[b], d1 * a[t].d[b + 1]);
        }
        b += 2;
    }
    if b < nb {
        for t in 0..N {
            acc[t] = step_q4_0(
                wp.add(b * 18),
                a[t].qs.as_ptr().add(b * 32),
                a[t].d[b],
                acc[t],
            );
        }
    }
    std::array::from_fn(|t| hsum(acc[t]))
}

/// As [`dot_q4_0_n`], for Q4_1.
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn dot_q4_1_n<const N: usize>(w: &[u8], a: &[ActRow; N]) -> [f32; N] {
    let nb = check(w, 20, &a[0]);
    a.iter().for_each(|r| _ = check(w, 20, r));
    let wp = w.as_ptr();
    let mut acc = [_mm256_setzero_ps(); N];
    let mut offsets = [0.0f32; N];
    let mut b = 0;
    // SAFETY: as in dot_q4_0_n.
    while b + 2 <= nb {
        let (blk0, blk1) = (wp.add(b * 20), wp.add(b * 20 + 20));
        let ((d0, m0), (d1, m1)) = (halves(blk0), halves(blk1));
        let x = nibbles2(blk0.add(4), blk1.add(4));
        for t in 0..N {
            let p = lanes(x, a[t].qs.as_ptr().add(b * 32), 0);
            acc[t] = accumulate(acc[t], p, d0 * a[t].d[b], d1 * a[t].d[b + 1]);
            offsets[t] += m0 * a[t].s[b];
            offsets[t] += m1 * a[t].s[b + 1];
        }
        b += 2;
    }
    if b < nb {
        for t in 0..N {
            offsets[t] += step_q4_1(
                wp.add(b * 20),
                a[t].qs.as_ptr().add(b * 32),
                a[t].d[b],
                a[t].s[b],
                &mut acc[t],
            );
        }
    }
    std::array::from_fn(|t| hsum(acc[t]) + offsets[t])
}

/// As [`dot_q4_0_n`], for Q8_0.
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn dot_q8_0_n<const N: usize>(w: &[u8], a: &[ActRow; N]) -> [f32; N] {
    let nb = check(w, 34, &a[0]);
    a.iter().for_each(|r| _ = check(w, 34, r));
    let wp = w.as_ptr();
    let flip = _mm256_set1_epi8(-128);
    let mut acc = [_mm256_setzero_ps(); N];
    let mut b = 0;
    // SAFETY: as in dot_q4_0_n.
    while b + 2 <= nb {
        let (blk0, blk1) = (wp.add(b * 34), wp.add(b * 34 + 34));
        let (d0, d1) = (halves(blk0).0, halves(blk1).0);
        let x0 = _mm256_xor_si256(_mm256_loadu_si256(blk0.add(2) as *const _), flip);
        let x1 = _mm256_xor_si256(_mm256_loadu_si256(blk1.add(2) as *const _), flip);
        let x = _mm512_inserti64x4(_mm512_castsi256_si512(x0), x1, 1);
        for t in 0..N {
            let p = lanes(x, a[t].qs.as_ptr().add(b * 32), -128);
            acc[t] = accumulate(acc[t], p, d0 * a[t].d[b], d1 * a[t].d[b + 1]);
        }
        b += 2;
    }
    if b < nb {
        for t in 0..N {
            acc[t] = step_q8_0(
                wp.add(b * 34),
                a[t].qs.as_ptr().add(b * 32),
                a[t].d[b],
                acc[t],
            );
        }
    }
    std::array::from_fn(|t| hsum(acc[t]))
}

/// `R` weight rows (each `row_bytes` long, consecutive in `w`) times one
/// activation row: the rows' accumulation chains interleaved, so the CPU
/// overlaps them, and each activation block loaded once. Each row is summed
/// exactly as by the one-row kernel, so the results are the same bits.
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn rows_q4_0<const R: usize>(w: &[u8], a: ActRow) -> [f32; R] {
    let rb = w.len() / R;
    let nb = check(&w[..rb], 18, &a);
    assert_eq!(w.len(), R * rb, "rows_q4_0: {R} rows");
    let qp = a.qs.as_ptr();
    let wp: [*const u8; R] = std::array::from_fn(|r| w.as_ptr().add(r * rb));
    let mut acc = [_mm256_setzero_ps(); R];
    let mut b = 0;
    // SAFETY (every pointer below): blocks b and b + 1 of each row lie in w
    // and their codes in a.qs (checked above).
    while b + 2 <= nb {
        let y = qp.add(b * 32);
        let (da0, da1) = (a.d[b], a.d[b + 1]);
        for r in 0..R {
            let (blk0, blk1) = (wp[r].add(b * 18), wp[r].add(b * 18 + 18));
            let p = lanes(nibbles2(blk0.add(2), blk1.add(2)), y, 8);
            acc[r] = accumulate(acc[r], p, halves(blk0).0 * da0, halves(blk1).0 * da1);
        }
        b += 2;
    }
    if b < nb {
        for r in 0..R {
            acc[r] = step_q4_0(wp[r].add(b * 18), qp.add(b * 32), a.d[b], acc[r]);
        }
    }
    std::array::from_fn(|r| hsum(acc[r]))
}

/// As [`rows_q4_0`], for Q4_1, with fewer instructions per block (decoding
/// is bound by them, not by memory): the codes of two blocks unpacked by one
/// 512-bit shift, and each block's scale and offset converted and multiplied
/// as one pair, `[d, m] * [d_a, s_a]`: lane 0 the scale of the block's
/// products, lane 1 its offset term, added lane-wise to a running pair whose
/// lane 1 is the offsets' sum in the one-row kernel's order (same bits).
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn rows_q4_1<const R: usize>(w: &[u8], a: ActRow) -> [f32; R] {
    let rb = w.len() / R;
    let nb = check(&w[..rb], 20, &a);
    assert_eq!(w.len(), R * rb, "rows_q4_1: {R} rows");
    let qp = a.qs.as_ptr();
    let wp: [*const u8; R] = std::array::from_fn(|r| w.as_ptr().add(r * rb));
    let mut acc = [_mm256_setzero_ps(); R];
    let mut off = [_mm_setzero_ps(); R];
    let zero = _mm512_setzero_si512();
    let mut b = 0;
    // SAFETY: as in rows_q4_0.
    while b + 2 <= nb {
        let y = _mm512_loadu_si512(qp.add(b * 32) as *const _);
        let a0 = _mm_setr_ps(a.d[b], a.s[b], 0.0, 0.0);
        let a1 = _mm_setr_ps(a.d[b + 1], a.s[b + 1], 0.0, 0.0);
        for r in 0..R {
            let (blk0, blk1) = (wp[r].add(b * 20), wp[r].add(b * 20 + 20));
            let p0 = _mm_mul_ps(scale_pair(blk0), a0);
            let p1 = _mm_mul_ps(scale_pair(blk1), a1);
            let x = nibbles2_wide(blk0.add(4), blk1.add(4));
            let p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, x, y));
            let lo = _mm512_castps512_ps256(p);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p), 1));
            acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(p0), lo, acc[r]);
            acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(p1), hi, acc[r]);
            off[r] = _mm_add_ps(off[r], p0);
            off[r] = _mm_add_ps(off[r], p1);
        }
        b += 2;
    }
    let mut offsets: [f32; R] = std::array::from_fn(|r| _mm_cvtss_f32(_mm_movehdup_ps(off[r])));
    if b < nb {
        for r in 0..R {
            offsets[r] += step_q4_1(
                wp[r].add(b * 20),
                qp.add(b * 32),
                a.d[b],
                a.s[b],
                &mut acc[r],
            );
        }
    }
    std::array::from_fn(|r| hsum(acc[r]) + offsets[r])
}

/// A block's f16 scale and offset (its first 4 bytes) as `[d, m, 0, 0]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn scale_pair(p: *const u8) -> __m128 {
    _mm_cvtph_ps(_mm_cvtsi32_si128((p as *const i32).read_unaligned()))
}

/// [`nibbles2`] by one shift of the whole register: the two blocks' 16
/// bytes each placed twice (`[q0, q0, q1, q1]` by 128-bit lanes), the
/// second copies shifted down 4 bits, every byte masked to its low nibble.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn nibbles2_wide(p0: *const u8, p1: *const u8) -> __m512i {
    let q0 = _mm_loadu_si128(p0 as *const __m128i);
    let q1 = _mm_loadu_si128(p1 as *const __m128i);
    let pair = _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1));
    let twice = _mm512_shuffle_i64x2(pair, pair, 0b01_01_00_00);
    let shifted = _mm512_srlv_epi64(twice, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F))
}

/// As [`rows_q4_0`], for Q8_0.
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn rows_q8_0<const R: usize>(w: &[u8], a: ActRow) -> [f32; R] {
    let rb = w.len() / R;
    let nb = check(&w[..rb], 34, &a);
    assert_eq!(w.len(), R * rb, "rows_q8_0: {R} rows");
    let qp = a.qs.as_ptr();
    let wp: [*const u8; R] = std::array::from_fn(|r| w.as_ptr().add(r * rb));
    let flip = _mm256_set1_epi8(-128);
    let mut acc = [_mm256_setzero_ps(); R];
    let mut b = 0;
    // SAFETY: as in rows_q4_0.
    while b + 2 <= nb {
        let y = qp.add(b * 32);
        let (da0, da1) = (a.d[b], a.d[b + 1]);
        for r in 0..R {
            let (blk0, blk1) = (wp[r].add(b * 34), wp[r].add(b * 34 + 34));
            let x0 = _mm256_xor_si256(_mm256_loadu_si256(blk0.add(2) as *const _), flip);
            let x1 = _mm256_xor_si256(_mm256_loadu_si256(blk1.add(2) as *const _), flip);
            let x = _mm512_inserti64x4(_mm512_castsi256_si512(x0), x1, 1);
            let p = lanes(x, y, -128);
            acc[r] = accumulate(acc[r], p, halves(blk0).0 * da0, halves(blk1).0 * da1);
        }
        b += 2;
    }
    if b < nb {
        for r in 0..R {
            acc[r] = step_q8_0(wp[r].add(b * 34), qp.add(b * 32), a.d[b], acc[r]);
        }
    }
    std::array::from_fn(|r| hsum(acc[r]))
}

/// Where a tile's activation rows are: `T` consecutive rows of a
/// `Q8Activations` starting at row `t0` (codes `cols` apart, scales `nb`).
#[derive(Clone, Copy)]
pub struct ActTile {
    pub qs: *const i8,
    pub d: *const f32,
    pub s: *const f32,
    pub cols: usize,
    pub nb: usize,
}

/// `R` consecutive Q4_1 weight rows (`row_bytes` apart from `w`) times 4
/// activation rows: `out[r][t]`. Each weight block pair is unpacked once
/// for the four tokens and each activation block loaded once for the `R`
/// rows; every (row, token) sum is accumulated in the one-row kernel's
/// order (the same bits as [`dot_q4_1`]).
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C; `w`
/// must hold `R` rows of `nb` blocks; `a` must point at 4 rows of `nb`
/// blocks (the caller checks both once for many calls).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn tile_q4_1<const R: usize>(
    w: *const u8,
    row_bytes: usize,
    a: ActTile,
) -> [[f32; 4]; R] {
    let nb = a.nb;
    let mut acc = [[_mm256_setzero_ps(); 4]; R];
    let mut off = [[0.0f32; 4]; R];
    let mut b = 0;
    while b + 2 <= nb {
        let mut x = [_mm512_setzero_si512(); R];
        let mut dm = [((0.0f32, 0.0f32), (0.0f32, 0.0f32)); R];
        for r in 0..R {
            let blk0 = w.add(r * row_bytes + b * 20);
            dm[r] = (halves(blk0), halves(blk0.add(20)));
            x[r] = nibbles2(blk0.add(4), blk0.add(24));
        }
        for t in 0..4 {
            let y = _mm512_loadu_si512(a.qs.add(t * a.cols + b * 32) as *const _);
            let ds = a.d.add(t * nb + b);
            let ss = a.s.add(t * nb + b);
            let (da0, da1, sa0, sa1) = (*ds, *ds.add(1), *ss, *ss.add(1));
            for r in 0..R {
                let p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), x[r], y));
                let ((d0, m0), (d1, m1)) = dm[r];
                acc[r][t] = accumulate(acc[r][t], p, d0 * da0, d1 * da1);
                off[r][t] += m0 * sa0;
                off[r][t] += m1 * sa1;
            }
        }
        b += 2;
    }
    if b < nb {
        for r in 0..R {
            for t in 0..4 {
                off[r][t] += step_q4_1(
                    w.add(r * row_bytes + b * 20),
                    a.qs.add(t * a.cols + b * 32),
                    *a.d.add(t * nb + b),
                    *a.s.add(t * nb + b),
                    &mut acc[r][t],
                );
            }
        }
    }
    std::array::from_fn(|r| std::array::from_fn(|t| hsum(acc[r][t]) + off[r][t]))
}
