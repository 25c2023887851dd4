//! Layer normalisation and RMS normalisation of rows of `n` values (the last
//! dimension), forward and backward, each one pass per row.
//!
//! LayerNorm: μ = Σx/n,  σ² = Σ(x − μ)²/n,  r = 1/√(σ² + ε),  x̂ = (x − μ)·r,
//!            y = x̂·w + b
//!   backward: g = dy·w;  dx = r·(g − mean(g) − x̂·mean(g·x̂));
//!             dw = Σ_rows dy·x̂;  db = Σ_rows dy
//! RMSNorm:   r = 1/√(Σx²/n + ε),  x̂ = x·r,  y = x̂·w
//!   backward: g = dy·w;  dx = r·(g − x̂·mean(g·x̂));  dw = Σ_rows dy·x̂
//!
//! The forward keeps μ and r of every row for the backward. A missing weight
//! is 1 and a missing bias 0. Rows are split into blocks that run on rayon's
//! threads; the weight and bias gradients are summed per block, then the
//! blocks' sums are added.

use rayon::prelude::*;

use super::simd::{self, simd_dispatch};
use super::PAR_THRESHOLD;

/// Values per block of rows handed to one thread.
const BLOCK_VALUES: usize = 1 << 14;

/// Which normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    /// Centre, then scale by the standard deviation (LayerNorm).
    Layer,
    /// Scale by the root mean square (RMSNorm).
    Rms,
}

/// Rows per block for rows of `n`, and whether to use threads.
fn blocks(rows: usize, n: usize) -> (usize, bool) {
    let per = (BLOCK_VALUES / n.max(1)).max(1);
    (per, rows * n >= PAR_THRESHOLD && rows > per)
}

/// Normalises the rows of `x` (each `n` long) into `y`; writes each row's
/// mean (LayerNorm only; RMSNorm leaves `mean` untouched) and 1/σ into
/// `mean` and `rstd` (one per row).
#[allow(clippy::too_many_arguments)]
pub fn norm_forward(
    kind: NormKind,
    x: &[f32],
    n: usize,
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    eps: f32,
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    if n == 0 {
        return;
    }
    let rows = x.len() / n;
    assert!(
        x.len() == rows * n && y.len() == x.len() && mean.len() >= rows && rstd.len() >= rows,
        "norm_forward: {} values, rows of {n}, {} outputs, {} means, {} scales",
        x.len(),
        y.len(),
        mean.len(),
        rstd.len()
    );
    assert!(weight.is_none_or(|w| w.len() == n) && bias.is_none_or(|b| b.len() == n));
    let (per, par) = blocks(rows, n);
    type Rows<'a> = (((&'a mut [f32], &'a [f32]), &'a mut [f32]), &'a mut [f32]);
    let run = |(((y, x), m), r): Rows| forward_block(kind, x, n, weight, bias, eps, y, m, r);
    let (mean, rstd) = (&mut mean[..rows], &mut rstd[..rows]);
    if par {
        y.par_chunks_mut(per * n)
            .zip(x.par_chunks(per * n))
            .zip(mean.par_chunks_mut(per))
            .zip(rstd.par_chunks_mut(per))
            .for_each(run);
    } else {
        run((((y, x), mean), rstd));
    }
}

