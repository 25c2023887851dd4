//! Dequantisation, exactly as ggml's `dequantize_row_*`:
//!
//! - Q4_0, blocks of 32: `d` (f16), 16 bytes of 4-bit codes `q`; value
//!   `j` (< 16) is `(q[j] & 15) - 8` times `d`, value `j + 16` is
//!   `(q[j] >> 4) - 8` times `d`.
//! - Q4_1: `d`, `m` (f16), 16 bytes; values `(q & 15) * d + m` and
//!   `(q >> 4) * d + m` in the same order.
//! - Q8_0: `d` (f16), 32 signed bytes `q`; value `q[j] * d`.
//! - F16, BF16: widened to f32 (exact); F32: copied.

use super::GgmlType;

/// An IEEE half-precision value (its bits) as f32, exactly.
#[inline]
pub fn f16_to_f32(bits: u16) -> f32 {
    half::f16::from_bits(bits).to_f32()
}

/// An f32 rounded to the nearest half-precision value (ties to even), as
/// ggml's `GGML_FP32_TO_FP16`.
#[inline]
pub fn f32_to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

#[inline]
fn half_at(b: &[u8], i: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[i], b[i + 1]]))
}

/// Dequantises `out.len()` values from `bytes` (a whole number of blocks of
/// `dtype`). Panics if the lengths disagree or `dtype` is not supported
/// (callers check both when a file is opened).
pub fn dequantize_row(dtype: GgmlType, bytes: &[u8], out: &mut [f32]) {
    let n = out.len();
    assert_eq!(
        dtype.row_bytes(n as u64),
        Some(bytes.len() as u64),
        "dequantize_row: {n} {dtype} values need {:?} bytes, got {}",
        dtype.row_bytes(n as u64),
        bytes.len()
    );
    match dtype {
        GgmlType::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        GgmlType::F16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16_to_f32(u16::from_le_bytes([c[0], c[1]]));
            }
        }
        GgmlType::BF16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16);
            }
        }
        GgmlType::Q4_0 => {
            for (y, b) in out.chunks_exact_mut(32).zip(bytes.chunks_exact(18)) {
                let d = half_at(b, 0);
                for j in 0..16 {
                    let q = b[2 + j];
                    y[j] = ((q & 15) as i32 - 8) as f32 * d;
                    y[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
                }
            }
        }
        GgmlType::Q4_1 => {
            for (y, b) in out.chunks_exact_mut(32).zip(bytes.chunks_exact(20)) {
                let (d, m) = (half_at(b, 0), half_at(b, 2));
                for j in 0..16 {
                    let q = b[4 + j];
                    y[j] = (q & 15) as f32 * d + m;
                    y[j + 16] = (q >> 4) as f32 * d + m;
                }
            }
        }
        GgmlType::Q8_0 => {
            for (y, b) in out.chunks_exact_mut(32).zip(bytes.chunks_exact(34)) {
                let d = half_at(b, 0);
                for j in 0..32 {
                    y[j] = (b[2 + j] as i8) as f32 * d;
                }
            }
        }
        other => panic!("dequantize_row: {other} is not supported"),
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    #[test]
    fn q4_1_block_by_hand() {
        // d = 0.5, m = -1.0; byte j holds codes (j & 15) low and 15 - j high.
        let mut b = vec![];
        b.extend(f32_to_f16(0.5).to_le_bytes());
        b.extend(f32_to_f16(-1.0).to_le_bytes());
        for j in 0..16u8 {
            b.push(j | ((15 - j) << 4));
        }
        let mut y = [0.0; 32];
        dequantize_row(GgmlType::Q4_1, &b, &mut y);
        for j in 0..16 {
            assert_eq!(y[j], j as f32 * 0.5 - 1.0);
            assert_eq!(y[j + 16], (15 - j) as f32 * 0.5 - 1.0);
        }
    }

    #[test]
    fn q4_0_and_q8_0_blocks_by_hand() {
        let mut b = vec![];
        b.extend(f32_to_f16(2.0).to_le_bytes());
        b.extend([0x80u8; 16]); // low code 0 -> -8, high code 8 -> 0
        let mut y = [0.0; 32];
        dequantize_row(GgmlType::Q4_0, &b, &mut y);
        assert!(y[..16].iter().all(|&v| v == -16.0) && y[16..].iter().all(|&v| v == 0.0));
        let mut b = vec![];
        b.extend(f32_to_f16(0.25).to_le_bytes());
        b.extend((0..32).map(|j| (j as i8 - 16) as u8));
        dequantize_row(GgmlType::Q8_0, &b, &mut y);
        for (j, &v) in y.iter().enumerate() {
            assert_eq!(v, (j as f32 - 16.0) * 0.25);
        }
    }

    #[test]
    fn half_conversions_round_to_nearest_even() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24)); // smallest subnormal
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00); // tie -> even
        assert_eq!(f32_to_f16(65520.0), 0x7c00); // rounds to infinity
    }
}
