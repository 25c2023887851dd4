//! AVX2 dot products of a quantised weight row with 8-bit activations, one
//! block of 32 per step: the weight codes and activation codes are multiplied
//! as bytes and summed in pairs (`vpmaddubsw`, unsigned x signed -> i16), the
//! pairs summed to eight i32 (`vpmaddwd` by ones), converted to f32 and
//! accumulated times the block's `dw * da`. Signed weights (Q4_0 after
//! subtracting 8, Q8_0) use the sign trick: |w| times sign(w) * q, so the
//! unsigned operand is |w| and the products are the same.
//!
//! The order of f32 operations is llama.cpp's (`ggml_vec_dot_q4_1_q8_1` and
//! friends, x86): eight lanes, each the exact integer sum of four adjacent
//! byte products, accumulated block after block as acc = fma(dw * da, lanes,
//! acc), then summed by halves; Q4_1's offsets m * s summed in a scalar. The
//! AVX-512 and scalar kernels keep this order, so all three give the same
//! bits.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::activations::ActRow;

/// The weight block's f16 scale (and, for Q4_1, its f16 offset after it).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn halves(p: *const u8) -> (f32, f32) {
    let v = _mm_cvtph_ps(_mm_cvtsi32_si128((p as *const i32).read_unaligned()));
    (_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_movehdup_ps(v)))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// 16 bytes of packed nibbles as 32 bytes: the low nibbles, then the high.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn nibbles(p: *const u8) -> __m256i {
    let raw = _mm_loadu_si128(p as *const __m128i);
    let mask = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(raw, mask);
    let hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    _mm256_set_m128i(hi, lo)
}

/// sum of x_j * y_j over 32 signed bytes, as eight i32 lanes converted to f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn signed_dot(x: __m256i, y: __m256i) -> __m256 {
    let ax = _mm256_sign_epi8(x, x);
    let sy = _mm256_sign_epi8(y, x);
    let p = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
    _mm256_cvtepi32_ps(p)
}

pub(super) fn check(w: &[u8], block_bytes: usize, a: &ActRow) -> usize {
    let nb = w.len() / block_bytes;
    assert!(
        w.len().is_multiple_of(block_bytes)
            && a.qs.len() >= nb * 32
            && a.d.len() >= nb
            && a.s.len() >= nb,
        "quantised dot: {} weight bytes do not match {} activations",
        w.len(),
        a.qs.len()
    );
    nb
}

/// One Q4_0 block (at `blk`) times 32 activation codes (at `y`) with scale
/// `da`, accumulated into `acc`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn step_q4_0(blk: *const u8, y: *const i8, da: f32, acc: __m256) -> __m256 {
    let (d, _) = halves(blk);
    let x = _mm256_sub_epi8(nibbles(blk.add(2)), _mm256_set1_epi8(8));
    let y = _mm256_loadu_si256(y as *const __m256i);
    _mm256_fmadd_ps(_mm256_set1_ps(d * da), signed_dot(x, y), acc)
}

/// One Q4_1 block: accumulates the codes' product into `acc` and returns
/// the block's offset term m * s.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn step_q4_1(
    blk: *const u8,
    y: *const i8,
    da: f32,
    sa: f32,
    acc: &mut __m256,
) -> f32 {
    let (d, m) = halves(blk);
    let x = nibbles(blk.add(4));
    let y = _mm256_loadu_si256(y as *const __m256i);
    let p = _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(d * da), _mm256_cvtepi32_ps(p), *acc);
    m * sa
}

/// One Q8_0 block, accumulated into `acc`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn step_q8_0(blk: *const u8, y: *const i8, da: f32, acc: __m256) -> __m256 {
    let (d, _) = halves(blk);
    let x = _mm256_loadu_si256(blk.add(2) as *const __m256i);
    let y = _mm256_loadu_si256(y as *const __m256i);
    _mm256_fmadd_ps(_mm256_set1_ps(d * da), signed_dot(x, y), acc)
}

/// # Safety
/// The CPU must have AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_q4_0(w: &[u8], a: ActRow) -> f32 {
    let nb = check(w, 18, &a);
    let mut acc = _mm256_setzero_ps();
    for b in 0..nb {
        // SAFETY: block b lies in w and its 32 codes in a.qs (checked above).
        acc = step_q4_0(
            w.as_ptr().add(b * 18),
            a.qs.as_ptr().add(b * 32),
            a.d[b],
            acc,
        );
    }
    hsum(acc)
}

/// # Safety
/// The CPU must have AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_q4_1(w: &[u8], a: ActRow) -> f32 {
    let nb = check(w, 20, &a);
    let mut acc = _mm256_setzero_ps();
    let mut offsets = 0.0f32;
    for b in 0..nb {
        // SAFETY: block b lies in w and its 32 codes in a.qs (checked above).
        offsets += step_q4_1(
            w.as_ptr().add(b * 20),
            a.qs.as_ptr().add(b * 32),
            a.d[b],
            a.s[b],
            &mut acc,
        );
    }
    hsum(acc) + offsets
}

/// # Safety
/// The CPU must have AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_q8_0(w: &[u8], a: ActRow) -> f32 {
    let nb = check(w, 34, &a);
    let mut acc = _mm256_setzero_ps();
    for b in 0..nb {
        // SAFETY: block b lies in w and its 32 codes in a.qs (checked above).
        acc = step_q8_0(
            w.as_ptr().add(b * 34),
            a.qs.as_ptr().add(b * 32),
            a.d[b],
            acc,
        );
    }
    hsum(acc)
}
