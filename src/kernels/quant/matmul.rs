//! Products of a quantised weight matrix W (rows x cols, ggml row layout)
//! with activation rows X (tokens x cols): Y = X W^T, tokens x rows, each
//! entry one block-wise dot product (`dot_*.rs`) of a weight row with an
//! 8-bit activation row.
//!
//! Work is split by weight rows into tasks on the spin pool
//! (`kernels::spin_pool`), so one token's product (a matrix-vector product,
//! the whole of decoding) uses every core. Several matrices that multiply
//! the same activations (a block's q, k and v; its gate and up) go through
//! as one job ([`quant_matmul_fused`]): one hand-off instead of three. With
//! many tokens a task takes a band of weight rows and multiplies it by the
//! tokens four at a time ([`RowDot::dot4`]: each weight block unpacked once
//! for four tokens) while the band is in the L1 cache.
//!
//! How the work is split changes no result: every output is one dot
//! product, computed in the same order whoever computes it.

use super::activations::{ActRow, Q8Activations};
use super::dequant::dequantize_row;
use super::simd::Simd;
use super::{dot_avx2, dot_avx512, dot_scalar, GgmlType};
use crate::kernels::spin_pool::{self, SharedMut};

/// Four activation rows at once: `[f32; 4]` for one weight row.
type Dot4 = unsafe fn(&[u8], &[ActRow; 4]) -> [f32; 4];
/// Four consecutive weight rows at once with one activation row.
type Rows4 = unsafe fn(&[u8], ActRow) -> [f32; 4];

/// A dot product of one weight row with one activation row, for one type
/// and instruction set.
#[derive(Clone, Copy)]
pub struct RowDot {
    dtype: GgmlType,
    kernel: Kernel,
    /// Four activation rows at once (AVX-512 only; else four single calls).
    four: Option<Dot4>,
    /// Four consecutive weight rows at once (AVX-512 only).
    rows4: Option<Rows4>,
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
        let four: Option<Dot4> = match (dtype, level) {
            (GgmlType::Q4_0, Simd::Avx512) => Some(dot_avx512::dot_q4_0_n::<4>),
            (GgmlType::Q4_1, Simd::Avx512) => Some(dot_avx512::dot_q4_1_n::<4>),
            (GgmlType::Q8_0, Simd::Avx512) => Some(dot_avx512::dot_q8_0_n::<4>),
            _ => None,
        };
        let rows4: Option<Rows4> = match (dtype, level) {
            (GgmlType::Q4_0, Simd::Avx512) => Some(dot_avx512::rows_q4_0::<4>),
            (GgmlType::Q4_1, Simd::Avx512) => Some(dot_avx512::rows_q4_1::<4>),
            (GgmlType::Q8_0, Simd::Avx512) => Some(dot_avx512::rows_q8_0::<4>),
            _ => None,
        };
        RowDot {
            dtype,
            kernel,
            four,
            rows4,
        }
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

    /// The dot products of four consecutive weight rows (`w`, four rows'
    /// bytes) with activation row `a`: the same values as four calls of
    /// [`RowDot::dot`].
    #[inline]
    pub fn rows4(&self, w: &[u8], a: ActRow) -> [f32; 4] {
        match self.rows4 {
            // SAFETY: `new` checked that the CPU has the kernel's instructions.
            Some(f) => unsafe { f(w, a) },
            None => {
                let rb = w.len() / 4;
                std::array::from_fn(|r| self.dot(&w[r * rb..(r + 1) * rb], a))
            }
        }
    }

    /// The dot products of weight row `w` with four activation rows: the
    /// same four values as four calls of [`RowDot::dot`].
    #[inline]
    pub fn dot4(&self, w: &[u8], a: &[ActRow; 4]) -> [f32; 4] {
        match self.four {
            // SAFETY: `new` checked that the CPU has the kernel's instructions.
            Some(f) => unsafe { f(w, a) },
            None => std::array::from_fn(|t| self.dot(w, a[t])),
        }
    }
}

