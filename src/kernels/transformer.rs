//! The non-matrix pieces of a llama-style transformer block, on plain slices:
//!
//! - RMSNorm: y_j = x_j / sqrt(mean_k x_k^2 + eps) * w_j (the mean of squares
//!   summed in f64, as ggml does).
//! - Rotary position embedding, "normal" convention (adjacent pairs, as
//!   llama.cpp uses for llama GGUF files, whose q/k weights the converter
//!   permuted to match): for pair i of a head of size n at position p,
//!   theta = p * base^(-2i/n) and (x_2i, x_2i+1) is rotated by theta.
//! - SwiGLU's gate: g_j = silu(g_j) * u_j with silu(x) = x / (1 + e^-x).
//! - Causal attention of one query row against cached keys and values:
//!   softmax_k(q . k_k / sqrt(d)) weighted sum of v_k, in half precision
//!   like llama.cpp's default (f16 cache, f16 query and weights, f32 sums).

/// Defines `pub fn $name` that runs `$imp` compiled with FMA (and AVX2) when
/// the CPU has them, so `mul_add` is one instruction rather than a call to
/// the C library's fmaf; the results are the same bits either way.
macro_rules! with_fma {
    ($(#[$m:meta])* pub fn $name:ident / $fast:ident = $imp:ident ($($arg:ident : $ty:ty),*) $(-> $ret:ty)?) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has the features `$fast` is compiled for.
                return unsafe { $fast($($arg),*) };
            }
            $imp($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "fma,avx2")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $fast($($arg: $ty),*) $(-> $ret)? {
            $imp($($arg),*)
        }
    };
}

/// In place: `x` (rows of `w.len()`) normalised by RMSNorm with weight `w`.
pub fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    let n = w.len();
    for row in x.chunks_exact_mut(n) {
        // As ggml: squares in f32, summed in f64, the mean rounded to f32.
        let ss: f64 = row.iter().map(|&v| (v * v) as f64).sum();
        let scale = 1.0 / ((ss / n as f64) as f32 + eps).sqrt();
        for (v, &g) in row.iter_mut().zip(w) {
            *v = *v * scale * g;
        }
    }
}

/// `out` = RMSNorm(x) with weight `w`, row by row.
pub fn rms_norm_into(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    out.copy_from_slice(x);
    rms_norm(out, w, eps);
}

/// The cos and sin of each pair's angle at position `pos`, for heads of
/// `head_dim`: theta_i = pos * base^(-2i / head_dim), computed like ggml (the
/// factor base^(-2/head_dim) multiplied in f32 pair after pair).
pub fn rope_angles(pos: usize, head_dim: usize, base: f32, cos: &mut [f32], sin: &mut [f32]) {
    let scale = base.powf(-2.0 / head_dim as f32);
    let mut theta = pos as f32;
    for i in 0..head_dim / 2 {
        cos[i] = theta.cos();
        sin[i] = theta.sin();
        theta *= scale;
    }
}

with_fma!(
    /// In place: each head (`head_dim` values) of `x` rotated pair by pair.
    pub fn rope_apply / rope_apply_fma = rope_apply_impl(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32])
);

#[inline(always)]
fn rope_apply_impl(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    for head in x.chunks_exact_mut(head_dim) {
        for i in 0..head_dim / 2 {
            let (a, b) = (head[2 * i], head[2 * i + 1]);
            // With fused multiply-adds where llama.cpp's compiled C has them.
            head[2 * i] = a.mul_add(cos[i], -(b * sin[i]));
            head[2 * i + 1] = a.mul_add(sin[i], b * cos[i]);
        }
    }
}

with_fma!(
    /// In place: gate_j = silu(gate_j) * up_j, with [`exp_f32`].
    pub fn silu_mul / silu_mul_fma = silu_mul_impl(gate: &mut [f32], up: &[f32])
);

#[inline(always)]
fn silu_mul_impl(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + exp_f32(-*g)) * u;
    }
}

