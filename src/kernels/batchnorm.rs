//! Batch normalisation kernels over NCHW data (and `[N, C]` data as `hw = 1`).
//!
//! Statistics are per channel `c`, over the `N = n·hw` values of that channel:
//!
//! ```text
//! mean_c   = Σ x / N
//! var_c    = Σ (x − mean_c)² / N                  (biased: used to normalise)
//! invstd_c = 1 / √(var_c + eps)
//! x̂        = (x − mean_c) · invstd_c
//! y        = γ_c · x̂ + β_c
//! ```
//!
//! Backward (training mode, the statistics depend on x):
//!
//! ```text
//! dβ_c = Σ dy          dγ_c = Σ dy · x̂
//! dx   = (γ_c · invstd_c / N) · (N·dy − Σ dy − x̂ · Σ dy·x̂)
//! ```
//!
//! In evaluation mode the running statistics are constants, so `dx = γ·dy / √(running_var + eps)`.
//! Running statistics follow PyTorch (momentum 0.1 by default, unbiased variance):
//! `running = (1 − momentum)·running + momentum·batch`, with `batch_var · N/(N − 1)`.
//!
//! Across replicas (data-parallel, PyTorch's SyncBatchNorm): the `_synced`
//! forms add up the per-channel sums (and N) of every replica through a
//! `sum` callback before they are used, so every replica normalises with
//! the statistics of the global batch; the backward adds up Σ dy and
//! Σ dy·x̂ for dx, while dγ and dβ stay this replica's own (the gradient
//! sum adds them).
//!
//! Sums use 16 f32 lanes per block and an f64 total per channel; channels (or
//! blocks) run in parallel on rayon when the tensor is large.

use rayon::prelude::*;

use super::PAR_THRESHOLD;

fn check_len(op: &str, what: &str, got: usize, want: usize) {
    assert!(
        got == want,
        "{op} kernel: {what} has {got} values, expected {want}"
    );
}

/// Whether a pass over `len` values should use the rayon threads.
fn parallel(len: usize) -> bool {
    len >= PAR_THRESHOLD && rayon::current_num_threads() > 1
}

/// `(Σ a, Σ a·b)` over a block, in 16 independent lanes so it vectorises.
#[inline]
fn block_sums(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    let mut s1 = [0.0f32; 16];
    let mut s2 = [0.0f32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (xa, xb) in (&mut ca).zip(&mut cb) {
        for i in 0..16 {
            let (u, v) = f(xa[i], xb[i]);
            s1[i] += u;
            s2[i] += v;
        }
    }
    let (mut t1, mut t2) = (0.0f64, 0.0f64);
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        let (u, v) = f(x, y);
        t1 += u as f64;
        t2 += v as f64;
    }
    (
        t1 + s1.iter().map(|&v| v as f64).sum::<f64>(),
        t2 + s2.iter().map(|&v| v as f64).sum::<f64>(),
    )
}

/// For every channel, `(Σ u, Σ v)` over its `n·hw` values where
/// `(u, v) = per_channel(ch)(a, b)`, reading `a` and `b` (both `[n, c, hw]`) block by block.
/// Parallel over groups of channels; each group reads its contiguous
/// `[group, hw]` slab of every sample.
fn channel_sums<F: Fn(f32, f32) -> (f32, f32)>(
    n: usize,
    c: usize,
    hw: usize,
    a: &[f32],
    b: &[f32],
    per_channel: impl Fn(usize) -> F + Sync,
) -> Vec<(f64, f64)> {
    let mut sums = vec![(0.0f64, 0.0f64); c];
    let run = |c0: usize, out: &mut [(f64, f64)]| {
        for s in 0..n {
            for (i, acc) in out.iter_mut().enumerate() {
                let ch = c0 + i;
                let start = (s * c + ch) * hw;
                let f = per_channel(ch);
                let (u, v) = block_sums(&a[start..start + hw], &b[start..start + hw], f);
                acc.0 += u;
                acc.1 += v;
            }
        }
    };
    if parallel(a.len()) && c > 1 {
        let groups = (4 * rayon::current_num_threads()).min(c);
        let per = c.div_ceil(groups);
        sums.par_chunks_mut(per)
            .enumerate()
            .for_each(|(gi, out)| run(gi * per, out));
    } else {
        run(0, &mut sums);
    }
    sums
}

