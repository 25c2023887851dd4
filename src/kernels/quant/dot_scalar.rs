//! Portable dot products of one quantised weight row with one row of 8-bit
//! activations (see `activations.rs`), block by block:
//!
//!   Q4_0: sum_b dw_b * da_b * sum_j (c_j - 8) q_j
//!   Q4_1: sum_b dw_b * da_b * sum_j c_j q_j  +  m_b * s_b
//!   Q8_0: sum_b dw_b * da_b * sum_j c_j q_j
//!
//! with the integer sums exact; the SIMD versions compute the same sums.

use super::activations::ActRow;
use super::dequant::f16_to_f32;

#[inline]
fn half_at(b: &[u8], i: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[i], b[i + 1]]))
}

pub fn dot_q4_0(w: &[u8], a: ActRow) -> f32 {
    let mut acc = 0.0f32;
    for (b, blk) in w.chunks_exact(18).enumerate() {
        let q = &a.qs[b * 32..b * 32 + 32];
        let mut sum = 0i32;
        for j in 0..16 {
            sum += ((blk[2 + j] & 15) as i32 - 8) * q[j] as i32;
            sum += ((blk[2 + j] >> 4) as i32 - 8) * q[j + 16] as i32;
        }
        acc += half_at(blk, 0) * a.d[b] * sum as f32;
    }
    acc
}

pub fn dot_q4_1(w: &[u8], a: ActRow) -> f32 {
    let mut acc = 0.0f32;
    let mut offsets = 0.0f32;
    for (b, blk) in w.chunks_exact(20).enumerate() {
        let q = &a.qs[b * 32..b * 32 + 32];
        let mut sum = 0i32;
        for j in 0..16 {
            sum += (blk[4 + j] & 15) as i32 * q[j] as i32;
            sum += (blk[4 + j] >> 4) as i32 * q[j + 16] as i32;
        }
        acc += half_at(blk, 0) * a.d[b] * sum as f32;
        offsets += half_at(blk, 2) * a.s[b];
    }
    acc + offsets
}

pub fn dot_q8_0(w: &[u8], a: ActRow) -> f32 {
    let mut acc = 0.0f32;
    for (b, blk) in w.chunks_exact(34).enumerate() {
        let q = &a.qs[b * 32..b * 32 + 32];
        let mut sum = 0i32;
        for j in 0..32 {
            sum += (blk[2 + j] as i8) as i32 * q[j] as i32;
        }
        acc += half_at(blk, 0) * a.d[b] * sum as f32;
    }
    acc
}