/// e^x in f32 by the method llama.cpp's CPU code uses for softmax and SiLU
/// (ARM's optimized-routines expf): x = n ln2 + b with n = round(x / ln2)
/// (ln2 split in two parts for precision), e^b by a degree-5 polynomial,
/// times 2^n. Its maximum error is about 1.5 ulp; nerve uses it, not the C
/// library's expf, so that its results are llama.cpp's bits.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let c = |bits: u32| f32::from_bits(bits);
    let shift = c(0x4b40_0000); // 1.5 * 2^23: adding it rounds to an integer
    let z = x.mul_add(c(0x3fb8_aa3b), shift); // x * log2(e) + shift
    let n = z - shift;
    let b = (-n).mul_add(c(0x35bf_be8e), (-n).mul_add(c(0x3f31_7200), x)); // x - n ln2
    let u = b * b;
    let p = c(0x3c07_2010)
        .mul_add(b, c(0x3d2b_9f17))
        .mul_add(u, c(0x3e2a_af33).mul_add(b, c(0x3eff_fedb)));
    let j = p.mul_add(u, c(0x3f7f_fff6).mul_add(b, 1.0));
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    if n.is_nan() {
        return f32::NAN;
    }
    // j * 2^n with one rounding, in two steps when 2^n is not a normal f32.
    let n = n as i32;
    let (n1, n2) = (n / 2, n - n / 2);
    let pow2 = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    if (-126..=127).contains(&n) {
        j * pow2(n)
    } else {
        j * pow2(n1) * pow2(n2)
    }
}

with_fma!(
    /// One query head against `n` cached positions, in half precision as
    /// llama.cpp's default attention: keys and values are stored as f16 bits
    /// (position k's vector for this head at `k * stride + offset`, `head_dim`
    /// long), the query and the softmax weights are rounded to f16 before their
    /// products. The f32 sums are done in llama.cpp's order, so the results are
    /// its bits: each product of two f16 vectors in sixteen lanes (lane i sums
    /// elements i, i + 16, ... with fused multiply-adds), the lanes then summed
    /// by halves ([`sum16`]); the softmax sum taken sixteen positions at a time
    /// and accumulated in f64. Writes softmax(q.k / sqrt(d)) . v into `out`;
    /// `scores` is scratch of at least `n`.
    pub fn attend / attend_fma = attend_impl(
        q: &[f32],
        keys: &[u16],
        values: &[u16],
        n: usize,
        stride: usize,
        offset: usize,
        scratch: &mut AttnScratch,
        out: &mut [f32],
        order: SumOrder
    )
);

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn attend_impl(
    q: &[f32],
    keys: &[u16],
    values: &[u16],
    n: usize,
    stride: usize,
    offset: usize,
    scratch: &mut AttnScratch,
    out: &mut [f32],
    order: SumOrder,
) {
    #[cfg(target_arch = "x86_64")]
    if q.len().is_multiple_of(16) && q.len() <= 256 && avx512_f16c() {
        // SAFETY: the CPU has the features the function is compiled for.
        unsafe { attend_avx512(q, keys, values, n, stride, offset, scratch, out, order) };
        return;
    }
    attend_portable(q, keys, values, n, stride, offset, scratch, out, order)
}

