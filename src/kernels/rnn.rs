//! The point-wise part of one time step of a recurrent cell, fused: every
//! gate of every row in one pass, forward and backward. The matrix products
//! around it (x·W_ihᵀ for all steps at once, h·W_hhᵀ per step) are `matmul`.
//!
//! Rows are `[batch, gates·hidden]`, the gates in PyTorch's order.
//!
//! LSTM (i, f, g, o):  i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)
//!                     c' = f·c + i·g          h' = o·tanh(c')
//! GRU (r, z, n):      r = σ(x_r + h_r)  z = σ(x_z + h_z)
//!                     n = tanh(x_n + r·h_n)   h' = (1 − z)·n + z·h
//!                     (x_* = x·W_iᵀ + b_i, h_* = h·W_hᵀ + b_h)
//! RNN:                h' = tanh(a) or relu(a)

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// LSTM forward for one step: `a` holds the pre-activations `[batch, 4H]`
/// and is overwritten with the gate activations (i, f, g, o), which the
/// backward pass needs; writes `c` and `h` `[batch, H]`.
pub fn lstm_forward(a: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
    let hs = hidden;
    for (((row, cp), cn), hn) in a
        .chunks_exact_mut(4 * hs)
        .zip(c_prev.chunks_exact(hs))
        .zip(c.chunks_exact_mut(hs))
        .zip(h.chunks_exact_mut(hs))
    {
        let (i, rest) = row.split_at_mut(hs);
        let (f, rest) = rest.split_at_mut(hs);
        let (g, o) = rest.split_at_mut(hs);
        for j in 0..hs {
            let (ij, fj, gj, oj) = (sigmoid(i[j]), sigmoid(f[j]), g[j].tanh(), sigmoid(o[j]));
            i[j] = ij;
            f[j] = fj;
            g[j] = gj;
            o[j] = oj;
            let cj = fj * cp[j] + ij * gj;
            cn[j] = cj;
            hn[j] = oj * cj.tanh();
        }
    }
}

/// LSTM backward for one step. `act` are the step's gate activations, `dh`
/// the gradient of the loss w.r.t. h' (from the output and the next step),
/// `dc` on entry the gradient w.r.t. c' from the next step and on return the
/// gradient w.r.t. c. Writes the gradient of the pre-activations `da`.
pub fn lstm_backward(
    act: &[f32],
    c_prev: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    da: &mut [f32],
    hidden: usize,
) {
    let hs = hidden;
    for (((((row, cp), cn), dhr), dcr), dar) in act
        .chunks_exact(4 * hs)
        .zip(c_prev.chunks_exact(hs))
        .zip(c.chunks_exact(hs))
        .zip(dh.chunks_exact(hs))
        .zip(dc.chunks_exact_mut(hs))
        .zip(da.chunks_exact_mut(4 * hs))
    {
        let (i, f, g, o) = (
            &row[..hs],
            &row[hs..2 * hs],
            &row[2 * hs..3 * hs],
            &row[3 * hs..],
        );
        let (di, rest) = dar.split_at_mut(hs);
        let (df, rest) = rest.split_at_mut(hs);
        let (dg, do_) = rest.split_at_mut(hs);
        for j in 0..hs {
            let tc = cn[j].tanh();
            let d_o = dhr[j] * tc;
            let dcj = dcr[j] + dhr[j] * o[j] * (1.0 - tc * tc);
            di[j] = dcj * g[j] * i[j] * (1.0 - i[j]);
            df[j] = dcj * cp[j] * f[j] * (1.0 - f[j]);
            dg[j] = dcj * i[j] * (1.0 - g[j] * g[j]);
            do_[j] = d_o * o[j] * (1.0 - o[j]);
            dcr[j] = dcj * f[j];
        }
    }
}