/// Asks the CPU to start loading `w[range]` into the cache (bytes past the
/// end are skipped).
#[inline(always)]
fn prefetch(w: &[u8], range: std::ops::Range<usize>) {
    #[cfg(target_arch = "x86_64")]
    {
        let end = range.end.min(w.len());
        let mut i = range.start & !63;
        while i < end {
            // SAFETY: prefetching an address in the slice reads nothing.
            unsafe {
                std::arch::x86_64::_mm_prefetch(
                    w.as_ptr().add(i) as *const i8,
                    std::arch::x86_64::_MM_HINT_T0,
                )
            };
            i += 64;
        }
    }
}

/// How far ahead of the product the one-token path prefetches weight rows.
/// Streaming SmolLM2's 92 MB of weights on one core (examples/quant_stream):
/// 3.7 GB/s median without, 6.5 with 16 rows ahead (12 and 24 about the
/// same), on the shared machine at load 7-8.
const PREFETCH_ROWS: usize = 16;

/// Weight rows per task when one token is multiplied: enough work to
/// amortise the claim (11-30 KB of SmolLM2's weights).
const ROWS_PER_TASK: usize = 32;

/// Weight rows per task with many tokens: a band that stays in L1 while
/// every token goes past it.
const BAND_ROWS: usize = 16;

/// One matrix of a fused product: `rows` weight rows of `dtype` in `w`, the
/// result (x.rows x rows) into `out`.
pub struct MatJob<'a> {
    pub dtype: GgmlType,
    pub w: &'a [u8],
    pub rows: usize,
    pub out: &'a mut [f32],
}

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
    quant_matmul_fused(
        level,
        &mut [MatJob {
            dtype,
            w,
            rows,
            out,
        }],
        x,
    )
}