/// [`attend`] in portable Rust (f16 through a table).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn attend_portable(
    q: &[f32],
    keys: &[u16],
    values: &[u16],
    n: usize,
    stride: usize,
    offset: usize,
    scratch: &mut AttnScratch,
    out: &mut [f32],
    order: SumOrder,
) {
    scratch.scores.resize(n, 0.0);
    let scores = &mut scratch.scores[..];
    let d = q.len();
    let scale = 1.0 / (d as f32).sqrt();
    let mut q16 = [0.0f32; 256];
    let q16 = &mut q16[..d];
    for (r, &x) in q16.iter_mut().zip(q) {
        *r = round_f16(x);
    }
    let mut max = f32::NEG_INFINITY;
    let mut key = [0.0f32; 256];
    let key = &mut key[..d];
    for (k, s) in scores[..n].iter_mut().enumerate() {
        f16_to_f32_slice(&keys[k * stride + offset..k * stride + offset + d], key);
        *s = order.dot(q16, key) * scale;
        max = max.max(*s);
    }
    let mut sum = 0.0f64;
    for chunk in scores[..n].chunks_mut(16) {
        let mut lanes = [0.0f32; 16];
        for (l, s) in lanes.iter_mut().zip(chunk.iter_mut()) {
            *s = exp_f32(*s - max);
            *l = *s;
        }
        sum += sum16(&lanes) as f64;
    }
    let inv = (1.0 / sum) as f32;
    for s in scores[..n].iter_mut() {
        *s = round_f16(*s * inv);
    }
    // 64 accumulator rows of `d` (lane-major, so the loop over d vectorises).
    let lanes = &mut scratch.lanes;
    lanes.clear();
    lanes.resize(64 * d, 0.0);
    let mut v = [0.0f32; 256];
    let v = &mut v[..d];
    for (k, &p) in scores[..n].iter().enumerate() {
        f16_to_f32_slice(&values[k * stride + offset..k * stride + offset + d], v);
        let lane = order.lane(k);
        for (acc, &x) in lanes[lane * d..(lane + 1) * d].iter_mut().zip(v.iter()) {
            *acc = p.mul_add(x, *acc);
        }
    }
    for (j, o) in out.iter_mut().enumerate() {
        let acc: [f32; 64] = std::array::from_fn(|l| lanes[l * d + j]);
        *o = order.reduce(&acc);
    }
}

#[cfg(test)]
fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return avx512_f16c();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(target_arch = "x86_64")]
fn avx512_f16c() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("f16c")
            && std::is_x86_feature_detected!("fma")
    })
}