/// GRU forward for one step: `xa` = x·W_iᵀ + b_i and `ha` = h·W_hᵀ + b_h,
/// both `[batch, 3H]`; writes the gate activations (r, z, n) to `act` and h'.
pub fn gru_forward(
    xa: &[f32],
    ha: &[f32],
    h_prev: &[f32],
    act: &mut [f32],
    h: &mut [f32],
    hidden: usize,
) {
    let hs = hidden;
    for ((((x, hh), hp), a), hn) in xa
        .chunks_exact(3 * hs)
        .zip(ha.chunks_exact(3 * hs))
        .zip(h_prev.chunks_exact(hs))
        .zip(act.chunks_exact_mut(3 * hs))
        .zip(h.chunks_exact_mut(hs))
    {
        for j in 0..hs {
            let r = sigmoid(x[j] + hh[j]);
            let z = sigmoid(x[hs + j] + hh[hs + j]);
            let n = (x[2 * hs + j] + r * hh[2 * hs + j]).tanh();
            a[j] = r;
            a[hs + j] = z;
            a[2 * hs + j] = n;
            hn[j] = (1.0 - z) * n + z * hp[j];
        }
    }
}

/// GRU backward for one step: from the activations, h·W_hᵀ + b_h (`ha`),
/// h and dL/dh'. Writes dL/d(x-part) `dxa`, dL/d(h-part) `dha` (both
/// `[batch, 3H]`) and the direct part of dL/dh, `dh_prev` (z·dh'; the part
/// through W_h is added by the caller).
#[allow(clippy::too_many_arguments)]
pub fn gru_backward(
    act: &[f32],
    ha: &[f32],
    h_prev: &[f32],
    dh: &[f32],
    dxa: &mut [f32],
    dha: &mut [f32],
    dh_prev: &mut [f32],
    hidden: usize,
) {
    let hs = hidden;
    for ((((((a, hh), hp), d), dx), dhh), dp) in act
        .chunks_exact(3 * hs)
        .zip(ha.chunks_exact(3 * hs))
        .zip(h_prev.chunks_exact(hs))
        .zip(dh.chunks_exact(hs))
        .zip(dxa.chunks_exact_mut(3 * hs))
        .zip(dha.chunks_exact_mut(3 * hs))
        .zip(dh_prev.chunks_exact_mut(hs))
    {
        for j in 0..hs {
            let (r, z, n) = (a[j], a[hs + j], a[2 * hs + j]);
            let dn = d[j] * (1.0 - z);
            let dz = d[j] * (hp[j] - n);
            dp[j] = d[j] * z;
            let dan = dn * (1.0 - n * n);
            let dr = dan * hh[2 * hs + j];
            let dar = dr * r * (1.0 - r);
            let daz = dz * z * (1.0 - z);
            dx[j] = dar;
            dx[hs + j] = daz;
            dx[2 * hs + j] = dan;
            dhh[j] = dar;
            dhh[hs + j] = daz;
            dhh[2 * hs + j] = dan * r;
        }
    }
}

/// Plain RNN forward for one step: `a` (pre-activations) becomes h'.
pub fn rnn_forward(a: &mut [f32], relu: bool) {
    if relu {
        a.iter_mut().for_each(|v| *v = v.max(0.0));
    } else {
        a.iter_mut().for_each(|v| *v = v.tanh());
    }
}