/// Y_m = X W_m^T for every matrix of `mats`, as one parallel job.
pub fn quant_matmul_fused(level: Simd, mats: &mut [MatJob], x: &Q8Activations) {
    let cols = x.cols;
    let tokens = x.rows;
    let per_task = if tokens == 1 {
        ROWS_PER_TASK
    } else {
        BAND_ROWS
    };
    struct Part<'a> {
        dot: RowDot,
        w: &'a [u8],
        row_bytes: usize,
        rows: usize,
        out: SharedMut<f32>,
        first_task: usize,
    }
    let mut parts = Vec::with_capacity(mats.len());
    let mut n_tasks = 0;
    for m in mats.iter_mut() {
        let row_bytes = m
            .dtype
            .row_bytes(cols as u64)
            .expect("cols is a multiple of 32") as usize;
        assert_eq!(
            m.w.len(),
            m.rows * row_bytes,
            "quant_matmul: weight bytes for {}x{cols} {}",
            m.rows,
            m.dtype
        );
        assert_eq!(
            m.out.len(),
            tokens * m.rows,
            "quant_matmul: output of {tokens}x{}",
            m.rows
        );
        parts.push(Part {
            dot: RowDot::new(m.dtype, level),
            w: m.w,
            row_bytes,
            rows: m.rows,
            out: SharedMut::new(m.out),
            first_task: n_tasks,
        });
        n_tasks += m.rows.div_ceil(per_task);
    }
    let task = |i: usize| {
        let p = parts
            .iter()
            .rev()
            .find(|p| p.first_task <= i)
            .expect("task 0 is the first part's");
        let r0 = (i - p.first_task) * per_task;
        let r1 = (r0 + per_task).min(p.rows);
        let wr = |r: usize| &p.w[r * p.row_bytes..(r + 1) * p.row_bytes];
        if tokens == 1 {
            let a = x.row(0);
            // SAFETY: task i alone writes rows r0..r1 of this output.
            let o = unsafe { p.out.slice(r0..r1) };
            let mut r = r0;
            while r + 4 <= r1 {
                // Four interleaved row streams defeat the hardware
                // prefetcher: ask for the rows PREFETCH_ROWS ahead (into the
                // next task's rows at the end, which is harmless).
                let s = (r + PREFETCH_ROWS) * p.row_bytes;
                prefetch(p.w, s..s + 4 * p.row_bytes);
                let v = p.dot.rows4(&p.w[r * p.row_bytes..(r + 4) * p.row_bytes], a);
                o[r - r0..r - r0 + 4].copy_from_slice(&v);
                r += 4;
            }
            for r in r..r1 {
                o[r - r0] = p.dot.dot(wr(r), a);
            }
            return;
        }
        // Output (t, r) is at t * rows + r; task i alone writes r in r0..r1.
        let put = |t: usize, r: usize, v: f32| {
            let k = t * p.rows + r;
            // SAFETY: as above, one element of this task's rows.
            unsafe { p.out.slice(k..k + 1)[0] = v };
        };
        let mut t = 0;
        if p.dot.dtype == GgmlType::Q4_1 && level == Simd::Avx512 {
            // Tiles of 2 weight rows x 4 tokens; the bounds are checked here
            // once for all of them.
            let nb = cols / 32;
            assert!(
                x.qs.len() >= tokens * cols && x.d.len() >= tokens * nb && x.s.len() >= tokens * nb,
                "quant_matmul: activations of {tokens} x {cols}"
            );
            assert!(p.w.len() >= r1 * p.row_bytes && p.row_bytes == nb * 20);
            while t + 4 <= tokens {
                let tile = dot_avx512::ActTile {
                    // SAFETY: rows t..t + 4 lie in the activations (asserted).
                    qs: unsafe { x.qs.as_ptr().add(t * cols) },
                    d: unsafe { x.d.as_ptr().add(t * nb) },
                    s: unsafe { x.s.as_ptr().add(t * nb) },
                    cols,
                    nb,
                };
                let mut r = r0;
                while r < r1 {
                    // SAFETY: the CPU has AVX-512 VNNI (level checked by
                    // RowDot::new); rows r..r + 2 (or r alone) lie in w.
                    let w = unsafe { p.w.as_ptr().add(r * p.row_bytes) };
                    if r + 2 <= r1 {
                        let v = unsafe { dot_avx512::tile_q4_1::<2>(w, p.row_bytes, tile) };
                        for (i, row) in v.iter().enumerate() {
                            for (j, &v) in row.iter().enumerate() {
                                put(t + j, r + i, v);
                            }
                        }
                        r += 2;
                    } else {
                        let v = unsafe { dot_avx512::tile_q4_1::<1>(w, p.row_bytes, tile) };
                        for (j, &v) in v[0].iter().enumerate() {
                            put(t + j, r, v);
                        }
                        r += 1;
                    }
                }
                t += 4;
            }
        }
        while t + 4 <= tokens {
            let a = [x.row(t), x.row(t + 1), x.row(t + 2), x.row(t + 3)];
            for r in r0..r1 {
                let v = p.dot.dot4(wr(r), &a);
                for (j, &v) in v.iter().enumerate() {
                    put(t + j, r, v);
                }
            }
            t += 4;
        }
        for t in t..tokens {
            let a = x.row(t);
            for r in r0..r1 {
                put(t, r, p.dot.dot(wr(r), a));
            }
        }
    };
    spin_pool::global().run(n_tasks, &task);
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
            for (rows, cols, tokens) in [(37, 224, 1), (70, 576, 3), (45, 224, 9)] {
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
                    // One job of two matrices: the same values.
                    let half = rows / 2 * (w.len() / rows);
                    let (mut a, mut b) = (
                        vec![0.0; tokens * (rows / 2)],
                        vec![0.0; tokens * (rows - rows / 2)],
                    );
                    quant_matmul_fused(
                        level,
                        &mut [
                            MatJob {
                                dtype,
                                w: &w[..half],
                                rows: rows / 2,
                                out: &mut a,
                            },
                            MatJob {
                                dtype,
                                w: &w[half..],
                                rows: rows - rows / 2,
                                out: &mut b,
                            },
                        ],
                        &x,
                    );
                    for t in 0..tokens {
                        assert_eq!(
                            &a[t * (rows / 2)..(t + 1) * (rows / 2)],
                            &scalar[t * rows..t * rows + rows / 2]
                        );
                        assert_eq!(
                            &b[t * (rows - rows / 2)..(t + 1) * (rows - rows / 2)],
                            &scalar[t * rows + rows / 2..(t + 1) * rows]
                        );
                    }
                }
            }
        }
    }
}