/// [`attend_impl`] for heads of a multiple of 16 values (at most 256), one
/// 16-lane vector per 16 values: the same operations in the same order
/// (the lanes of `SumOrder` are the vector lanes), with the f16 values
/// converted by `vcvtph2ps` rather than a table. The same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c,fma,avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn attend_avx512(
    q: &[f32],
    keys: &[u16],
    values: &[u16],
    n: usize,
    stride: usize,
    offset: usize,
    scratch: &mut AttnScratch,
    out: &mut [f32],
    order: SumOrder,
) {
    use std::arch::x86_64::*;
    let d = q.len();
    let chunks = d / 16;
    assert!(
        n == 0 || ((n - 1) * stride + offset + d <= keys.len().min(values.len())),
        "attend: {n} positions do not fit the cache"
    );
    assert_eq!(out.len(), d, "attend: output of {}", out.len());
    // Sixteen lanes summed as sum16: halves of 8, 4, then (0 + 2) + (1 + 3).
    #[inline]
    #[target_feature(enable = "avx512f,f16c,fma,avx2")]
    unsafe fn reduce16(v: __m512) -> f32 {
        let lo = _mm512_castps512_ps256(v);
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
        let a = _mm256_add_ps(hi, lo);
        let b = _mm_add_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
        let c = _mm_add_ps(_mm_movehl_ps(b, b), b);
        _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)))
    }
    #[inline]
    #[target_feature(enable = "avx512f,f16c,fma,avx2")]
    unsafe fn load_f16(p: *const u16) -> __m512 {
        _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
    }
    scratch.scores.resize(n, 0.0);
    let scores = &mut scratch.scores[..n];
    let scale = 1.0 / (d as f32).sqrt();
    let mut qv = [_mm512_setzero_ps(); 16];
    for c in 0..chunks {
        let mut r = [0.0f32; 16];
        for (x, &v) in r.iter_mut().zip(&q[16 * c..16 * c + 16]) {
            *x = round_f16(v);
        }
        qv[c] = _mm512_loadu_ps(r.as_ptr());
    }
    let mut max = f32::NEG_INFINITY;
    let kp = keys.as_ptr();
    for (k, s) in scores.iter_mut().enumerate() {
        // SAFETY: position k's vector lies in keys (asserted above).
        let base = kp.add(k * stride + offset);
        let dot = match order {
            SumOrder::Batch => {
                let mut acc = _mm512_setzero_ps();
                for (c, &q) in qv[..chunks].iter().enumerate() {
                    acc = _mm512_fmadd_ps(q, load_f16(base.add(16 * c)), acc);
                }
                reduce16(acc)
            }
            SumOrder::OneQuery => {
                let mut g = [_mm512_setzero_ps(); 4];
                for c in 0..chunks {
                    g[c % 4] = _mm512_fmadd_ps(qv[c], load_f16(base.add(16 * c)), g[c % 4]);
                }
                reduce16(_mm512_add_ps(
                    _mm512_add_ps(g[0], g[2]),
                    _mm512_add_ps(g[1], g[3]),
                ))
            }
        };
        *s = dot * scale;
        max = max.max(*s);
    }
    let mut sum = 0.0f64;
    for chunk in scores.chunks_mut(16) {
        let mut lanes = [0.0f32; 16];
        for (l, s) in lanes.iter_mut().zip(chunk.iter_mut()) {
            *s = exp_f32(*s - max);
            *l = *s;
        }
        sum += sum16(&lanes) as f64;
    }
    let inv = (1.0 / sum) as f32;
    for s in scores.iter_mut() {
        *s = round_f16(*s * inv);
    }
    // Accumulator rows (Batch: 16, OneQuery: 64), `chunks` vectors each.
    let rows = if order == SumOrder::Batch { 16 } else { 64 };
    let lanes = &mut scratch.lanes;
    lanes.clear();
    lanes.resize(rows * d, 0.0);
    let lp = lanes.as_mut_ptr();
    let vp = values.as_ptr();
    for (k, &p) in scores.iter().enumerate() {
        let pv = _mm512_set1_ps(p);
        // SAFETY: position k's vector lies in values (asserted above); the
        // accumulator row is in `lanes`.
        let base = vp.add(k * stride + offset);
        let row = lp.add((k % rows) * d);
        for c in 0..chunks {
            let acc = _mm512_loadu_ps(row.add(16 * c));
            let acc = _mm512_fmadd_ps(pv, load_f16(base.add(16 * c)), acc);
            _mm512_storeu_ps(row.add(16 * c), acc);
        }
    }
    // out[j] = order.reduce over the accumulator rows, 16 values of j at a time.
    #[inline]
    #[target_feature(enable = "avx512f,f16c,fma,avx2")]
    unsafe fn row(lp: *const f32, d: usize, l: usize, c: usize) -> __m512 {
        _mm512_loadu_ps(lp.add(l * d + 16 * c))
    }
    for c in 0..chunks {
        let l: [__m512; 16] = std::array::from_fn(|i| match order {
            SumOrder::Batch => row(lp, d, i, c),
            SumOrder::OneQuery => _mm512_add_ps(
                _mm512_add_ps(row(lp, d, i, c), row(lp, d, 32 + i, c)),
                _mm512_add_ps(row(lp, d, 16 + i, c), row(lp, d, 48 + i, c)),
            ),
        });
        let a: [__m512; 8] = std::array::from_fn(|i| _mm512_add_ps(l[i + 8], l[i]));
        let b: [__m512; 4] = std::array::from_fn(|i| _mm512_add_ps(a[i + 4], a[i]));
        let r = _mm512_add_ps(_mm512_add_ps(b[0], b[2]), _mm512_add_ps(b[1], b[3]));
        _mm512_storeu_ps(out.as_mut_ptr().add(16 * c), r);
    }
}

