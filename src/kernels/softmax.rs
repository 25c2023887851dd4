//! Row-wise softmax and log-softmax, numerically stable (max subtracted).
//!
//! softmax(x)_i = exp(x_i - m) / Σ_j exp(x_j - m),  m = max_j x_j
//! log_softmax(x)_i = x_i - m - log Σ_j exp(x_j - m)

use rayon::prelude::*;

use super::PAR_THRESHOLD;

fn for_rows(x: &[f32], out: &mut [f32], row: usize, f: impl Fn(&[f32], &mut [f32]) + Sync) {
    assert_eq!(x.len(), out.len());
    if row == 0 {
        return;
    }
    if x.len() >= PAR_THRESHOLD {
        out.par_chunks_mut(row)
            .zip(x.par_chunks(row))
            .for_each(|(o, x)| f(x, o));
    } else {
        out.chunks_mut(row)
            .zip(x.chunks(row))
            .for_each(|(o, x)| f(x, o));
    }
}

/// Softmax of each contiguous row of length `row`.
pub fn softmax_rows(x: &[f32], out: &mut [f32], row: usize) {
    for_rows(x, out, row, |x, o| {
        let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut s = 0.0f32;
        for (o, &v) in o.iter_mut().zip(x) {
            *o = (v - m).exp();
            s += *o;
        }
        let inv = 1.0 / s;
        o.iter_mut().for_each(|v| *v *= inv);
    });
}

/// Log-softmax of each contiguous row of length `row`.
pub fn log_softmax_rows(x: &[f32], out: &mut [f32], row: usize) {
    for_rows(x, out, row, |x, o| {
        let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let s: f32 = x.iter().map(|&v| (v - m).exp()).sum();
        let lse = m + s.ln();
        for (o, &v) in o.iter_mut().zip(x) {
            *o = v - lse;
        }
    });
}