/// Runs `f(ch, x_block, out_block)` over every `(sample, channel)` block of
/// `hw` values, in parallel when large (tasks of at least a few thousand values).
fn for_each_block(
    c: usize,
    hw: usize,
    x: &[f32],
    out: &mut [f32],
    f: impl Fn(usize, &[f32], &mut [f32]) + Sync,
) {
    if hw == 0 || c == 0 {
        return;
    }
    if parallel(x.len()) {
        let min_blocks = (4096 / hw).max(1);
        out.par_chunks_mut(hw)
            .zip(x.par_chunks(hw))
            .enumerate()
            .with_min_len(min_blocks)
            .for_each(|(i, (o, x))| f(i % c, x, o));
    } else {
        for (i, (o, x)) in out.chunks_mut(hw).zip(x.chunks(hw)).enumerate() {
            f(i % c, x, o);
        }
    }
}

/// Training-mode forward: normalises with the batch statistics.
/// Writes `out[n, c, hw]`, the per-channel `mean_out[c]` and `invstd_out[c] = 1/√(var + eps)`
/// (biased variance) that the backward pass and [`batch_norm_update_running_stats`] need.
///
/// Panics on wrong slice lengths or an empty batch (`n·hw = 0`).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_train(
    n: usize,
    c: usize,
    hw: usize,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    out: &mut [f32],
    mean_out: &mut [f32],
    invstd_out: &mut [f32],
) {
    batch_norm_forward_train_synced(
        n,
        c,
        hw,
        x,
        gamma,
        beta,
        eps,
        out,
        mean_out,
        invstd_out,
        &|_| {},
    );
}

/// [`batch_norm_forward_train`] with statistics over every replica: `sum`
/// adds up a vector across them in place (the identity for one process).
/// Returns the number of values per channel over all replicas.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_train_synced(
    n: usize,
    c: usize,
    hw: usize,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    out: &mut [f32],
    mean_out: &mut [f32],
    invstd_out: &mut [f32],
    sum: &dyn Fn(&mut [f64]),
) -> usize {
    let op = "batch_norm";
    check_len(op, "input", x.len(), n * c * hw);
    check_len(op, "output", out.len(), n * c * hw);
    for (what, s) in [("gamma", gamma), ("beta", beta)] {
        check_len(op, what, s.len(), c);
    }
    check_len(op, "mean", mean_out.len(), c);
    check_len(op, "invstd", invstd_out.len(), c);
    let count = n * hw;
    assert!(
        count > 0,
        "{op} kernel: no values per channel (batch {n}, spatial size {hw})"
    );
    // Two passes (mean, then squared deviations) for accuracy.
    let mut sums: Vec<f64> = channel_sums(n, c, hw, x, x, |_| |v, _| (v, 0.0))
        .into_iter()
        .map(|s| s.0)
        .chain([count as f64])
        .collect();
    sum(&mut sums);
    let total = sums[c];
    let inv_count = 1.0 / total;
    for (m, s) in mean_out.iter_mut().zip(&sums) {
        *m = (s * inv_count) as f32;
    }
    let mean: &[f32] = mean_out;
    let mut sq: Vec<f64> = channel_sums(n, c, hw, x, x, |ch| {
        let m = mean[ch];
        move |v, _| ((v - m) * (v - m), 0.0)
    })
    .into_iter()
    .map(|s| s.0)
    .collect();
    sum(&mut sq);
    for (is, s) in invstd_out.iter_mut().zip(&sq) {
        let var = s * inv_count;
        *is = (1.0 / (var + eps as f64).sqrt()) as f32;
    }
    let scale: Vec<f32> = gamma
        .iter()
        .zip(invstd_out.iter())
        .map(|(g, i)| g * i)
        .collect();
    let shift: Vec<f32> = (0..c).map(|ch| beta[ch] - mean[ch] * scale[ch]).collect();
    for_each_block(c, hw, x, out, |ch, x, o| {
        let (a, b) = (scale[ch], shift[ch]);
        for (o, &x) in o.iter_mut().zip(x) {
            *o = x * a + b;
        }
    });
    total.round() as usize
}

