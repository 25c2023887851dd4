//! Portable dot products of one quantised weight row with one row of 8-bit
//! activations (see `activations.rs`), block by block:
//!
//!   Q4_0: sum_b dw_b * da_b * sum_j (c_j - 8) q_j
//!   Q4_1: sum_b dw_b * da_b * sum_j c_j q_j  +  sum_b m_b * s_b
//!   Q8_0: sum_b dw_b * da_b * sum_j c_j q_j
//!
//! The integer sums are exact; the f32 operations are done in the SIMD
//! kernels' (and llama.cpp's) order: eight lanes of four adjacent products,
//! each accumulated with a fused multiply-add block after block, then summed
//! by halves. So every level gives the same bits.

use super::activations::ActRow;
use super::dequant::f16_to_f32;

#[inline]
fn half_at(b: &[u8], i: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[i], b[i + 1]]))
}

/// acc_l = fma(scale, lane_l, acc_l) for the eight lanes of 32 products.
#[inline]
fn accumulate(acc: &mut [f32; 8], scale: f32, products: &[i32; 32]) {
    for (l, a) in acc.iter_mut().enumerate() {
        let lane: i32 = products[4 * l..4 * l + 4].iter().sum();
        *a = scale.mul_add(lane as f32, *a);
    }
}

/// The sum of eight lanes in the order of the SIMD horizontal sum.
#[inline]
fn hsum(a: &[f32; 8]) -> f32 {
    let s: [f32; 4] = std::array::from_fn(|i| a[i + 4] + a[i]);
    let t = [s[0] + s[2], s[1] + s[3]];
    t[0] + t[1]
}

pub fn dot_q4_0(w: &[u8], a: ActRow) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut p = [0i32; 32];
    for (b, blk) in w.chunks_exact(18).enumerate() {
        let q = &a.qs[b * 32..b * 32 + 32];
        for j in 0..16 {
            p[j] = ((blk[2 + j] & 15) as i32 - 8) * q[j] as i32;
            p[j + 16] = ((blk[2 + j] >> 4) as i32 - 8) * q[j + 16] as i32;
        }
        accumulate(&mut acc, half_at(blk, 0) * a.d[b], &p);
    }
    hsum(&acc)
}

pub fn dot_q4_1(w: &[u8], a: ActRow) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut p = [0i32; 32];
    let mut offsets = 0.0f32;
    for (b, blk) in w.chunks_exact(20).enumerate() {
        let q = &a.qs[b * 32..b * 32 + 32];
        for j in 0..16 {
            p[j] = (blk[4 + j] & 15) as i32 * q[j] as i32;
            p[j + 16] = (blk[4 + j] >> 4) as i32 * q[j + 16] as i32;
        }
        accumulate(&mut acc, half_at(blk, 0) * a.d[b], &p);
        offsets += half_at(blk, 2) * a.s[b];
    }
    hsum(&acc) + offsets
}

pub fn dot_q8_0(w: &[u8], a: ActRow) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut p = [0i32; 32];
    for (b, blk) in w.chunks_exact(34).enumerate() {
        let q = &a.qs[b * 32..b * 32 + 32];
        for j in 0..32 {
            p[j] = (blk[2 + j] as i8) as i32 * q[j] as i32;
        }
        accumulate(&mut acc, half_at(blk, 0) * a.d[b], &p);
    }
    hsum(&acc)
}
