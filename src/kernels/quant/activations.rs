//! Activations rounded to 8 bits per block of 32, as llama.cpp does before a
//! quantised product (its `quantize_row_q8_0` / `q8_1`, x86 path):
//!
//!   amax = max |x_j| over the block,  d = amax / 127,
//!   q_j = round_half_even(x_j * 127 / amax)      (0 when amax = 0),
//!   d is stored rounded to f16; s = f16(d * sum_j q_j) for Q4_1's offset term.
//!
//! A weight block (scale dw, codes c_j) times an activation block is then
//! dw * d * sum_j c_j q_j: an integer dot product of bytes, which the CPU
//! does 32 or 64 at a time (AVX2 `maddubs`, AVX-512 VNNI `dpbusd`).

use super::dequant::{f16_to_f32, f32_to_f16};

/// Rows of activations quantised to 8 bits per block of 32.
#[derive(Clone, Debug, Default)]
pub struct Q8Activations {
    /// Values per row (a multiple of 32).
    pub cols: usize,
    /// Number of rows.
    pub rows: usize,
    /// The original values (for products with unquantised weights).
    pub values: Vec<f32>,
    /// The 8-bit codes, `rows * cols`.
    pub qs: Vec<i8>,
    /// Each block's scale `d` (already rounded through f16), `rows * cols / 32`.
    pub d: Vec<f32>,
    /// Each block's `f16(d * sum q)`, the term Q4_1's offset `m` multiplies.
    pub s: Vec<f32>,
}

/// One row's blocks.
#[derive(Clone, Copy, Debug)]
pub struct ActRow<'a> {
    pub qs: &'a [i8],
    pub d: &'a [f32],
    pub s: &'a [f32],
    pub values: &'a [f32],
}

impl Q8Activations {
    /// Quantises `x` (`rows` rows of `cols` values, `cols` a multiple of 32),
    /// reusing this buffer's allocations.
    pub fn quantize(&mut self, x: &[f32], cols: usize) {
        assert!(
            cols.is_multiple_of(32) && cols > 0,
            "Q8Activations: {cols} columns is not a multiple of 32"
        );
        assert_eq!(
            x.len() % cols,
            0,
            "Q8Activations: {} values are not rows of {cols}",
            x.len()
        );
        let rows = x.len() / cols;
        let blocks = x.len() / 32;
        self.cols = cols;
        self.rows = rows;
        self.values.clear();
        self.values.extend_from_slice(x);
        self.qs.resize(x.len(), 0);
        self.d.resize(blocks, 0.0);
        self.s.resize(blocks, 0.0);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { quantize_blocks_avx2(x, &mut self.qs, &mut self.d, &mut self.s) };
            return;
        }
        quantize_blocks(x, &mut self.qs, &mut self.d, &mut self.s);
    }

    /// Row `r`'s blocks.
    pub fn row(&self, r: usize) -> ActRow<'_> {
        let nb = self.cols / 32;
        ActRow {
            qs: &self.qs[r * self.cols..(r + 1) * self.cols],
            d: &self.d[r * nb..(r + 1) * nb],
            s: &self.s[r * nb..(r + 1) * nb],
            values: &self.values[r * self.cols..(r + 1) * self.cols],
        }
    }
}

/// The blocks of `x` quantised into `qs`, `d` and `s` (see the file's doc).
#[inline(always)]
fn quantize_blocks(x: &[f32], qs: &mut [i8], ds: &mut [f32], ss: &mut [f32]) {
    for (b, xb) in x.chunks_exact(32).enumerate() {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in qs[b * 32..b * 32 + 32].iter_mut().zip(xb) {
            // Within ±127 for any block of normal numbers; the clamp only
            // matters when 127 / amax overflows (amax subnormal) or a value
            // is infinite, where the codes would otherwise saturate to
            // i32::MAX and their sum overflow (found by fuzzing).
            let r = ((v * id).round_ties_even() as i32).clamp(-127, 127);
            *q = r as i8;
            sum += r;
        }
        ds[b] = f16_to_f32(f32_to_f16(d));
        ss[b] = f16_to_f32(f32_to_f16(d * sum as f32));
    }
}

/// [`quantize_blocks`] compiled for AVX2 (rounding is one instruction).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_blocks_avx2(x: &[f32], qs: &mut [i8], ds: &mut [f32], ss: &mut [f32]) {
    quantize_blocks(x, qs, ds, ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_is_scaled_to_127_and_rounded_half_even() {
        // amax = 127 makes the scale exactly 1, so the codes are x rounded.
        let mut x = vec![0.0f32; 32];
        x[0] = -127.0;
        x[1] = 0.5; // tie -> 0
        x[2] = 1.5; // tie -> 2
        x[3] = -2.5; // tie -> -2
        x[4] = 63.4;
        let mut a = Q8Activations::default();
        a.quantize(&x, 32);
        assert_eq!(&a.qs[..5], &[-127, 0, 2, -2, 63]);
        assert_eq!(a.d[0], 1.0);
        assert_eq!(a.s[0], (-127 + 2 - 2 + 63) as f32);
        // A subnormal block: 127 / amax is infinite; the codes stay in range.
        let mut tiny = [0.0f32; 32];
        tiny[0] = 1e-45;
        tiny[1] = -1e-45;
        a.quantize(&tiny, 32);
        assert_eq!((a.qs[0], a.qs[1], a.qs[2]), (127, -127, 0));
        let mut inf = [1.0f32; 32];
        inf[3] = f32::INFINITY;
        a.quantize(&inf, 32);
        assert!(a.qs.iter().all(|&q| (-127..=127).contains(&q)));
        a.quantize(&[0.0; 64], 32);
        assert!(a.qs.iter().all(|&q| q == 0) && a.d == [0.0, 0.0] && a.rows == 2);
    }
}