/// Evaluation-mode forward: `out = γ·(x − running_mean)/√(running_var + eps) + β`.
///
/// Panics on wrong slice lengths.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_eval(
    n: usize,
    c: usize,
    hw: usize,
    x: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    out: &mut [f32],
) {
    let op = "batch_norm (eval)";
    check_len(op, "input", x.len(), n * c * hw);
    check_len(op, "output", out.len(), n * c * hw);
    for (what, s) in [
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("gamma", gamma),
        ("beta", beta),
    ] {
        check_len(op, what, s.len(), c);
    }
    let scale: Vec<f32> = (0..c)
        .map(|ch| gamma[ch] / (running_var[ch] + eps).sqrt())
        .collect();
    let shift: Vec<f32> = (0..c)
        .map(|ch| beta[ch] - running_mean[ch] * scale[ch])
        .collect();
    for_each_block(c, hw, x, out, |ch, x, o| {
        let (a, b) = (scale[ch], shift[ch]);
        for (o, &x) in o.iter_mut().zip(x) {
            *o = x * a + b;
        }
    });
}

/// Adds up a vector across replicas in place.
type SumFn<'a> = &'a dyn Fn(&mut [f64]);

/// Shared backward: the sums, `dγ`, `dβ`, and `dx` in training (`train`) or
/// evaluation form.
#[allow(clippy::too_many_arguments)]
fn backward(
    op: &str,
    train: bool,
    sync: Option<(SumFn<'_>, usize)>,
    n: usize,
    c: usize,
    hw: usize,
    x: &[f32],
    mean: &[f32],
    invstd: &[f32],
    gamma: &[f32],
    grad_out: &[f32],
    grad_x: Option<&mut [f32]>,
    grad_gamma: Option<&mut [f32]>,
    grad_beta: Option<&mut [f32]>,
) {
    check_len(op, "input", x.len(), n * c * hw);
    check_len(op, "grad_out", grad_out.len(), n * c * hw);
    check_len(op, "mean", mean.len(), c);
    check_len(op, "invstd", invstd.len(), c);
    check_len(op, "gamma", gamma.len(), c);
    // Σ dy and Σ dy·x̂ are needed for dγ, dβ, and for dx in training mode.
    let need_sums = grad_gamma.is_some() || grad_beta.is_some() || (train && grad_x.is_some());
    let sums = if need_sums {
        channel_sums(n, c, hw, grad_out, x, |ch| {
            let (m, is) = (mean[ch], invstd[ch]);
            move |dy, x| (dy, dy * ((x - m) * is))
        })
    } else {
        vec![]
    };
    if let Some(gb) = grad_beta {
        check_len(op, "grad_beta", gb.len(), c);
        for (g, s) in gb.iter_mut().zip(&sums) {
            *g = s.0 as f32;
        }
    }
    if let Some(gg) = grad_gamma {
        check_len(op, "grad_gamma", gg.len(), c);
        for (g, s) in gg.iter_mut().zip(&sums) {
            *g = s.1 as f32;
        }
    }
    let Some(dx) = grad_x else { return };
    check_len(op, "grad_input", dx.len(), n * c * hw);
    let mut count = (n * hw) as f64;
    let mut sums = sums;
    if let (true, Some((sum, total))) = (train, sync) {
        // dx needs the sums over the global batch.
        let mut v: Vec<f64> = sums.iter().flat_map(|s| [s.0, s.1]).collect();
        sum(&mut v);
        for (s, p) in sums.iter_mut().zip(v.chunks(2)) {
            *s = (p[0], p[1]);
        }
        count = total as f64;
    }
    if !train {
        let scale: Vec<f32> = (0..c).map(|ch| gamma[ch] * invstd[ch]).collect();
        for_each_block(c, hw, grad_out, dx, |ch, dy, dx| {
            let a = scale[ch];
            for (d, &g) in dx.iter_mut().zip(dy) {
                *d = g * a;
            }
        });
        return;
    }
    // dx = k·dy + m·x + b per channel, with
    //   k = γ·invstd,  x̂ = (x − mean)·invstd,
    //   dx = k·(dy − Σdy/N − x̂·Σdy·x̂/N)
    //      = k·dy − k·invstd·(Σdy·x̂/N)·x + k·(invstd·mean·Σdy·x̂/N − Σdy/N).
    let mut coef = vec![(0.0f32, 0.0f32, 0.0f32); c];
    for ch in 0..c {
        let k = (gamma[ch] * invstd[ch]) as f64;
        let is = invstd[ch] as f64;
        let mean_dy = sums[ch].0 / count;
        let mean_dyxh = sums[ch].1 / count;
        let m = -k * is * mean_dyxh;
        let b = k * (is * mean[ch] as f64 * mean_dyxh - mean_dy);
        coef[ch] = (k as f32, m as f32, b as f32);
    }
    // Two inputs per block: zip grad_out and x through the block helper by
    // running it on grad_out and indexing x by block position.
    let block = |i: usize| &x[i * hw..(i + 1) * hw];
    let body = |i: usize, dy: &[f32], dx: &mut [f32]| {
        let (k, m, b) = coef[i % c];
        for ((d, &g), &xv) in dx.iter_mut().zip(dy).zip(block(i)) {
            *d = k * g + m * xv + b;
        }
    };
    if hw == 0 || c == 0 {
        return;
    }
    if parallel(x.len()) {
        let min_blocks = (4096 / hw).max(1);
        dx.par_chunks_mut(hw)
            .zip(grad_out.par_chunks(hw))
            .enumerate()
            .with_min_len(min_blocks)
            .for_each(|(i, (d, g))| body(i, g, d));
    } else {
        for (i, (d, g)) in dx.chunks_mut(hw).zip(grad_out.chunks(hw)).enumerate() {
            body(i, g, d);
        }
    }
}

/// Training-mode backward from the saved input and batch statistics
/// (`mean`, `invstd` as written by [`batch_norm_forward_train`]). Each
/// requested gradient is overwritten:
/// `grad_x[n, c, hw]`, `grad_gamma[c] = Σ dy·x̂`, `grad_beta[c] = Σ dy`.
///
/// Panics on wrong slice lengths.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    n: usize,
    c: usize,
    hw: usize,
    x: &[f32],
    mean: &[f32],
    invstd: &[f32],
    gamma: &[f32],
    grad_out: &[f32],
    grad_x: Option<&mut [f32]>,
    grad_gamma: Option<&mut [f32]>,
    grad_beta: Option<&mut [f32]>,
) {
    backward(
        "batch_norm backward",
        true,
        None,
        n,
        c,
        hw,
        x,
        mean,
        invstd,
        gamma,
        grad_out,
        grad_x,
        grad_gamma,
        grad_beta,
    );
}

