//! Products of a quantised weight matrix W (rows x cols, ggml row layout)
//! with activation rows X (tokens x cols): Y = X W^T, tokens x rows, each
//! entry one block-wise dot product (`dot_*.rs`) of a weight row with an
//! 8-bit activation row.
//!
//! Work is split across threads by weight rows, so one token's product (a
//! matrix-vector product, the whole of decoding) uses every core. With many
//! tokens each thread takes a band of weight rows and multiplies every token
//! by it while the band is in cache.

use rayon::prelude::*;

use super::activations::{ActRow, Q8Activations};
use super::dequant::dequantize_row;
use super::simd::Simd;
use super::{dot_avx2, dot_avx512, dot_scalar, GgmlType};

/// A dot product of one weight row with one activation row, for one type
/// and instruction set.
#[derive(Clone, Copy)]
pub struct RowDot {
    dtype: GgmlType,
    kernel: Kernel,
}

#[derive(Clone, Copy)]
enum Kernel {
    Safe(fn(&[u8], ActRow) -> f32),
    /// Needs the instruction set it was chosen for (checked by `RowDot::new`).
    Simd(unsafe fn(&[u8], ActRow) -> f32),
    /// Unquantised weights: dequantise, then an f32 dot product.
    Float,
}

impl RowDot {
    /// The kernel for `dtype` at `level`. Panics if the CPU lacks `level` or
    /// `dtype` is not supported (callers check both).
    pub fn new(dtype: GgmlType, level: Simd) -> RowDot {
        assert!(
            level.is_available(),
            "{} is not available on this CPU",
            level.name()
        );
        let kernel = match (dtype, level) {
            (GgmlType::Q4_0, Simd::Scalar) => Kernel::Safe(dot_scalar::dot_q4_0),
            (GgmlType::Q4_1, Simd::Scalar) => Kernel::Safe(dot_scalar::dot_q4_1),
            (GgmlType::Q8_0, Simd::Scalar) => Kernel::Safe(dot_scalar::dot_q8_0),
            (GgmlType::Q4_0, Simd::Avx2) => Kernel::Simd(dot_avx2::dot_q4_0),
            (GgmlType::Q4_1, Simd::Avx2) => Kernel::Simd(dot_avx2::dot_q4_1),
            (GgmlType::Q8_0, Simd::Avx2) => Kernel::Simd(dot_avx2::dot_q8_0),
            (GgmlType::Q4_0, Simd::Avx512) => Kernel::Simd(dot_avx512::dot_q4_0),
            (GgmlType::Q4_1, Simd::Avx512) => Kernel::Simd(dot_avx512::dot_q4_1),
            (GgmlType::Q8_0, Simd::Avx512) => Kernel::Simd(dot_avx512::dot_q8_0),
            (GgmlType::F32 | GgmlType::F16 | GgmlType::BF16, _) => Kernel::Float,
            (other, _) => panic!("no quantised product for {other}"),
        };
        RowDot { dtype, kernel }
    }

    /// The dot product of weight row bytes `w` with activation row `a`.
    #[inline]
    pub fn dot(&self, w: &[u8], a: ActRow) -> f32 {
        match self.kernel {
            Kernel::Safe(f) => f(w, a),
            // SAFETY: `new` checked that the CPU has the kernel's instructions.
            Kernel::Simd(f) => unsafe { f(w, a) },
            Kernel::Float => {
                let mut row = vec![0.0f32; a.values.len()];
                dequantize_row(self.dtype, w, &mut row);
                row.iter().zip(a.values).map(|(x, y)| x * y).sum()
            }
        }
    }
}

/// Weight rows per parallel task: enough work to amortise the hand-off.
const ROWS_PER_TASK: usize = 32;