simd_dispatch!(
    fn forward_block = forward_block_impl(
        kind: NormKind,
        x: &[f32],
        n: usize,
        weight: Option<&[f32]>,
        bias: Option<&[f32]>,
        eps: f32,
        y: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
    )
);

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_block_impl(
    kind: NormKind,
    x: &[f32],
    n: usize,
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    eps: f32,
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    let inv_n = 1.0 / n as f32;
    for (i, (yr, xr)) in y.chunks_exact_mut(n).zip(x.chunks_exact(n)).enumerate() {
        let mu = match kind {
            NormKind::Layer => simd::sum(xr) * inv_n,
            NormKind::Rms => 0.0,
        };
        // Σ(x − μ)² with the lanes of the sum kept apart.
        let mut acc = [0.0f32; simd::LANES];
        let mut c = xr.chunks_exact(simd::LANES);
        for v in &mut c {
            for l in 0..simd::LANES {
                let d = v[l] - mu;
                acc[l] = d.mul_add(d, acc[l]);
            }
        }
        let tail: f32 = c.remainder().iter().map(|&v| (v - mu) * (v - mu)).sum();
        let var = (simd::hsum(&acc) + tail) * inv_n;
        let r = 1.0 / (var + eps).sqrt();
        if kind == NormKind::Layer {
            mean[i] = mu;
        }
        rstd[i] = r;
        match (weight, bias) {
            (Some(w), Some(b)) => {
                for j in 0..n {
                    yr[j] = ((xr[j] - mu) * r).mul_add(w[j], b[j]);
                }
            }
            (Some(w), None) => {
                for j in 0..n {
                    yr[j] = (xr[j] - mu) * r * w[j];
                }
            }
            (None, Some(b)) => {
                for j in 0..n {
                    yr[j] = (xr[j] - mu) * r + b[j];
                }
            }
            (None, None) => {
                for j in 0..n {
                    yr[j] = (xr[j] - mu) * r;
                }
            }
        }
    }
}

/// The gradients of [`norm_forward`]: `dx` for every row, and (if asked)
/// the weight's and the bias's, added into `dw` and `db`.
#[allow(clippy::too_many_arguments)]
pub fn norm_backward(
    kind: NormKind,
    dy: &[f32],
    x: &[f32],
    n: usize,
    weight: Option<&[f32]>,
    mean: &[f32],
    rstd: &[f32],
    dx: &mut [f32],
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
) {
    if n == 0 {
        return;
    }
    let rows = x.len() / n;
    assert!(
        dy.len() == x.len() && dx.len() == x.len() && rstd.len() >= rows,
        "norm_backward: sizes differ"
    );
    assert!(kind == NormKind::Rms || mean.len() >= rows);
    let (per, par) = blocks(rows, n);
    let want_w = dw.is_some();
    let want_b = db.is_some();
    let mean = if kind == NormKind::Layer {
        &mean[..rows]
    } else {
        &[][..]
    };
    let chunk = |i: usize, dx: &mut [f32]| -> (Vec<f32>, Vec<f32>) {
        let r0 = i * per;
        let r1 = (r0 + per).min(rows);
        let mut gw = vec![0.0f32; if want_w { n } else { 0 }];
        let mut gb = vec![0.0f32; if want_b { n } else { 0 }];
        let m = if mean.is_empty() {
            &[][..]
        } else {
            &mean[r0..r1]
        };
        backward_block(
            kind,
            &dy[r0 * n..r1 * n],
            &x[r0 * n..r1 * n],
            n,
            weight,
            m,
            &rstd[r0..r1],
            dx,
            &mut gw,
            &mut gb,
        );
        (gw, gb)
    };
    let parts: Vec<(Vec<f32>, Vec<f32>)> = if par {
        dx.par_chunks_mut(per * n)
            .enumerate()
            .map(|(i, d)| chunk(i, d))
            .collect()
    } else {
        vec![chunk(0, dx)]
    };
    if let Some(dw) = dw {
        for (gw, _) in &parts {
            dw.iter_mut().zip(gw).for_each(|(a, b)| *a += b);
        }
    }
    if let Some(db) = db {
        for (_, gb) in &parts {
            db.iter_mut().zip(gb).for_each(|(a, b)| *a += b);
        }
    }
}