/// [`batch_norm_backward`] of [`batch_norm_forward_train_synced`]: dx from
/// the sums over every replica (`sum`, `total` values per channel), dγ and
/// dβ this replica's own.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward_synced(
    n: usize,
    c: usize,
    hw: usize,
    x: &[f32],
    mean: &[f32],
    invstd: &[f32],
    gamma: &[f32],
    grad_out: &[f32],
    grad_x: Option<&mut [f32]>,
    grad_gamma: Option<&mut [f32]>,
    grad_beta: Option<&mut [f32]>,
    sum: &dyn Fn(&mut [f64]),
    total: usize,
) {
    backward(
        "batch_norm backward",
        true,
        Some((sum, total)),
        n,
        c,
        hw,
        x,
        mean,
        invstd,
        gamma,
        grad_out,
        grad_x,
        grad_gamma,
        grad_beta,
    );
}

/// Evaluation-mode backward (running statistics are constants):
/// `grad_x = γ·dy/√(running_var + eps)`, `grad_gamma = Σ dy·x̂`, `grad_beta = Σ dy`
/// with `x̂` normalised by the running statistics. Each requested gradient is overwritten.
///
/// Panics on wrong slice lengths.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward_eval(
    n: usize,
    c: usize,
    hw: usize,
    x: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    gamma: &[f32],
    eps: f32,
    grad_out: &[f32],
    grad_x: Option<&mut [f32]>,
    grad_gamma: Option<&mut [f32]>,
    grad_beta: Option<&mut [f32]>,
) {
    let op = "batch_norm (eval) backward";
    check_len(op, "running_var", running_var.len(), c);
    let invstd: Vec<f32> = running_var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    backward(
        op,
        false,
        None,
        n,
        c,
        hw,
        x,
        running_mean,
        &invstd,
        gamma,
        grad_out,
        grad_x,
        grad_gamma,
        grad_beta,
    );
}

