//! GELU, exact form, and its derivative, in one vectorised pass each.
//!
//! gelu(x) = x·Φ(x) = ½x·(1 + erf(x/√2))
//! gelu'(x) = Φ(x) + x·φ(x),  φ(x) = e^(−x²/2)/√(2π)
//!
//! erf by Abramowitz and Stegun 7.1.26 (|error| ≤ 1.5e-7, the size of a
//! float's rounding near 1): erf(z) = 1 − t·(a₁ + t(a₂ + t(a₃ + t(a₄ + t·a₅))))·e^(−z²),
//! t = 1/(1 + p·z) for z ≥ 0, odd in z. Without a call to the C library's
//! erff, the loop runs in AVX-512 or AVX2 lanes (kernels/simd.rs).

use rayon::prelude::*;

use super::simd::{self, simd_dispatch};
use super::PAR_THRESHOLD;

const CHUNK: usize = 1 << 13;

/// erf(z) (A&S 7.1.26).
#[inline(always)]
fn erf(z: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    let a = z.abs();
    let t = 1.0 / P.mul_add(a, 1.0);
    let poly = A[4]
        .mul_add(t, A[3])
        .mul_add(t, A[2])
        .mul_add(t, A[1])
        .mul_add(t, A[0])
        * t;
    let e = 1.0 - poly * simd::exp(-a * a);
    if z < 0.0 {
        -e
    } else {
        e
    }
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1/√(2π).
const INV_SQRT_2PI: f32 = 0.398_942_3;

simd_dispatch!(
    fn forward_chunk = forward_chunk_impl(x: &[f32], y: &mut [f32])
);

#[inline(always)]
fn forward_chunk_impl(x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = 0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2));
    }
}

simd_dispatch!(
    fn backward_chunk = backward_chunk_impl(x: &[f32], g: &[f32], dx: &mut [f32])
);

#[inline(always)]
fn backward_chunk_impl(x: &[f32], g: &[f32], dx: &mut [f32]) {
    for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
        let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
        let pdf = simd::exp(-0.5 * x * x) * INV_SQRT_2PI;
        *d = g * x.mul_add(pdf, cdf);
    }
}

/// y = gelu(x).
pub fn gelu_forward(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "gelu: sizes differ");
    if x.len() >= PAR_THRESHOLD {
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(y, x)| forward_chunk(x, y));
    } else {
        forward_chunk(x, y);
    }
}

/// dx = g · gelu'(x).
pub fn gelu_backward(x: &[f32], g: &[f32], dx: &mut [f32]) {
    assert!(
        x.len() == g.len() && g.len() == dx.len(),
        "gelu: sizes differ"
    );
    if x.len() >= PAR_THRESHOLD {
        dx.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|(d, (x, g))| backward_chunk(x, g, d));
    } else {
        backward_chunk(x, g, dx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_the_library_erf() {
        let x: Vec<f32> = (0..4001).map(|i| (i as f32 - 2000.0) / 250.0).collect();
        let mut y = vec![0.0; x.len()];
        gelu_forward(&x, &mut y);
        let ones = vec![1.0; x.len()];
        let mut d = vec![0.0; x.len()];
        gelu_backward(&x, &ones, &mut d);
        for ((&x, &y), &d) in x.iter().zip(&y).zip(&d) {
            let cdf = 0.5 * (1.0 + libm::erf(x as f64 * std::f64::consts::FRAC_1_SQRT_2));
            let want = x as f64 * cdf;
            assert!(
                (y as f64 - want).abs() < 3e-7 * (1.0 + x.abs() as f64),
                "{x}: {y} vs {want}"
            );
            let pdf = (-0.5 * x as f64 * x as f64).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let dwant = cdf + x as f64 * pdf;
            assert!(
                (d as f64 - dwant).abs() < 1e-6 * (1.0 + x.abs() as f64),
                "{x}: {d} vs {dwant}"
            );
        }
    }
}