/// Scratch space for [`attend`], reused across calls.
#[derive(Clone, Debug, Default)]
pub struct AttnScratch {
    scores: Vec<f32>,
    lanes: Vec<f32>,
}

/// The order of f32 sums in an attention product, as llama.cpp has them:
/// a batch of queries goes through tinyBLAS (sixteen lanes, element e in
/// lane e mod 16), one query through `ggml_vec_dot_f16` (four groups of
/// sixteen lanes, element e in group (e / 16) mod 4, the groups added
/// (0 + 2) + (1 + 3)); either way the sixteen lanes are then summed by halves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SumOrder {
    Batch,
    OneQuery,
}

impl SumOrder {
    /// The accumulator (of 64) that element `e` goes into.
    #[inline(always)]
    fn lane(self, e: usize) -> usize {
        match self {
            SumOrder::Batch => e % 16,
            SumOrder::OneQuery => e % 64,
        }
    }

    /// The accumulators' sum.
    #[inline(always)]
    fn reduce(self, acc: &[f32; 64]) -> f32 {
        let mut l = [0.0f32; 16];
        l.copy_from_slice(&acc[..16]);
        if self == SumOrder::OneQuery {
            for (i, x) in l.iter_mut().enumerate() {
                *x = (acc[i] + acc[32 + i]) + (acc[16 + i] + acc[48 + i]);
            }
        }
        sum16(&l)
    }

    /// A dot product in this order, with fused multiply-adds.
    #[inline(always)]
    pub fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0.0f32; 64];
        for (e, (&x, &y)) in a.iter().zip(b).enumerate() {
            let l = self.lane(e);
            acc[l] = x.mul_add(y, acc[l]);
        }
        self.reduce(&acc)
    }
}

/// Sixteen lanes summed as AVX-512's `reduce_add`: halves of 8, 4, 2, 1.
#[inline(always)]
pub fn sum16(l: &[f32; 16]) -> f32 {
    let a: [f32; 8] = std::array::from_fn(|i| l[i + 8] + l[i]);
    let b: [f32; 4] = std::array::from_fn(|i| a[i + 4] + a[i]);
    (b[0] + b[2]) + (b[1] + b[3])
}

/// x rounded to the nearest f16 value (ties to even), as f32.
#[inline(always)]
pub fn round_f16(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

/// f16 bits to f32 values (exact), through a table of all 65,536.
#[inline(always)]
pub fn f16_to_f32_slice(src: &[u16], dst: &mut [f32]) {
    let table = f16_table();
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = table[s as usize];
    }
}

fn f16_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|b| half::f16::from_bits(b).to_f32())
            .collect()
    })
}

/// f32 values to f16 bits (round to nearest even).
#[inline]
pub fn f32_to_f16_slice(src: &[f32], dst: &mut [u16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = half::f16::from_f32(s).to_bits();
    }
}