/// PyTorch's running-statistics update after a training batch of `count = n·hw`
/// values per channel:
///
/// ```text
/// running_mean = (1 − momentum)·running_mean + momentum·mean
/// running_var  = (1 − momentum)·running_var  + momentum·var·count/(count − 1)
/// ```
///
/// `var` is recovered from the `invstd` the forward pass wrote (`1/invstd² − eps`).
/// With `count = 1` the unbiased variance is undefined; the biased one (0) is used.
/// PyTorch's default momentum is 0.1.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_update_running_stats(
    running_mean: &mut [f32],
    running_var: &mut [f32],
    mean: &[f32],
    invstd: &[f32],
    eps: f32,
    count: usize,
    momentum: f32,
) {
    let c = running_mean.len();
    let op = "batch_norm running stats";
    check_len(op, "running_var", running_var.len(), c);
    check_len(op, "mean", mean.len(), c);
    check_len(op, "invstd", invstd.len(), c);
    let bessel = if count > 1 {
        count as f64 / (count - 1) as f64
    } else {
        1.0
    };
    let m = momentum as f64;
    for ch in 0..c {
        let is = invstd[ch] as f64;
        let var = (1.0 / (is * is) - eps as f64).max(0.0);
        running_mean[ch] = ((1.0 - m) * running_mean[ch] as f64 + m * mean[ch] as f64) as f32;
        running_var[ch] = ((1.0 - m) * running_var[ch] as f64 + m * var * bessel) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values::values;

    /// Naive f64 forward: (y, mean, biased var).
    fn naive(
        n: usize,
        c: usize,
        hw: usize,
        x: &[f32],
        g: &[f32],
        b: &[f32],
        eps: f64,
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let cnt = (n * hw) as f64;
        let mut mean = vec![0.0; c];
        let mut var = vec![0.0; c];
        for ch in 0..c {
            for s in 0..n {
                for i in 0..hw {
                    mean[ch] += x[(s * c + ch) * hw + i] as f64 / cnt;
                }
            }
            for s in 0..n {
                for i in 0..hw {
                    let d = x[(s * c + ch) * hw + i] as f64 - mean[ch];
                    var[ch] += d * d / cnt;
                }
            }
        }
        let mut y = vec![0.0; x.len()];
        for s in 0..n {
            for ch in 0..c {
                for i in 0..hw {
                    let j = (s * c + ch) * hw + i;
                    y[j] = (x[j] as f64 - mean[ch]) / (var[ch] + eps).sqrt() * g[ch] as f64
                        + b[ch] as f64;
                }
            }
        }
        (y, mean, var)
    }

    fn close(a: f32, b: f64, tol: f64) -> bool {
        (a as f64 - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn hand_worked_example() {
        // One channel, values 1, 2, 3, 4: mean 2.5, biased var 1.25.
        let x = [1.0, 2.0, 3.0, 4.0];
        let (mut y, mut mean, mut invstd) = ([0.0; 4], [0.0], [0.0]);
        batch_norm_forward_train(
            4,
            1,
            1,
            &x,
            &[2.0],
            &[0.5],
            0.0,
            &mut y,
            &mut mean,
            &mut invstd,
        );
        assert_eq!(mean[0], 2.5);
        assert!((invstd[0] - 1.0 / 1.25f32.sqrt()).abs() < 1e-6);
        let s = 1.25f32.sqrt();
        for (i, v) in y.iter().enumerate() {
            let want = 2.0 * (x[i] - 2.5) / s + 0.5;
            assert!((v - want).abs() < 1e-5, "{v} vs {want}");
        }
        // Running stats: unbiased var = 1.25 · 4/3 = 5/3.
        let (mut rm, mut rv) = ([0.0], [1.0]);
        batch_norm_update_running_stats(&mut rm, &mut rv, &mean, &invstd, 0.0, 4, 0.1);
        assert!((rm[0] - 0.25).abs() < 1e-6);
        assert!((rv[0] - (0.9 + 0.1 * 5.0 / 3.0)).abs() < 1e-5, "{}", rv[0]);
        // Gradient of Σ y with respect to x is 0 (y sums to a constant);
        // dβ = 4, dγ = Σ x̂ = 0.
        let (mut dx, mut dg, mut db) = ([1.0; 4], [1.0], [1.0]);
        batch_norm_backward(
            4,
            1,
            1,
            &x,
            &mean,
            &invstd,
            &[2.0],
            &[1.0; 4],
            Some(&mut dx),
            Some(&mut dg),
            Some(&mut db),
        );
        assert!(dx.iter().all(|v| v.abs() < 1e-5), "{dx:?}");
        assert!(dg[0].abs() < 1e-5);
        assert_eq!(db[0], 4.0);
    }

    #[test]
    fn forward_train_and_eval_match_naive() {
        for &(n, c, hw) in &[(3, 4, 5), (8, 3, 1), (2, 2, 37), (16, 8, 300), (64, 70, 1)] {
            let x: Vec<f32> = values(n * c * hw, 1)
                .iter()
                .map(|v| v * 3.0 + 1.5)
                .collect();
            let g = values(c, 2);
            let b = values(c, 3);
            let eps = 1e-5;
            let (want, wmean, wvar) = naive(n, c, hw, &x, &g, &b, eps);
            let mut y = vec![0.0; x.len()];
            let mut mean = vec![0.0; c];
            let mut invstd = vec![0.0; c];
            batch_norm_forward_train(
                n,
                c,
                hw,
                &x,
                &g,
                &b,
                eps as f32,
                &mut y,
                &mut mean,
                &mut invstd,
            );
            for i in 0..c {
                assert!(
                    close(mean[i], wmean[i], 1e-5),
                    "mean {} vs {}",
                    mean[i],
                    wmean[i]
                );
                assert!(close(invstd[i], 1.0 / (wvar[i] + eps).sqrt(), 1e-4));
            }
            for (a, b) in y.iter().zip(&want) {
                assert!(close(*a, *b, 1e-4), "y {a} vs {b}");
            }
            // Eval with the batch's own statistics as running stats gives the same y.
            let var: Vec<f32> = wvar.iter().map(|&v| v as f32).collect();
            let mut ye = vec![0.0; x.len()];
            batch_norm_forward_eval(n, c, hw, &x, &mean, &var, &g, &b, eps as f32, &mut ye);
            for (a, b) in ye.iter().zip(&want) {
                assert!(close(*a, *b, 1e-4), "eval y {a} vs {b}");
            }
        }
    }

    /// L = Σ y·r through the naive f64 forward.
    #[allow(clippy::too_many_arguments)]
    fn loss(n: usize, c: usize, hw: usize, x: &[f32], g: &[f32], b: &[f32], r: &[f32]) -> f64 {
        let (y, _, _) = naive(n, c, hw, x, g, b, 1e-5);
        y.iter().zip(r).map(|(y, r)| y * *r as f64).sum()
    }

    #[test]
    fn backward_matches_finite_differences() {
        for &(n, c, hw) in &[(3, 2, 4), (5, 3, 1), (2, 2, 9)] {
            let x: Vec<f32> = values(n * c * hw, 11).iter().map(|v| v * 2.0).collect();
            let g: Vec<f32> = values(c, 12).iter().map(|v| v + 1.5).collect();
            let b = values(c, 13);
            let r = values(x.len(), 14);
            let mut y = vec![0.0; x.len()];
            let mut mean = vec![0.0; c];
            let mut invstd = vec![0.0; c];
            batch_norm_forward_train(n, c, hw, &x, &g, &b, 1e-5, &mut y, &mut mean, &mut invstd);
            let mut dx = vec![0.0; x.len()];
            let mut dg = vec![0.0; c];
            let mut db = vec![0.0; c];
            batch_norm_backward(
                n,
                c,
                hw,
                &x,
                &mean,
                &invstd,
                &g,
                &r,
                Some(&mut dx),
                Some(&mut dg),
                Some(&mut db),
            );
            let h = 1e-3f32;
            let fd = |v: &[f32], i: usize, f: &dyn Fn(&[f32]) -> f64| -> f64 {
                let mut p = v.to_vec();
                p[i] += h;
                let lp = f(&p);
                p[i] -= 2.0 * h;
                (lp - f(&p)) / (2.0 * h as f64)
            };
            for (i, &got) in dx.iter().enumerate() {
                let want = fd(&x, i, &|v| loss(n, c, hw, v, &g, &b, &r));
                assert!(
                    close(got, want, 1e-3),
                    "({n},{c},{hw}) dx[{i}] {got} vs {want}"
                );
            }
            for i in 0..c {
                let want = fd(&g, i, &|v| loss(n, c, hw, &x, v, &b, &r));
                assert!(close(dg[i], want, 1e-3), "dgamma[{i}] {} vs {want}", dg[i]);
                let want = fd(&b, i, &|v| loss(n, c, hw, &x, &g, v, &r));
                assert!(close(db[i], want, 1e-3), "dbeta[{i}] {} vs {want}", db[i]);
            }
        }
    }

    #[test]
    fn large_backward_matches_closed_form() {
        // Large enough for the parallel paths; check against the formula in f64.
        let (n, c, hw) = (16, 8, 300);
        let x = values(n * c * hw, 21);
        let g = values(c, 22);
        let b = values(c, 23);
        let dy = values(x.len(), 24);
        let mut y = vec![0.0; x.len()];
        let mut mean = vec![0.0; c];
        let mut invstd = vec![0.0; c];
        batch_norm_forward_train(n, c, hw, &x, &g, &b, 1e-5, &mut y, &mut mean, &mut invstd);
        let mut dx = vec![0.0; x.len()];
        batch_norm_backward(
            n,
            c,
            hw,
            &x,
            &mean,
            &invstd,
            &g,
            &dy,
            Some(&mut dx),
            None,
            None,
        );
        let cnt = (n * hw) as f64;
        for ch in 0..c {
            let idx = |s: usize, i: usize| (s * c + ch) * hw + i;
            let xh = |j: usize| (x[j] as f64 - mean[ch] as f64) * invstd[ch] as f64;
            let (mut s1, mut s2) = (0.0, 0.0);
            for s in 0..n {
                for i in 0..hw {
                    s1 += dy[idx(s, i)] as f64;
                    s2 += dy[idx(s, i)] as f64 * xh(idx(s, i));
                }
            }
            for s in 0..n {
                for i in 0..hw {
                    let j = idx(s, i);
                    let want = g[ch] as f64 * invstd[ch] as f64 / cnt
                        * (cnt * dy[j] as f64 - s1 - xh(j) * s2);
                    assert!((dx[j] as f64 - want).abs() <= 1e-3 * want.abs().max(1e-2));
                }
            }
        }
    }

    #[test]
    fn eval_backward_matches_finite_differences() {
        let (n, c, hw) = (2, 3, 4);
        let x = values(n * c * hw, 31);
        let g = values(c, 32);
        let b = values(c, 33);
        let rm = values(c, 34);
        let rv: Vec<f32> = values(c, 35).iter().map(|v| v.abs() + 0.5).collect();
        let r = values(x.len(), 36);
        let l = |x: &[f32], g: &[f32], b: &[f32]| -> f64 {
            let mut y = vec![0.0; x.len()];
            batch_norm_forward_eval(n, c, hw, x, &rm, &rv, g, b, 1e-5, &mut y);
            y.iter()
                .zip(&r)
                .map(|(y, r)| (*y as f64) * (*r as f64))
                .sum()
        };
        let mut dx = vec![0.0; x.len()];
        let mut dg = vec![0.0; c];
        let mut db = vec![0.0; c];
        batch_norm_backward_eval(
            n,
            c,
            hw,
            &x,
            &rm,
            &rv,
            &g,
            1e-5,
            &r,
            Some(&mut dx),
            Some(&mut dg),
            Some(&mut db),
        );
        let h = 1e-2f32;
        let fd = |v: &[f32], i: usize, f: &dyn Fn(&[f32]) -> f64| -> f64 {
            let mut p = v.to_vec();
            p[i] += h;
            let lp = f(&p);
            p[i] -= 2.0 * h;
            (lp - f(&p)) / (2.0 * h as f64)
        };
        for (i, &got) in dx.iter().enumerate() {
            assert!(close(got, fd(&x, i, &|v| l(v, &g, &b)), 1e-3));
        }
        for i in 0..c {
            assert!(close(dg[i], fd(&g, i, &|v| l(&x, v, &b)), 1e-3));
            assert!(close(db[i], fd(&b, i, &|v| l(&x, &g, v)), 1e-3));
        }
    }
}