/// Plain RNN backward for one step: dL/da from h' and dL/dh'.
pub fn rnn_backward(h: &[f32], dh: &[f32], da: &mut [f32], relu: bool) {
    for ((d, &hv), &g) in da.iter_mut().zip(h).zip(dh) {
        *d = if relu {
            if hv > 0.0 {
                g
            } else {
                0.0
            }
        } else {
            g * (1.0 - hv * hv)
        };
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    /// Central differences of a scalar function of one input.
    fn numeric(f: &dyn Fn(&[f32]) -> f64, x: &[f32], i: usize) -> f64 {
        let (mut p, mut m) = (x.to_vec(), x.to_vec());
        let h = 1e-3;
        p[i] += h;
        m[i] -= h;
        (f(&p) - f(&m)) / (2.0 * h as f64)
    }

    #[test]
    fn lstm_step_backward_matches_finite_differences() {
        let hs = 3;
        let a: Vec<f32> = (0..8 * hs)
            .map(|k| ((k * 37 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let cp: Vec<f32> = (0..2 * hs).map(|k| (k as f32 - 2.5) * 0.4).collect();
        // L = Σ w_h·h' + Σ w_c·c' with fixed weights.
        let wh: Vec<f32> = (0..2 * hs).map(|k| 0.5 + k as f32 * 0.1).collect();
        let wc: Vec<f32> = (0..2 * hs).map(|k| -0.3 + k as f32 * 0.2).collect();
        let loss = |a: &[f32], cp: &[f32]| -> f64 {
            let mut a = a.to_vec();
            let (mut c, mut h) = (vec![0.0; 2 * hs], vec![0.0; 2 * hs]);
            lstm_forward(&mut a, cp, &mut c, &mut h, hs);
            (0..2 * hs)
                .map(|k| (wh[k] * h[k] + wc[k] * c[k]) as f64)
                .sum()
        };
        let mut act = a.clone();
        let (mut c, mut h) = (vec![0.0; 2 * hs], vec![0.0; 2 * hs]);
        lstm_forward(&mut act, &cp, &mut c, &mut h, hs);
        let mut dc = wc.clone();
        let mut da = vec![0.0; 8 * hs];
        lstm_backward(&act, &cp, &c, &wh, &mut dc, &mut da, hs);
        for i in 0..a.len() {
            let n = numeric(&|x| loss(x, &cp), &a, i);
            assert!((da[i] as f64 - n).abs() < 1e-3, "da[{i}] {} vs {n}", da[i]);
        }
        for i in 0..cp.len() {
            let n = numeric(&|x| loss(&a, x), &cp, i);
            assert!((dc[i] as f64 - n).abs() < 1e-3, "dc[{i}] {} vs {n}", dc[i]);
        }
    }

    #[test]
    fn gru_step_backward_matches_finite_differences() {
        let hs = 2;
        let xa: Vec<f32> = (0..6 * hs)
            .map(|k| ((k * 7 % 5) as f32 - 2.0) * 0.4)
            .collect();
        let ha: Vec<f32> = (0..6 * hs)
            .map(|k| ((k * 3 % 7) as f32 - 3.0) * 0.3)
            .collect();
        let hp: Vec<f32> = (0..2 * hs).map(|k| (k as f32 - 1.5) * 0.5).collect();
        let w: Vec<f32> = (0..2 * hs).map(|k| 0.7 - k as f32 * 0.3).collect();
        let loss = |xa: &[f32], ha: &[f32], hp: &[f32]| -> f64 {
            let (mut act, mut h) = (vec![0.0; 6 * hs], vec![0.0; 2 * hs]);
            gru_forward(xa, ha, hp, &mut act, &mut h, hs);
            (0..2 * hs).map(|k| (w[k] * h[k]) as f64).sum()
        };
        let (mut act, mut h) = (vec![0.0; 6 * hs], vec![0.0; 2 * hs]);
        gru_forward(&xa, &ha, &hp, &mut act, &mut h, hs);
        let (mut dxa, mut dha, mut dhp) = (vec![0.0; 6 * hs], vec![0.0; 6 * hs], vec![0.0; 2 * hs]);
        gru_backward(&act, &ha, &hp, &w, &mut dxa, &mut dha, &mut dhp, hs);
        for i in 0..xa.len() {
            let n = numeric(&|x| loss(x, &ha, &hp), &xa, i);
            assert!((dxa[i] as f64 - n).abs() < 1e-3, "dxa[{i}]");
            let n = numeric(&|x| loss(&xa, x, &hp), &ha, i);
            assert!((dha[i] as f64 - n).abs() < 1e-3, "dha[{i}]");
        }
        for i in 0..hp.len() {
            let n = numeric(&|x| loss(&xa, &ha, x), &hp, i);
            assert!((dhp[i] as f64 - n).abs() < 1e-3, "dhp[{i}]");
        }
    }
}
