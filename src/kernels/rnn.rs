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
//!
//! σ and tanh are [`super::simd::sigmoid`] and [`super::simd::tanh`] (branch-free, a few
//! 1e-7 relative), and every kernel is compiled for AVX-512, AVX2 and plain
//! x86-64 (`simd_dispatch!`): libm's scalar `expf` and `tanhf` took more
//! than half of an LSTM's training step before.

use super::simd::{sigmoid, simd_dispatch, tanh, LANES as L};

/// Values `j..j + m` of `s` (m ≤ L) as one block of lanes, zero-padded.
#[inline(always)]
fn load(s: &[f32], j: usize, m: usize) -> [f32; L] {
    if m == L {
        s[j..j + L].try_into().expect("a block of L values")
    } else {
        let mut v = [0.0f32; L];
        v[..m].copy_from_slice(&s[j..j + m]);
        v
    }
}

/// Writes the first `m` lanes of `v` to `s[j..j + m]`.
#[inline(always)]
fn store(s: &mut [f32], j: usize, m: usize, v: &[f32; L]) {
    if m == L {
        s[j..j + L].copy_from_slice(v);
    } else {
        s[j..j + m].copy_from_slice(&v[..m]);
    }
}

/// The body of [`lstm_forward`].
#[inline(always)]
fn lstm_forward_impl(a: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
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
        let mut j = 0;
        while j < hs {
            let m = L.min(hs - j);
            let (mut vi, mut vf, mut vg, mut vo) =
                (load(i, j, m), load(f, j, m), load(g, j, m), load(o, j, m));
            let vcp = load(cp, j, m);
            let (mut vc, mut vh) = ([0.0f32; L], [0.0f32; L]);
            for l in 0..L {
                vi[l] = sigmoid(vi[l]);
                vf[l] = sigmoid(vf[l]);
                vg[l] = tanh(vg[l]);
                vo[l] = sigmoid(vo[l]);
                vc[l] = vf[l] * vcp[l] + vi[l] * vg[l];
                vh[l] = vo[l] * tanh(vc[l]);
            }
            store(i, j, m, &vi);
            store(f, j, m, &vf);
            store(g, j, m, &vg);
            store(o, j, m, &vo);
            store(cn, j, m, &vc);
            store(hn, j, m, &vh);
            j += m;
        }
    }
}

/// The body of [`lstm_backward`].
#[inline(always)]
fn lstm_backward_impl(
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
        let mut j = 0;
        while j < hs {
            let m = L.min(hs - j);
            let (vi, vf, vg, vo) = (load(i, j, m), load(f, j, m), load(g, j, m), load(o, j, m));
            let (vcp, vcn, vdh) = (load(cp, j, m), load(cn, j, m), load(dhr, j, m));
            let mut vdc = load(dcr, j, m);
            let mut out = [[0.0f32; L]; 4];
            for l in 0..L {
                let tc = tanh(vcn[l]);
                let d_o = vdh[l] * tc;
                let dcj = vdc[l] + vdh[l] * vo[l] * (1.0 - tc * tc);
                out[0][l] = dcj * vg[l] * vi[l] * (1.0 - vi[l]);
                out[1][l] = dcj * vcp[l] * vf[l] * (1.0 - vf[l]);
                out[2][l] = dcj * vi[l] * (1.0 - vg[l] * vg[l]);
                out[3][l] = d_o * vo[l] * (1.0 - vo[l]);
                vdc[l] = dcj * vf[l];
            }
            store(di, j, m, &out[0]);
            store(df, j, m, &out[1]);
            store(dg, j, m, &out[2]);
            store(do_, j, m, &out[3]);
            store(dcr, j, m, &vdc);
            j += m;
        }
    }
}

/// The body of [`gru_forward`].
#[inline(always)]
fn gru_forward_impl(
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
        let (xr, xz, xn) = (&x[..hs], &x[hs..2 * hs], &x[2 * hs..3 * hs]);
        let (hr, hz, hn_) = (&hh[..hs], &hh[hs..2 * hs], &hh[2 * hs..3 * hs]);
        let (ar, rest) = a.split_at_mut(hs);
        let (az, an) = rest.split_at_mut(hs);
        let mut j = 0;
        while j < hs {
            let m = L.min(hs - j);
            let (vxr, vxz, vxn) = (load(xr, j, m), load(xz, j, m), load(xn, j, m));
            let (vhr, vhz, vhn) = (load(hr, j, m), load(hz, j, m), load(hn_, j, m));
            let vhp = load(hp, j, m);
            let mut out = [[0.0f32; L]; 4];
            for l in 0..L {
                let r = sigmoid(vxr[l] + vhr[l]);
                let z = sigmoid(vxz[l] + vhz[l]);
                let n = tanh(vxn[l] + r * vhn[l]);
                out[0][l] = r;
                out[1][l] = z;
                out[2][l] = n;
                out[3][l] = (1.0 - z) * n + z * vhp[l];
            }
            store(ar, j, m, &out[0]);
            store(az, j, m, &out[1]);
            store(an, j, m, &out[2]);
            store(hn, j, m, &out[3]);
            j += m;
        }
    }
}

