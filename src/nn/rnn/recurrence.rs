//! One recurrent layer in one direction over a whole sequence, as one
//! autograd op with its own backward through time.
//!
//! forward, for t = 0..T (T−1..0 when reversed):
//!     a_t = xa[:, t] + h_{t−1}·W_hhᵀ + b_hh        one product per step
//!     (h_t, c_t) = cell(a_t, h_{t−1}, c_{t−1})       one fused kernel
//! backward, for t in reverse order:
//!     dh_t += dy[:, t];  da_t = cell'(...)            one fused kernel
//!     dh_{t−1} = da_t·W_hh                            one product per step
//! then dW_hh = Σ_t da_tᵀ·h_{t−1} and db_hh = Σ_t da_t as one product and one
//! sum over all steps, and dxa = da (the input projection's own backward
//! turns it into dx, dW_ih and db_ih).
//!
//! `xa` = x·W_ihᵀ + b_ih for all steps is computed before, as one product.
//! The op's output packs the outputs y (rows b·T + t), then h_n, then c_n
//! (zeros for cells without one): `[B·T + 2B, H]`; the layer narrows it into
//! views.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::kernels::{
    gru_backward, gru_forward, lstm_backward, lstm_forward, matmul, rnn_backward, rnn_forward,
    MatLayout,
};
use crate::tensor::Tensor;

/// The recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// h' = tanh(a)
    RnnTanh,
    /// h' = relu(a)
    RnnRelu,
    /// Long short-term memory: gates i, f, g, o and a cell state c.
    Lstm,
    /// Gated recurrent unit: gates r, z, n.
    Gru,
}