simd_dispatch!(
    fn backward_block = backward_block_impl(
        kind: NormKind,
        dy: &[f32],
        x: &[f32],
        n: usize,
        weight: Option<&[f32]>,
        mean: &[f32],
        rstd: &[f32],
        dx: &mut [f32],
        gw: &mut [f32],
        gb: &mut [f32],
    )
);

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_block_impl(
    kind: NormKind,
    dy: &[f32],
    x: &[f32],
    n: usize,
    weight: Option<&[f32]>,
    mean: &[f32],
    rstd: &[f32],
    dx: &mut [f32],
    gw: &mut [f32],
    gb: &mut [f32],
) {
    let inv_n = 1.0 / n as f32;
    let mut g = vec![0.0f32; n];
    let mut xh = vec![0.0f32; n];
    for (i, ((dxr, dyr), xr)) in dx
        .chunks_exact_mut(n)
        .zip(dy.chunks_exact(n))
        .zip(x.chunks_exact(n))
        .enumerate()
    {
        let mu = if kind == NormKind::Layer {
            mean[i]
        } else {
            0.0
        };
        let r = rstd[i];
        for j in 0..n {
            xh[j] = (xr[j] - mu) * r;
        }
        match weight {
            Some(w) => {
                for j in 0..n {
                    g[j] = dyr[j] * w[j];
                }
            }
            None => g.copy_from_slice(dyr),
        }
        let mean_gx = simd::dot(&g, &xh) * inv_n;
        let mean_g = if kind == NormKind::Layer {
            simd::sum(&g) * inv_n
        } else {
            0.0
        };
        for j in 0..n {
            dxr[j] = r * (g[j] - mean_g - xh[j] * mean_gx);
        }
        if !gw.is_empty() {
            for j in 0..n {
                gw[j] = dyr[j].mul_add(xh[j], gw[j]);
            }
        }
        if !gb.is_empty() {
            for j in 0..n {
                gb[j] += dyr[j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_rows_have_zero_mean_and_unit_variance() {
        let x: Vec<f32> = (0..3 * 40).map(|i| ((i * 7) % 11) as f32 - 4.0).collect();
        let mut y = vec![0.0; x.len()];
        let (mut m, mut r) = (vec![0.0; 3], vec![0.0; 3]);
        norm_forward(
            NormKind::Layer,
            &x,
            40,
            None,
            None,
            1e-5,
            &mut y,
            &mut m,
            &mut r,
        );
        for row in y.chunks(40) {
            let mean: f32 = row.iter().sum::<f32>() / 40.0;
            let var: f32 = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 40.0;
            assert!(
                mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
                "{mean} {var}"
            );
        }
        // RMSNorm of [3, 4]: rms = √12.5.
        let mut y = vec![0.0; 2];
        norm_forward(
            NormKind::Rms,
            &[3.0, 4.0],
            2,
            Some(&[1.0, 2.0]),
            None,
            0.0,
            &mut y,
            &mut [0.0],
            &mut [0.0],
        );
        let s = 12.5f32.sqrt();
        assert!((y[0] - 3.0 / s).abs() < 1e-6 && (y[1] - 8.0 / s).abs() < 1e-6);
    }

    #[test]
    fn threaded_blocks_give_the_single_block_result() {
        // 600 rows of 128: 76,800 values, above the threshold for threads.
        let (rows, n) = (600, 128);
        let x: Vec<f32> = (0..rows * n)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let dy: Vec<f32> = (0..rows * n)
            .map(|i| ((i * 13) % 29) as f32 / 14.0 - 1.0)
            .collect();
        let w: Vec<f32> = (0..n).map(|i| 0.5 + i as f32 / n as f32).collect();
        let run = |par_rows: usize| {
            let mut y = vec![0.0; rows * n];
            let (mut m, mut r) = (vec![0.0; rows], vec![0.0; rows]);
            let (mut dx, mut dw, mut db) = (vec![0.0; rows * n], vec![0.0; n], vec![0.0; n]);
            for c in 0..rows / par_rows {
                let s = c * par_rows;
                norm_forward(
                    NormKind::Layer,
                    &x[s * n..(s + par_rows) * n],
                    n,
                    Some(&w),
                    Some(&w),
                    1e-5,
                    &mut y[s * n..(s + par_rows) * n],
                    &mut m[s..s + par_rows],
                    &mut r[s..s + par_rows],
                );
            }
            norm_backward(
                NormKind::Layer,
                &dy,
                &x,
                n,
                Some(&w),
                &m,
                &r,
                &mut dx,
                Some(&mut dw),
                Some(&mut db),
            );
            (y, dx, dw, db)
        };
        let (a, b) = (run(rows), run(1));
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
        for (x, y) in a.2.iter().zip(&b.2).chain(a.3.iter().zip(&b.3)) {
            assert!((x - y).abs() < 1e-3 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }
}