/// The body of [`gru_backward`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_backward_impl(
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
        let (ar, az, an) = (&a[..hs], &a[hs..2 * hs], &a[2 * hs..3 * hs]);
        let hh_n = &hh[2 * hs..3 * hs];
        let (dxr, rest) = dx.split_at_mut(hs);
        let (dxz, dxn) = rest.split_at_mut(hs);
        let (dhr, rest) = dhh.split_at_mut(hs);
        let (dhz, dhn) = rest.split_at_mut(hs);
        let mut j = 0;
        while j < hs {
            let m = L.min(hs - j);
            let (r, z, n) = (load(ar, j, m), load(az, j, m), load(an, j, m));
            let (vhn, vhp, vd) = (load(hh_n, j, m), load(hp, j, m), load(d, j, m));
            let mut out = [[0.0f32; L]; 7];
            for l in 0..L {
                let dn = vd[l] * (1.0 - z[l]);
                let dz = vd[l] * (vhp[l] - n[l]);
                let dan = dn * (1.0 - n[l] * n[l]);
                let dar = dan * vhn[l] * r[l] * (1.0 - r[l]);
                let daz = dz * z[l] * (1.0 - z[l]);
                out[0][l] = dar;
                out[1][l] = daz;
                out[2][l] = dan;
                out[3][l] = dan * r[l];
                out[4][l] = vd[l] * z[l];
            }
            store(dxr, j, m, &out[0]);
            store(dxz, j, m, &out[1]);
            store(dxn, j, m, &out[2]);
            store(dhr, j, m, &out[0]);
            store(dhz, j, m, &out[1]);
            store(dhn, j, m, &out[3]);
            store(dp, j, m, &out[4]);
            j += m;
        }
    }
}

/// The body of [`rnn_forward`].
#[inline(always)]
fn rnn_forward_impl(a: &mut [f32], relu: bool) {
    if relu {
        a.iter_mut().for_each(|v| *v = v.max(0.0));
    } else {
        a.iter_mut().for_each(|v| *v = tanh(*v));
    }
}

/// The body of [`rnn_backward`].
#[inline(always)]
fn rnn_backward_impl(h: &[f32], dh: &[f32], da: &mut [f32], relu: bool) {
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

simd_dispatch!(
    /// LSTM forward for one step: `a` holds the pre-activations `[batch, 4H]`
    /// and is overwritten with the gate activations (i, f, g, o), which the
    /// backward pass needs; writes `c` and `h` `[batch, H]`.
    pub fn lstm_forward = lstm_forward_impl(a: &mut [f32], c_prev: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize)
);

simd_dispatch!(
    /// LSTM backward for one step. `act` are the step's gate activations, `dh`
    /// the gradient of the loss w.r.t. h' (from the output and the next step),
    /// `dc` on entry the gradient w.r.t. c' from the next step and on return the
    /// gradient w.r.t. c. Writes the gradient of the pre-activations `da`.
    pub fn lstm_backward = lstm_backward_impl(act: &[f32], c_prev: &[f32], c: &[f32], dh: &[f32], dc: &mut [f32], da: &mut [f32], hidden: usize)
);

simd_dispatch!(
    /// GRU forward for one step: `xa` = x·W_iᵀ + b_i and `ha` = h·W_hᵀ + b_h,
    /// both `[batch, 3H]`; writes the gate activations (r, z, n) to `act` and h'.
    pub fn gru_forward = gru_forward_impl(xa: &[f32], ha: &[f32], h_prev: &[f32], act: &mut [f32], h: &mut [f32], hidden: usize)
);

simd_dispatch!(
    /// GRU backward for one step: from the activations, h·W_hᵀ + b_h (`ha`),
    /// h and dL/dh'. Writes dL/d(x-part) `dxa`, dL/d(h-part) `dha` (both
    /// `[batch, 3H]`) and the direct part of dL/dh, `dh_prev` (z·dh'; the part
    /// through W_h is added by the caller).
    pub fn gru_backward = gru_backward_impl(act: &[f32], ha: &[f32], h_prev: &[f32], dh: &[f32], dxa: &mut [f32], dha: &mut [f32], dh_prev: &mut [f32], hidden: usize)
);

simd_dispatch!(
    /// Plain RNN forward for one step: `a` (pre-activations) becomes h'.
    pub fn rnn_forward = rnn_forward_impl(a: &mut [f32], relu: bool)
);

simd_dispatch!(
    /// Plain RNN backward for one step: dL/da from h' and dL/dh'.
    pub fn rnn_backward = rnn_backward_impl(h: &[f32], dh: &[f32], da: &mut [f32], relu: bool)
);

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
