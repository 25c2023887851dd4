//! One recurrent layer in one direction over a whole sequence, input
//! projection included, as one autograd op with its own backward through
//! time ([`super::bptt`]).
//!
//! forward, for t = 0..T (T−1..0 when reversed):
//!     a_t = x_t·W_ihᵀ + h_{t−1}·W_hhᵀ + b_ih + b_hh   two products per step
//!     (h_t, c_t) = cell(a_t, h_{t−1}, c_{t−1})          one fused kernel
//! (the GRU keeps its x part and its h part apart: r multiplies the h part
//! of n only).
//! backward, for t in reverse order:
//!     dh_t += dy[:, t];  da_t = cell'(...)               one fused kernel
//!     dh_{t−1} = da_t·W_hh                               one product per step
//! then [dW_ih | dW_hh] = Σ_t da_tᵀ·[x_t | h_{t−1}] as one product over all
//! steps, db_ih = db_hh = Σ_t da_t, and dx = da·W_ih as one product.
//!
//! The input's projection is made step by step, into the activations the
//! step writes anyway, rather than as one product over all steps before:
//! that would write x·W_ihᵀ for the whole sequence (B·T·G·H values, more
//! than the caches hold) only to read it back step by step, and its
//! backward would read dL/da once more for dW_ih and again for db_ih.
//!
//! The threads split the rows or the hidden units ([`super::plan`]).
//!
//! The op's output packs the outputs y (rows b·T + t), then h_n, then c_n
//! (zeros for cells without one): `[B·T + 2B, H]`; the layer narrows it into
//! views.

use std::sync::Arc;

use super::bptt::backward;
use super::cell::{Cell, Dims, GradProbe, Saved, Weights};
use super::plan::{Plan, Split};
use crate::kernels::gemm::{matmul_prepacked_serial, PackedB};
use crate::kernels::spin_pool::SharedMut;
use crate::kernels::{gru_forward, lstm_forward, rnn_forward};
use crate::tensor::Tensor;

/// Runs the recurrence; see the module docs. `x: [B·T, in]` (rows b·T + t),
/// `h0`, `c0: [B, H]`.
pub fn recurrence(
    cell: Cell,
    x: &Tensor,
    w: Weights,
    h0: &Tensor,
    c0: Option<&Tensor>,
    d: Dims,
    probe: Option<GradProbe>,
) -> Tensor {
    recurrence_split(cell, x, w, h0, c0, d, probe, None)
}

/// A part's working rows of one step, kept from step to step.
#[derive(Default)]
struct Scratch {
    /// The gathered inputs `[rows, in + H + 2]`: `[x_t | 1 | h_{t−1} | 1]`.
    rows_in: Vec<f32>,
    /// The GRU's x part `[rows, G·units]`.
    xa: Vec<f32>,
}