impl Cell {
    /// Gates per hidden unit: rows of W_ih and W_hh are gates × hidden.
    pub fn gates(self) -> usize {
        match self {
            Cell::RnnTanh | Cell::RnnRelu => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// The sizes of one recurrence.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
    pub reverse: bool,
}

/// Where a layer records ‖∂L/∂h_t‖ for every step t of the last backward
/// pass (mean over the batch), when asked to.
pub type GradProbe = Arc<Mutex<Vec<f32>>>;

/// Runs the recurrence; see the module docs. `xa: [B·T, G·H]`,
/// `w_hh: [G·H, H]`, `b_hh: [G·H]`, `h0`, `c0: [B, H]`.
#[allow(clippy::too_many_arguments)]
pub fn recurrence(
    cell: Cell,
    xa: &Tensor,
    w_hh: &Tensor,
    b_hh: Option<&Tensor>,
    h0: &Tensor,
    c0: Option<&Tensor>,
    d: Dims,
    probe: Option<GradProbe>,
) -> Tensor {
    let (b, t_len, hs) = (d.batch, d.steps, d.hidden);
    let gh = cell.gates() * hs;
    assert_eq!(
        xa.shape(),
        [b * t_len, gh],
        "recurrence: input projection shape"
    );
    assert_eq!(w_hh.shape(), [gh, hs], "recurrence: weight_hh shape");
    assert_eq!(h0.numel(), b * hs, "recurrence: initial state shape");
    let xav = xa.data();
    let wv = w_hh.data();
    let bv = b_hh.map(|b| b.data());
    // Buffers in processing order s = 0..T: hs_buf[s] is h before step s.
    let mut h_buf = vec![0.0f32; (t_len + 1) * b * hs];
    h_buf[..b * hs].copy_from_slice(&h0.data());
    let lstm = cell == Cell::Lstm;
    let mut c_buf = if lstm {
        let mut v = vec![0.0f32; (t_len + 1) * b * hs];
        if let Some(c0) = c0 {
            v[..b * hs].copy_from_slice(&c0.data());
        }
        v
    } else {
        Vec::new()
    };
    let mut act = vec![0.0f32; t_len * b * gh];
    // GRU keeps h·W_hhᵀ + b_hh of every step (its n part is needed backward).
    let mut ha_buf = if cell == Cell::Gru {
        vec![0.0f32; t_len * b * gh]
    } else {
        Vec::new()
    };
    let time = |s: usize| if d.reverse { t_len - 1 - s } else { s };
    for s in 0..t_len {
        let t = time(s);
        let (h_prev_all, h_rest) = h_buf.split_at_mut((s + 1) * b * hs);
        let h_prev = &h_prev_all[s * b * hs..];
        let h_next = &mut h_rest[..b * hs];
        let a = &mut act[s * b * gh..(s + 1) * b * gh];
        // The recurrent part: h_{t-1}·W_hhᵀ + b_hh, into `a` (or `ha`).
        let target: &mut [f32] = if cell == Cell::Gru {
            &mut ha_buf[s * b * gh..(s + 1) * b * gh]
        } else {
            &mut *a
        };
        match &bv {
            Some(bias) => target
                .chunks_exact_mut(gh)
                .for_each(|r| r.copy_from_slice(bias)),
            None => target.fill(0.0),
        }
        if cell != Cell::Gru {
            for bi in 0..b {
                let x = &xav[(bi * t_len + t) * gh..(bi * t_len + t + 1) * gh];
                target[bi * gh..(bi + 1) * gh]
                    .iter_mut()
                    .zip(x)
                    .for_each(|(a, x)| *a += x);
            }
        }
        matmul(
            b,
            hs,
            gh,
            h_prev,
            MatLayout::Normal,
            &wv,
            MatLayout::Transposed,
            target,
            true,
        );
        match cell {
            Cell::Lstm => {
                let (c_prev_all, c_rest) = c_buf.split_at_mut((s + 1) * b * hs);
                lstm_forward(
                    a,
                    &c_prev_all[s * b * hs..],
                    &mut c_rest[..b * hs],
                    h_next,
                    hs,
                );
            }
            Cell::Gru => {
                let mut xa_t = vec![0.0f32; b * gh];
                for bi in 0..b {
                    xa_t[bi * gh..(bi + 1) * gh]
                        .copy_from_slice(&xav[(bi * t_len + t) * gh..(bi * t_len + t + 1) * gh]);
                }
                gru_forward(
                    &xa_t,
                    &ha_buf[s * b * gh..(s + 1) * b * gh],
                    h_prev,
                    a,
                    h_next,
                    hs,
                );
            }
            Cell::RnnTanh | Cell::RnnRelu => {
                rnn_forward(a, cell == Cell::RnnRelu);
                h_next.copy_from_slice(a);
            }
        }
    }
    // The packed output: y (batch-major rows b·T + t), h_n, c_n.
    let mut out = vec![0.0f32; (b * t_len + 2 * b) * hs];
    for s in 0..t_len {
        let t = time(s);
        let h = &h_buf[(s + 1) * b * hs..(s + 2) * b * hs];
        for bi in 0..b {
            out[(bi * t_len + t) * hs..(bi * t_len + t + 1) * hs]
                .copy_from_slice(&h[bi * hs..(bi + 1) * hs]);
        }
    }
    let tail = b * t_len * hs;
    out[tail..tail + b * hs].copy_from_slice(&h_buf[t_len * b * hs..]);
    if lstm {
        out[tail + b * hs..].copy_from_slice(&c_buf[t_len * b * hs..]);
    }
    drop((xav, wv, bv));

    let w = w_hh.detach();
    let (need_xa, need_w) = (xa.requires_grad(), w_hh.requires_grad());
    let need_b = b_hh.is_some_and(|b| b.requires_grad());
    let need_h0 = h0.requires_grad();
    let need_c0 = c0.is_some_and(|c| c.requires_grad());
    let has_bias = b_hh.is_some();
    let has_c0 = c0.is_some();
    let (h0_shape, c0_shape) = (h0.size(), c0.map(|c| c.size()));
    let mut inputs: Vec<&Tensor> = vec![xa, w_hh];
    if let Some(bias) = b_hh {
        inputs.push(bias);
    }
    inputs.push(h0);
    if let Some(c) = c0 {
        inputs.push(c);
    }
    let saved = Arc::new(Saved {
        h: h_buf,
        c: c_buf,
        act,
        ha: ha_buf,
    });
    let out_shape = vec![b * t_len + 2 * b, hs];
    Tensor::from_op(out, out_shape, "recurrence", &inputs, move |g| {
        let grads = backward(cell, &saved, &w.data(), &g.data(), d, probe.as_ref());
        let mut v = vec![
            need_xa.then(|| Tensor::from_vec(grads.dxa, &[b * t_len, gh])),
            need_w.then(|| Tensor::from_vec(grads.dw, &[gh, hs])),
        ];
        if has_bias {
            v.push(need_b.then(|| Tensor::from_vec(grads.db, &[gh])));
        }
        v.push(need_h0.then(|| Tensor::from_vec(grads.dh0, &h0_shape)));
        if has_c0 {
            let shape = c0_shape.clone().expect("c0 shape");
            v.push(need_c0.then(|| Tensor::from_vec(grads.dc0, &shape)));
        }
        v
    })
}

/// What the forward pass keeps for the backward pass.
struct Saved {
    /// h before each step and after the last: `[(T+1)·B, H]` in processing order.
    h: Vec<f32>,
    /// LSTM: c likewise.
    c: Vec<f32>,
    /// Gate activations of each step `[T·B, G·H]` (RNN: h').
    act: Vec<f32>,
    /// GRU: h·W_hhᵀ + b_hh of each step.
    ha: Vec<f32>,
}

struct Grads {
    dxa: Vec<f32>,
    dw: Vec<f32>,
    db: Vec<f32>,
    dh0: Vec<f32>,
    dc0: Vec<f32>,
}

/// Backward through time from the gradient of the packed output.
fn backward(
    cell: Cell,
    s: &Saved,
    w: &[f32],
    g: &[f32],
    d: Dims,
    probe: Option<&GradProbe>,
) -> Grads {
    let (b, t_len, hs) = (d.batch, d.steps, d.hidden);
    let gh = cell.gates() * hs;
    let tail = b * t_len * hs;
    let time = |s: usize| if d.reverse { t_len - 1 - s } else { s };
    // Running gradients w.r.t. h and c of the current step.
    let mut dh = g[tail..tail + b * hs].to_vec();
    let mut dc = if cell == Cell::Lstm {
        g[tail + b * hs..].to_vec()
    } else {
        Vec::new()
    };
    // dL/da of every step (time-major in processing order) and, for the
    // GRU, dL/d(h-part) which differs from the x-part.
    let mut da = vec![0.0f32; t_len * b * gh];
    let mut dha = if cell == Cell::Gru {
        vec![0.0f32; t_len * b * gh]
    } else {
        Vec::new()
    };
    let mut norms = probe.map(|_| vec![0.0f32; t_len]);
    let mut dh_direct = vec![0.0f32; b * hs];
    for st in (0..t_len).rev() {
        let t = time(st);
        for bi in 0..b {
            dh[bi * hs..(bi + 1) * hs]
                .iter_mut()
                .zip(&g[(bi * t_len + t) * hs..(bi * t_len + t + 1) * hs])
                .for_each(|(a, b)| *a += b);
        }
        if let Some(n) = norms.as_mut() {
            let sq: f64 = dh.iter().map(|&v| (v as f64) * (v as f64)).sum();
            n[t] = (sq.sqrt() / b as f64) as f32;
        }
        let act = &s.act[st * b * gh..(st + 1) * b * gh];
        let h_prev = &s.h[st * b * hs..(st + 1) * b * hs];
        let da_t = &mut da[st * b * gh..(st + 1) * b * gh];
        match cell {
            Cell::Lstm => lstm_backward(
                act,
                &s.c[st * b * hs..(st + 1) * b * hs],
                &s.c[(st + 1) * b * hs..(st + 2) * b * hs],
                &dh,
                &mut dc,
                da_t,
                hs,
            ),
            Cell::Gru => gru_backward(
                act,
                &s.ha[st * b * gh..(st + 1) * b * gh],
                h_prev,
                &dh,
                da_t,
                &mut dha[st * b * gh..(st + 1) * b * gh],
                &mut dh_direct,
                hs,
            ),
            Cell::RnnTanh | Cell::RnnRelu => rnn_backward(act, &dh, da_t, cell == Cell::RnnRelu),
        }
        // dL/dh_{t-1} = (dL/d h-part)·W_hh (+ the GRU's direct path).
        let through: &[f32] = if cell == Cell::Gru {
            &dha[st * b * gh..(st + 1) * b * gh]
        } else {
            &da[st * b * gh..(st + 1) * b * gh]
        };
        if cell == Cell::Gru {
            dh.copy_from_slice(&dh_direct);
        }
        matmul(
            b,
            gh,
            hs,
            through,
            MatLayout::Normal,
            w,
            MatLayout::Normal,
            &mut dh,
            cell == Cell::Gru,
        );
    }
    if let (Some(p), Some(n)) = (probe, norms) {
        *p.lock() = n;
    }
    let dh_part: &[f32] = if cell == Cell::Gru { &dha } else { &da };
    // dW_hh = Σ_t (dL/d h-part)_tᵀ · h_{t-1}: one product over all steps.
    let mut dw = vec![0.0f32; gh * hs];
    matmul(
        gh,
        t_len * b,
        hs,
        dh_part,
        MatLayout::Transposed,
        &s.h[..t_len * b * hs],
        MatLayout::Normal,
        &mut dw,
        false,
    );
    let mut db = vec![0.0f32; gh];
    for row in dh_part.chunks_exact(gh) {
        db.iter_mut().zip(row).for_each(|(a, b)| *a += b);
    }
    // dL/dxa back in the input's batch-major rows.
    let mut dxa = vec![0.0f32; b * t_len * gh];
    for st in 0..t_len {
        let t = time(st);
        for bi in 0..b {
            dxa[(bi * t_len + t) * gh..(bi * t_len + t + 1) * gh]
                .copy_from_slice(&da[(st * b + bi) * gh..(st * b + bi + 1) * gh]);
        }
    }
    Grads {
        dxa,
        dw,
        db,
        dh0: dh,
        dc0: dc,
    }
}