/// A plain f32 dot product, in eight lanes so the compiler vectorises it.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_by_hand() {
        // mean of squares of [3, 4] = 12.5; 1/sqrt(12.5) = 0.28284.
        let mut x = [3.0, 4.0];
        rms_norm(&mut x, &[1.0, 2.0], 0.0);
        assert!((x[0] - 0.848528).abs() < 1e-5 && (x[1] - 2.262742).abs() < 1e-5);
    }

    #[test]
    fn rope_rotates_adjacent_pairs() {
        let (mut c, mut s) = ([0.0; 2], [0.0; 2]);
        rope_angles(3, 4, 100.0, &mut c, &mut s);
        // pair 0: theta = 3; pair 1: theta = 3 * 100^(-1/2) = 0.3.
        assert!((c[0] - 3f32.cos()).abs() < 1e-6 && (s[1] - 0.3f32.sin()).abs() < 1e-6);
        let mut x = [1.0, 0.0, 0.0, 1.0];
        rope_apply(&mut x, 4, &c, &s);
        assert!((x[0] - 3f32.cos()).abs() < 1e-6 && (x[1] - 3f32.sin()).abs() < 1e-6);
        assert!((x[2] + 0.3f32.sin()).abs() < 1e-6 && (x[3] - 0.3f32.cos()).abs() < 1e-6);
        rope_angles(0, 4, 100.0, &mut c, &mut s);
        assert_eq!((c, s), ([1.0, 1.0], [0.0, 0.0]));
    }

    #[test]
    fn attention_weights_values_by_softmax() {
        // q . k = [0, 2] * (1/sqrt(2)) -> softmax weights [1, e^sqrt2] / sum.
        let q = [1.0, 1.0];
        let keys: Vec<u16> = [0.0f32, 0.0, 1.0, 1.0]
            .map(|x| half::f16::from_f32(x).to_bits())
            .to_vec();
        let values: Vec<u16> = [10.0f32, 0.0, 0.0, 10.0]
            .map(|x| half::f16::from_f32(x).to_bits())
            .to_vec();
        let mut out = [0.0; 2];
        attend(
            &q,
            &keys,
            &values,
            2,
            2,
            0,
            &mut AttnScratch::default(),
            &mut out,
            SumOrder::Batch,
        );
        let e = 2f32.sqrt().exp();
        // The weights are rounded to f16 (relative error below 2^-11).
        assert!(
            (out[0] - 10.0 / (1.0 + e)).abs() < 1e-2
                && (out[1] - 10.0 * e / (1.0 + e)).abs() < 1e-2
        );
    }

    #[test]
    fn simd_attention_gives_the_portable_bits() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (d, n, kv_heads) in [
            (64, 1, 3),
            (64, 37, 3),
            (32, 100, 2),
            (128, 70, 1),
            (16, 5, 4),
        ] {
            let stride = d * kv_heads;
            let f16s = |rng: &mut rand_chacha::ChaCha8Rng, len: usize| -> Vec<u16> {
                (0..len)
                    .map(|_| half::f16::from_f32(rng.gen_range(-2.0..2.0)).to_bits())
                    .collect()
            };
            let (keys, values) = (f16s(&mut rng, n * stride), f16s(&mut rng, n * stride));
            let q: Vec<f32> = (0..d).map(|_| rng.gen_range(-3.0..3.0)).collect();
            for order in [SumOrder::Batch, SumOrder::OneQuery] {
                let offset = (kv_heads - 1) * d;
                let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
                let mut sc = AttnScratch::default();
                attend(
                    &q, &keys, &values, n, stride, offset, &mut sc, &mut a, order,
                );
                attend_impl(
                    &q, &keys, &values, n, stride, offset, &mut sc, &mut b, order,
                );
                if !avx512_available() {
                    assert_eq!(a, b);
                    continue;
                }
                // attend_impl dispatches to the SIMD path too; compare with
                // the portable loops forced.
                let mut c = vec![0.0; d];
                attend_portable(
                    &q, &keys, &values, n, stride, offset, &mut sc, &mut c, order,
                );
                assert_eq!(a, c, "d {d} n {n} {order:?}");
            }
        }
    }

    #[test]
    fn exp_is_within_two_ulps_of_the_true_value() {
        for i in -2000..=800 {
            let x = i as f32 * 0.11;
            let (got, want) = (exp_f32(x) as f64, (x as f64).exp());
            if want > 1e-37 && want < 3e38 {
                let ulp = (want as f32).abs() as f64 * f32::EPSILON as f64;
                assert!(
                    (got - want).abs() <= 2.0 * ulp,
                    "exp({x}) = {got}, want {want}"
                );
            }
        }
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
    }

    #[test]
    fn silu_mul_by_hand() {
        let mut g = [0.0, 2.0];
        silu_mul(&mut g, &[5.0, 0.5]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 2.0 / (1.0 + (-2f32).exp()) * 0.5).abs() < 1e-6);
    }
}