/// [`recurrence`] split over the threads as `split` says (None: as this
/// machine's threads and the sizes say).
#[allow(clippy::too_many_arguments)]
pub(crate) fn recurrence_split(
    cell: Cell,
    x: &Tensor,
    w: Weights,
    h0: &Tensor,
    c0: Option<&Tensor>,
    d: Dims,
    probe: Option<GradProbe>,
    split: Option<Split>,
) -> Tensor {
    let (b, t_len, hs) = (d.batch, d.steps, d.hidden);
    let gh = cell.gates() * hs;
    assert!(
        x.shape().len() == 2 && x.shape()[0] == b * t_len,
        "recurrence: input {:?}, expected [{}, in]",
        x.shape(),
        b * t_len
    );
    let inp = x.shape()[1];
    assert_eq!(w.w_ih.shape(), [gh, inp], "recurrence: weight_ih shape");
    assert_eq!(w.w_hh.shape(), [gh, hs], "recurrence: weight_hh shape");
    assert_eq!(h0.numel(), b * hs, "recurrence: initial state shape");
    let plan = Arc::new(Plan::new(cell, b, hs, split));
    let xv = x.data();
    let lstm = cell == Cell::Lstm;
    let gru = cell == Cell::Gru;
    // Buffers in processing order s = 0..T: h_buf[s] is h before step s.
    let mut h_buf = vec![0.0f32; (t_len + 1) * b * hs];
    h_buf[..b * hs].copy_from_slice(&h0.data());
    let mut c_buf = if lstm {
        let mut v = vec![0.0f32; (t_len + 1) * b * hs];
        if let Some(c0) = c0 {
            v[..b * hs].copy_from_slice(&c0.data());
        }
        v
    } else {
        Vec::new()
    };
    // Gate activations of every step, plan order.
    let mut act = vec![0.0f32; t_len * b * gh];
    // GRU keeps h·W_hhᵀ + b_hh of every step (its n part is needed backward).
    let mut ha_buf = if gru {
        vec![0.0f32; t_len * b * gh]
    } else {
        Vec::new()
    };
    // Each step is one product [x_t | 1 | h_{t−1}]·[W_ih | b | W_hh]ᵀ, the
    // bias b = b_ih + b_hh riding on a column of ones; the GRU's x part
    // [x_t | 1]·[W_ih | b_ih]ᵀ and h part [h_{t−1} | 1]·[W_hh | b_hh]ᵀ are
    // two. A step's rows are gathered as [x_t | 1 | h_{t−1} | 1].
    let (w_ih, w_hh) = (w.w_ih.data(), w.w_hh.data());
    let zeros = vec![0.0f32; gh];
    let (b_ih, b_hh) = (w.b_ih.map(|b| b.data()), w.b_hh.map(|b| b.data()));
    let b_ih: &[f32] = b_ih.as_deref().unwrap_or(&zeros);
    let b_hh: &[f32] = b_hh.as_deref().unwrap_or(&zeros);
    let units = plan.units.len();
    let pack = |blocks: &[(&[f32], usize)]| -> Vec<PackedB> {
        (0..units)
            .map(|t| plan.forward_weights(blocks, t))
            .collect()
    };
    let (w_x, w_h) = if gru {
        (
            pack(&[(&w_ih, inp), (b_ih, 1)]),
            pack(&[(&w_hh, hs), (b_hh, 1)]),
        )
    } else {
        let b_sum: Vec<f32> = b_ih.iter().zip(b_hh).map(|(a, b)| a + b).collect();
        (pack(&[(&w_ih, inp), (&b_sum, 1), (&w_hh, hs)]), Vec::new())
    };
    drop((w_ih, w_hh));
    // One gathered row: [x_t | 1 | h_{t−1} | 1].
    let kx = inp + hs + 2;
    let time = |s: usize| if d.reverse { t_len - 1 - s } else { s };
    {
        let (hb, cb) = (SharedMut::new(&mut h_buf), SharedMut::new(&mut c_buf));
        let (ab, hab) = (SharedMut::new(&mut act), SharedMut::new(&mut ha_buf));
        let xv: &[f32] = &xv;
        // Part p's step s, its rows and units; `scratch` holds its rows'
        // gathered inputs and, for the GRU, their x part.
        let step = |p: usize, s: usize, scratch: &mut Scratch| {
            let t = time(s);
            let (rows, up) = plan.part(p);
            let u = plan.units[up].clone();
            let n = u.len();
            let (off, wd) = (plan.offset(up), cell.gates() * n);
            let m = rows.len();
            let a_first = s * b * gh + rows.start * gh + off;
            let Scratch { rows_in, xa } = scratch;
            rows_in.resize(m * kx, 0.0);
            xa.resize(if gru { m * wd } else { 0 }, 0.0);
            // SAFETY: in step s part p writes only its own rows and columns
            // (off..off + wd of its rows of step s's activations, its units
            // of its rows of h and c at step s + 1) and reads h and c at step
            // s, which nobody writes now; the buffers outlive the loop.
            unsafe {
                for (r, bi) in rows.clone().enumerate() {
                    let row = &mut rows_in[r * kx..(r + 1) * kx];
                    // x_t of row bi is row bi·T + t of the input.
                    row[..inp].copy_from_slice(&xv[(bi * t_len + t) * inp..][..inp]);
                    row[inp] = 1.0;
                    let h = (s * b + bi) * hs;
                    row[inp + 1..inp + 1 + hs].copy_from_slice(hb.slice(h..h + hs));
                    row[kx - 1] = 1.0;
                }
                let a_in = rows_in.as_ptr();
                if gru {
                    let c = hab.slice(a_first..a_first + 1).as_mut_ptr();
                    matmul_prepacked_serial(m, a_in, kx, &w_x[up], xa.as_mut_ptr(), wd, false);
                    matmul_prepacked_serial(m, a_in.add(inp + 1), kx, &w_h[up], c, gh, false);
                } else {
                    let c = ab.slice(a_first..a_first + 1).as_mut_ptr();
                    matmul_prepacked_serial(m, a_in, kx, &w_x[up], c, gh, false);
                }
                for (r, bi) in rows.enumerate() {
                    let a_row = ab.slice(a_first + r * gh..a_first + r * gh + wd);
                    let cur = (s * b + bi) * hs;
                    let next = ((s + 1) * b + bi) * hs;
                    let h_next = hb.slice(next + u.start..next + u.end);
                    match cell {
                        Cell::Lstm => lstm_forward(
                            a_row,
                            cb.slice(cur + u.start..cur + u.end),
                            cb.slice(next + u.start..next + u.end),
                            h_next,
                            n,
                        ),
                        Cell::Gru => gru_forward(
                            &xa[r * wd..(r + 1) * wd],
                            hab.slice(a_first + r * gh..a_first + r * gh + wd),
                            hb.slice(cur + u.start..cur + u.end),
                            a_row,
                            h_next,
                            n,
                        ),
                        Cell::RnnTanh | Cell::RnnRelu => {
                            rnn_forward(a_row, cell == Cell::RnnRelu);
                            h_next.copy_from_slice(a_row);
                        }
                    }
                }
            }
        };
        if plan.lockstep() {
            for s in 0..t_len {
                plan.run(&|p| step(p, s, &mut Scratch::default()));
            }
        } else {
            plan.run(&|p| {
                let mut scratch = Scratch::default();
                (0..t_len).for_each(|s| step(p, s, &mut scratch))
            });
        }
    }
    drop(xv);
    // The packed output: y (batch-major rows b·T + t), h_n, c_n, written
    // in its own order.
    let mut out = Vec::with_capacity((b * t_len + 2 * b) * hs);
    for bi in 0..b {
        for t in 0..t_len {
            let s = time(t);
            out.extend_from_slice(&h_buf[((s + 1) * b + bi) * hs..((s + 1) * b + bi + 1) * hs]);
        }
    }
    out.extend_from_slice(&h_buf[t_len * b * hs..]);
    if lstm {
        out.extend_from_slice(&c_buf[t_len * b * hs..]);
    } else {
        out.resize((b * t_len + 2 * b) * hs, 0.0);
    }

    let (w_ih, w_hh) = (w.w_ih.detach(), w.w_hh.detach());
    let need_x = x.requires_grad();
    let need_w = [w.w_ih.requires_grad(), w.w_hh.requires_grad()];
    let need_b = [
        w.b_ih.is_some_and(|b| b.requires_grad()),
        w.b_hh.is_some_and(|b| b.requires_grad()),
    ];
    let need_h0 = h0.requires_grad();
    let need_c0 = c0.is_some_and(|c| c.requires_grad());
    let has_bias = [w.b_ih.is_some(), w.b_hh.is_some()];
    let has_c0 = c0.is_some();
    let (x_shape, h0_shape, c0_shape) = (x.size(), h0.size(), c0.map(|c| c.size()));
    let mut inputs: Vec<&Tensor> = vec![x, w.w_ih];
    inputs.extend(w.b_ih);
    inputs.push(w.w_hh);
    inputs.extend(w.b_hh);
    inputs.push(h0);
    inputs.extend(c0);
    let saved = Arc::new(Saved {
        x: x.detach(),
        h: h_buf,
        c: c_buf,
        act,
        ha: ha_buf,
    });
    let out_shape = vec![b * t_len + 2 * b, hs];
    Tensor::from_op(out, out_shape, "recurrence", &inputs, move |g| {
        let grads = backward(
            &plan,
            &saved,
            &w_ih.data(),
            &w_hh.data(),
            &g.data(),
            d,
            need_x,
            probe.as_ref(),
        );
        let mut v = vec![
            need_x.then(|| Tensor::from_vec(grads.dx, &x_shape)),
            need_w[0].then(|| Tensor::from_vec(grads.dw_ih, &[gh, inp])),
        ];
        if has_bias[0] {
            v.push(need_b[0].then(|| Tensor::from_vec(grads.db_ih, &[gh])));
        }
        v.push(need_w[1].then(|| Tensor::from_vec(grads.dw_hh, &[gh, hs])));
        if has_bias[1] {
            v.push(need_b[1].then(|| Tensor::from_vec(grads.db_hh, &[gh])));
        }
        v.push(need_h0.then(|| Tensor::from_vec(grads.dh0, &h0_shape)));
        if has_c0 {
            let shape = c0_shape.clone().expect("c0 shape");
            v.push(need_c0.then(|| Tensor::from_vec(grads.dc0, &shape)));
        }
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{Generator, Tensor};

    /// Outputs and every gradient of one recurrence split as `split` says
    /// (with the gradient-norm probe or without).
    fn run(cell: Cell, split: Split, reverse: bool, probe: Option<&GradProbe>) -> Vec<Vec<f32>> {
        let (b, t, h, i) = (7, 5, 19, 6);
        let gh = cell.gates() * h;
        let mut g = Generator::new(11);
        let x = Tensor::randn_with(&[b * t, i], 0.0, 1.0, &mut g).requires_grad_(true);
        let w_ih = Tensor::randn_with(&[gh, i], 0.0, 0.3, &mut g).requires_grad_(true);
        let b_ih = Tensor::randn_with(&[gh], 0.0, 0.3, &mut g).requires_grad_(true);
        let w_hh = Tensor::randn_with(&[gh, h], 0.0, 0.3, &mut g).requires_grad_(true);
        let b_hh = Tensor::randn_with(&[gh], 0.0, 0.3, &mut g).requires_grad_(true);
        let h0 = Tensor::randn_with(&[b, h], 0.0, 1.0, &mut g).requires_grad_(true);
        let c0 = Tensor::randn_with(&[b, h], 0.0, 1.0, &mut g).requires_grad_(true);
        let lstm = cell == Cell::Lstm;
        let d = Dims {
            batch: b,
            steps: t,
            hidden: h,
            reverse,
        };
        let w = Weights {
            w_ih: &w_ih,
            b_ih: Some(&b_ih),
            w_hh: &w_hh,
            b_hh: Some(&b_hh),
        };
        let out = recurrence_split(
            cell,
            &x,
            w,
            &h0,
            lstm.then_some(&c0),
            d,
            probe.cloned(),
            Some(split),
        );
        let weights = Tensor::randn_with(out.shape(), 0.0, 1.0, &mut g);
        out.mul(&weights).sum().backward();
        let mut v = vec![out.to_vec()];
        for p in [&x, &w_ih, &b_ih, &w_hh, &b_hh, &h0] {
            v.push(p.grad().expect("a gradient").to_vec());
        }
        if lstm {
            v.push(c0.grad().expect("a gradient").to_vec());
        }
        if let Some(probe) = probe {
            v.push(probe.lock().clone());
        }
        v
    }

    #[test]
    fn any_split_of_the_rows_or_units_gives_the_same_numbers() {
        let splits = [2, 3, 7, 9]
            .into_iter()
            .flat_map(|p| [Split::Rows(p), Split::Units(p)]);
        for cell in [Cell::Lstm, Cell::Gru, Cell::RnnTanh, Cell::RnnRelu] {
            for reverse in [false, true] {
                for probe in [None, Some(GradProbe::default())] {
                    let one = run(cell, Split::Units(1), reverse, probe.as_ref());
                    for split in splits.clone() {
                        let many = run(cell, split, reverse, probe.as_ref());
                        for (i, (a, b)) in one.iter().zip(&many).enumerate() {
                            assert_eq!(a.len(), b.len());
                            for (x, y) in a.iter().zip(b) {
                                assert!(
                                    (x - y).abs() <= 1e-5 * (1.0 + x.abs()),
                                    "{cell:?} reverse {reverse}, {split:?}, value set {i}: {x} vs {y}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
