//! AVX-512 VNNI dot products of a quantised weight row with 8-bit
//! activations, two blocks of 32 per step: `vpdpbusd` multiplies 64 unsigned
//! weight bytes by 64 signed activation bytes and sums each four into sixteen
//! i32 lanes (lanes 0-7 the first block, 8-15 the second), which are
//! converted to f32 and accumulated times each block's `dw * da`.
//!
//! VNNI's first operand is unsigned, so signed weights are shifted: Q4_0's
//! codes are used as stored (0..15) and Q8_0's with their sign bit flipped
//! (w + 128); the shift times the activations' sum, computed by a second
//! `vpdpbusd` of the constant shift with the same activations, is subtracted
//! before conversion, so the integer sums are exactly those of
//! `dot_scalar.rs`. An odd last block goes through the AVX2 code.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::activations::ActRow;
use super::dot_avx2::{halves, nibbles};

fn check(w: &[u8], block_bytes: usize, a: &ActRow) -> usize {
    let nb = w.len() / block_bytes;
    assert!(
        w.len() % block_bytes == 0 && a.qs.len() >= nb * 32 && a.d.len() >= nb && a.s.len() >= nb,
        "quantised dot: {} weight bytes do not match {} activations",
        w.len(),
        a.qs.len()
    );
    nb
}

/// Sixteen f32 lanes: `s0` in the first eight, `s1` in the last eight.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn two_scales(s0: f32, s1: f32) -> __m512 {
    _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(s0), _mm512_set1_ps(s1))
}

/// Two blocks' 16 bytes of nibbles as 64 codes, in activation order.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn nibbles2(p0: *const u8, p1: *const u8) -> __m512i {
    _mm512_inserti64x4(_mm512_castsi256_si512(nibbles(p0)), nibbles(p1), 1)
}

/// Q4_1's and Q4_0's inner loop: `codes(b)` gives two blocks' unsigned codes;
/// `shift` is subtracted from every code (0 or 8).
macro_rules! two_block_loop {
    ($nb:expr, $a:expr, $acc:ident, $b:ident, $x:expr, $shift:expr, $scale:expr, $extra:block) => {
        let qp = $a.qs.as_ptr();
        let shift = _mm512_set1_epi8($shift);
        let zero = _mm512_setzero_si512();
        let mut $b = 0;
        while $b + 2 <= $nb {
            let x = $x;
            let y = _mm512_loadu_si512(qp.add($b * 32) as *const _);
            let mut p = _mm512_dpbusd_epi32(zero, x, y);
            if $shift != 0 {
                p = _mm512_sub_epi32(p, _mm512_dpbusd_epi32(zero, shift, y));
            }
            $acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), $scale, $acc);
            $extra
            $b += 2;
        }
    };
}

/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn dot_q4_0(w: &[u8], a: ActRow) -> f32 {
    let nb = check(w, 18, &a);
    let wp = w.as_ptr();
    let mut acc = _mm512_setzero_ps();
    // SAFETY (every pointer below): blocks b and b + 1 lie in w and their
    // codes in a.qs (checked above).
    two_block_loop!(
        nb,
        a,
        acc,
        b,
        nibbles2(wp.add(b * 18 + 2), wp.add(b * 18 + 20)),
        8,
        two_scales(halves(wp.add(b * 18)).0 * a.d[b], halves(wp.add(b * 18 + 18)).0 * a.d[b + 1]),
        {}
    );
    let mut total = _mm512_reduce_add_ps(acc);
    if b < nb {
        total += super::dot_avx2::dot_q4_0(&w[b * 18..], tail(a, b));
    }
    total
}

/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn dot_q4_1(w: &[u8], a: ActRow) -> f32 {
    let nb = check(w, 20, &a);
    let wp = w.as_ptr();
    let mut acc = _mm512_setzero_ps();
    let mut offsets = 0.0f32;
    let mut dm: [(f32, f32); 2];
    // SAFETY (every pointer below): blocks b and b + 1 lie in w and their
    // codes in a.qs (checked above).
    two_block_loop!(
        nb,
        a,
        acc,
        b,
        {
            dm = [halves(wp.add(b * 20)), halves(wp.add(b * 20 + 20))];
            nibbles2(wp.add(b * 20 + 4), wp.add(b * 20 + 24))
        },
        0,
        two_scales(dm[0].0 * a.d[b], dm[1].0 * a.d[b + 1]),
        {
            offsets += dm[0].1 * a.s[b] + dm[1].1 * a.s[b + 1];
        }
    );
    let mut total = _mm512_reduce_add_ps(acc) + offsets;
    if b < nb {
        total += super::dot_avx2::dot_q4_1(&w[b * 20..], tail(a, b));
    }
    total
}

/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn dot_q8_0(w: &[u8], a: ActRow) -> f32 {
    let nb = check(w, 34, &a);
    let wp = w.as_ptr();
    let flip = _mm256_set1_epi8(-128);
    let mut acc = _mm512_setzero_ps();
    // SAFETY (every pointer below): blocks b and b + 1 lie in w and their
    // codes in a.qs (checked above).
    two_block_loop!(
        nb,
        a,
        acc,
        b,
        {
            let x0 = _mm256_xor_si256(_mm256_loadu_si256(wp.add(b * 34 + 2) as *const _), flip);
            let x1 = _mm256_xor_si256(_mm256_loadu_si256(wp.add(b * 34 + 36) as *const _), flip);
            _mm512_inserti64x4(_mm512_castsi256_si512(x0), x1, 1)
        },
        -128,
        two_scales(halves(wp.add(b * 34)).0 * a.d[b], halves(wp.add(b * 34 + 34)).0 * a.d[b + 1]),
        {}
    );
    let mut total = _mm512_reduce_add_ps(acc);
    if b < nb {
        total += super::dot_avx2::dot_q8_0(&w[b * 34..], tail(a, b));
    }
    total
}

/// The activation row from block `b` on.
fn tail(a: ActRow, b: usize) -> ActRow {
    ActRow {
        qs: &a.qs[b * 32..],
        d: &a.d[b..],
        s: &a.s[b..],
        values: &a.values[(b * 32).min(a.values.len())..],
    }
}