/// Y = X W^T: `w` holds `rows` weight rows of `x.cols` values of `dtype`;
/// `out` gets `x.rows` rows of `rows` values.
pub fn quant_matmul(
    level: Simd,
    dtype: GgmlType,
    w: &[u8],
    rows: usize,
    x: &Q8Activations,
    out: &mut [f32],
) {
    let cols = x.cols;
    let row_bytes = dtype
        .row_bytes(cols as u64)
        .expect("cols is a multiple of 32") as usize;
    assert_eq!(
        w.len(),
        rows * row_bytes,
        "quant_matmul: weight bytes for {rows}x{cols} {dtype}"
    );
    assert_eq!(
        out.len(),
        x.rows * rows,
        "quant_matmul: output of {}x{rows}",
        x.rows
    );
    let dot = RowDot::new(dtype, level);
    if x.rows == 1 {
        let a = x.row(0);
        out.par_chunks_mut(ROWS_PER_TASK)
            .zip(w.par_chunks(ROWS_PER_TASK * row_bytes))
            .for_each(|(o, wc)| {
                for (y, wr) in o.iter_mut().zip(wc.chunks_exact(row_bytes)) {
                    *y = dot.dot(wr, a);
                }
            });
        return;
    }
    // Many tokens: each task computes a band of weight rows for all tokens
    // into a band-major buffer, then the bands are transposed into `out`.
    let tokens = x.rows;
    let mut banded = vec![0.0f32; rows * tokens];
    banded
        .par_chunks_mut(ROWS_PER_TASK * tokens)
        .zip(w.par_chunks(ROWS_PER_TASK * row_bytes))
        .for_each(|(o, wc)| {
            for (r, wr) in wc.chunks_exact(row_bytes).enumerate() {
                for t in 0..tokens {
                    o[r * tokens + t] = dot.dot(wr, x.row(t));
                }
            }
        });
    for r in 0..rows {
        for t in 0..tokens {
            out[t * rows + r] = banded[r * tokens + t];
        }
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::kernels::quant::f32_to_f16;
    use rand::{Rng, SeedableRng};

    /// Random blocks of `dtype` (scales of a realistic size), `rows` x `cols`.
    fn random_weights(rng: &mut impl Rng, dtype: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
        let mut w = Vec::new();
        for _ in 0..rows * cols / 32 {
            let scale = f32_to_f16(rng.gen_range(0.001..0.05)).to_le_bytes();
            match dtype {
                GgmlType::Q4_0 | GgmlType::Q8_0 => w.extend(scale),
                _ => {
                    w.extend(scale);
                    w.extend(f32_to_f16(rng.gen_range(-0.3..0.1)).to_le_bytes());
                }
            }
            let n = if dtype == GgmlType::Q8_0 { 32 } else { 16 };
            w.extend((0..n).map(|_| rng.gen::<u8>()));
        }
        w
    }

    fn reference(dtype: GgmlType, w: &[u8], rows: usize, x: &Q8Activations) -> Vec<f32> {
        // f64 dot of the dequantised weights with the dequantised activations.
        let cols = x.cols;
        let rb = w.len() / rows;
        let mut out = vec![0.0; x.rows * rows];
        let mut wr = vec![0.0; cols];
        for r in 0..rows {
            dequantize_row(dtype, &w[r * rb..(r + 1) * rb], &mut wr);
            for t in 0..x.rows {
                let a = x.row(t);
                let mut s = 0.0f64;
                for j in 0..cols {
                    s += wr[j] as f64 * a.qs[j] as f64 * a.d[j / 32] as f64;
                }
                if dtype == GgmlType::Q4_1 {
                    // Q4_1 uses s = f16(d * sum q) for its offsets, as llama.cpp.
                    let exact: f64 = (0..cols / 32)
                        .map(|b| {
                            let m = crate::kernels::quant::f16_to_f32(u16::from_le_bytes([
                                w[r * rb + b * 20 + 2],
                                w[r * rb + b * 20 + 3],
                            ])) as f64;
                            let qsum: i32 =
                                a.qs[b * 32..b * 32 + 32].iter().map(|&q| q as i32).sum();
                            m * (a.s[b] as f64 - a.d[b] as f64 * qsum as f64)
                        })
                        .sum();
                    s += exact;
                }
                out[t * rows + r] = s as f32;
            }
        }
        out
    }

    #[test]
    fn every_level_matches_the_dequantised_product() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for dtype in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
            // 7 blocks: an odd count exercises the AVX-512 tail.
            for (rows, cols, tokens) in [(37, 224, 1), (70, 576, 3)] {
                let w = random_weights(&mut rng, dtype, rows, cols);
                let xs: Vec<f32> = (0..tokens * cols)
                    .map(|_| rng.gen_range(-3.0..3.0))
                    .collect();
                let mut x = Q8Activations::default();
                x.quantize(&xs, cols);
                let want = reference(dtype, &w, rows, &x);
                let mut scalar = vec![0.0; tokens * rows];
                quant_matmul(Simd::Scalar, dtype, &w, rows, &x, &mut scalar);
                for (i, (g, e)) in scalar.iter().zip(&want).enumerate() {
                    assert!(
                        (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                        "{dtype} scalar [{i}]: {g} vs {e}"
                    );
                }
                // The SIMD kernels keep the scalar order of f32 operations.
                for level in Simd::ALL.into_iter().filter(|l| l.is_available()) {
                    let mut got = vec![0.0; tokens * rows];
                    quant_matmul(level, dtype, &w, rows, &x, &mut got);
                    assert_eq!(got, scalar, "{dtype} {}", level.name());
                }
            }
        }
    }
}
