//! Backpropagation through time for one recurrence ([`super::recurrence`]):
//!
//! for t in reverse order:
//!     dh_t += dy[:, t];  da_t = cell'(...)               one fused kernel
//!     dh_{t−1} = da_t·W_hh                               one product per step
//! then, over all steps at once:
//!     [dW_ih | dW_hh] = daᵀ·[x | h_prev]                 one product
//!     db_ih = db_hh = Σ da                               one sum
//!     dx = da·W_ih                                       one product
//! (the GRU's h part has its own dL/d(h-part), which gives dW_hh and db_hh).
//!
//! dL/da is kept in the input's rows (bi·T + t), so it meets x row for row
//! and the products over all steps read it in place.

use super::cell::{Cell, Dims, GradProbe, Saved};
use super::plan::Plan;
use crate::kernels::gemm::{matmul_prepacked_serial, PackedB};
use crate::kernels::spin_pool::SharedMut;
use crate::kernels::{gru_backward, lstm_backward, matmul, rnn_backward, MatLayout};

/// The gradients of a recurrence's inputs.
pub(super) struct Grads {
    pub(super) dx: Vec<f32>,
    pub(super) dw_ih: Vec<f32>,
    pub(super) db_ih: Vec<f32>,
    pub(super) dw_hh: Vec<f32>,
    pub(super) db_hh: Vec<f32>,
    pub(super) dh0: Vec<f32>,
    pub(super) dc0: Vec<f32>,
}

/// Σ of the rows of `m` (`width` values each), in row order.
fn row_sum(m: &[f32], width: usize) -> Vec<f32> {
    let mut s = vec![0.0f32; width];
    for row in m.chunks_exact(width.max(1)) {
        s.iter_mut().zip(row).for_each(|(a, b)| *a += b);
    }
    s
}

/// Backward through time from the gradient `g` of the packed output.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    plan: &Plan,
    s: &Saved,
    w_ih: &[f32],
    w_hh: &[f32],
    g: &[f32],
    d: Dims,
    need_x: bool,
    probe: Option<&GradProbe>,
) -> Grads {
    let cell = plan.cell;
    let (b, t_len, hs) = (d.batch, d.steps, d.hidden);
    let gh = cell.gates() * hs;
    let tail = b * t_len * hs;
    let time = |s: usize| if d.reverse { t_len - 1 - s } else { s };
    // Running gradients w.r.t. h and c of the current step.
    let mut dh = g[tail..tail + b * hs].to_vec();
    let mut dc = if cell == Cell::Lstm {
        g[tail + b * hs..].to_vec()
    } else {
        vec![0.0f32; 0]
    };
    // dL/da of every step (the input's rows bi·T + t, plan order) and, for
    // the GRU, dL/d(h-part), which differs from the x-part.
    let mut da = vec![0.0f32; t_len * b * gh];
    let mut dha = if cell == Cell::Gru {
        vec![0.0f32; t_len * b * gh]
    } else {
        Vec::new()
    };
    let mut norms = probe.map(|_| vec![0.0f32; t_len]);
    let mut dh_direct = vec![0.0f32; if cell == Cell::Gru { b * hs } else { 0 }];
    let weights: Vec<PackedB> = (0..plan.units.len())
        .map(|t| plan.backward_weights(w_hh, t))
        .collect();
    {
        let (dhb, dcb) = (SharedMut::new(&mut dh), SharedMut::new(&mut dc));
        let (dab, dhab) = (SharedMut::new(&mut da), SharedMut::new(&mut dha));
        let ddb = SharedMut::new(&mut dh_direct);
        // Part p's share of step st: dh += dy_t, then the cell's backward
        // for its rows and units into da_t (plan order).
        let cell_part = |p: usize, st: usize| {
            let t = time(st);
            let (rows, up) = plan.part(p);
            let u = plan.units[up].clone();
            let n = u.len();
            let (off, wd) = (plan.offset(up), cell.gates() * n);
            // SAFETY: part p touches only its rows and units of dh, dc,
            // dh_direct and its rows and columns of step st's da and dha.
            unsafe {
                for bi in rows {
                    let dh_u = dhb.slice(bi * hs + u.start..bi * hs + u.end);
                    let dy = &g[(bi * t_len + t) * hs..(bi * t_len + t + 1) * hs];
                    dh_u.iter_mut()
                        .zip(&dy[u.clone()])
                        .for_each(|(a, b)| *a += b);
                    // act is in step order, da in the input's (bi·T + t).
                    let row = (st * b + bi) * gh + off..(st * b + bi) * gh + off + wd;
                    let drow = (bi * t_len + t) * gh + off..(bi * t_len + t) * gh + off + wd;
                    let act = &s.act[row.clone()];
                    let cur = (st * b + bi) * hs;
                    let next = ((st + 1) * b + bi) * hs;
                    match cell {
                        Cell::Lstm => lstm_backward(
                            act,
                            &s.c[cur + u.start..cur + u.end],
                            &s.c[next + u.start..next + u.end],
                            dh_u,
                            dcb.slice(bi * hs + u.start..bi * hs + u.end),
                            dab.slice(drow),
                            n,
                        ),
                        Cell::Gru => gru_backward(
                            act,
                            &s.ha[row],
                            &s.h[cur + u.start..cur + u.end],
                            dh_u,
                            dab.slice(drow.clone()),
                            dhab.slice(drow),
                            ddb.slice(bi * hs + u.start..bi * hs + u.end),
                            n,
                        ),
                        Cell::RnnTanh | Cell::RnnRelu => {
                            rnn_backward(act, dh_u, dab.slice(drow), cell == Cell::RnnRelu)
                        }
                    }
                }
            }
        };
        // Part p's dh_{t−1}[rows, units] = (dL/d h-part)_st[rows] ·
        // W_hh[:, units] (+ the GRU's direct path).
        let through_part = |p: usize, st: usize| {
            let t = time(st);
            let (rows, up) = plan.part(p);
            let u = plan.units[up].clone();
            // SAFETY: reads step st's da of part p's rows (finished by every
            // part with those rows: in the last hand-off, or earlier in this
            // one) and writes only part p's rows and units of dh.
            unsafe {
                let through = if cell == Cell::Gru { &dhab } else { &dab };
                // Rows bi·T + t of the input's order: a stride of T rows.
                let first = (rows.start * t_len + t) * gh;
                let a = through.slice(first..first + gh).as_ptr();
                if cell == Cell::Gru {
                    for bi in rows.clone() {
                        dhb.slice(bi * hs + u.start..bi * hs + u.end)
                            .copy_from_slice(ddb.slice(bi * hs + u.start..bi * hs + u.end));
                    }
                }
                let c0 = dhb
                    .slice(rows.start * hs + u.start..rows.start * hs + u.start + 1)
                    .as_mut_ptr();
                let accumulate = cell == Cell::Gru;
                let lda = t_len * gh;
                matmul_prepacked_serial(rows.len(), a, lda, &weights[up], c0, hs, accumulate);
            }
        };
        let record = |norms: &mut Option<Vec<f32>>, st: usize| {
            if let Some(n) = norms.as_mut() {
                // SAFETY: no task runs now.
                let dh = unsafe { dhb.slice(0..b * hs) };
                let sq: f64 = dh.iter().map(|&v| (v as f64) * (v as f64)).sum();
                n[time(st)] = (sq.sqrt() / b as f64) as f32;
            }
        };
        if t_len > 0 && !plan.lockstep() && norms.is_none() {
            // Rows split: each part runs the whole sequence for its rows.
            plan.run(&|p| {
                cell_part(p, t_len - 1);
                for st in (1..t_len).rev() {
                    through_part(p, st);
                    cell_part(p, st - 1);
                }
                through_part(p, 0);
            });
        } else if t_len > 0 {
            plan.run(&|p| cell_part(p, t_len - 1));
            record(&mut norms, t_len - 1);
            // One hand-off per step: step st's product, then step st−1's cell.
            for st in (1..t_len).rev() {
                plan.run(&|p| {
                    through_part(p, st);
                    cell_part(p, st - 1);
                });
                record(&mut norms, st - 1);
            }
            plan.run(&|p| through_part(p, 0));
        }
    }
    if let (Some(p), Some(n)) = (probe, norms) {
        *p.lock() = n;
    }
    // From here on every column is in PyTorch's order.
    plan.unpermute_rows(&mut da);
    plan.unpermute_rows(&mut dha);
    // h_{t−1} of every step in the input's rows bi·T + t.
    let inp = s.x.shape()[1];
    let xv = s.x.data();
    let h_prev_row = |bi: usize, t: usize| {
        let st = time(t);
        &s.h[(st * b + bi) * hs..(st * b + bi + 1) * hs]
    };
    let rows = b * t_len;
    let (dw_ih, dw_hh, db_ih, db_hh);
    if cell == Cell::Gru {
        // The x part and the h part have gradients of their own.
        let mut h_prev = Vec::with_capacity(rows * hs);
        for bi in 0..b {
            for t in 0..t_len {
                h_prev.extend_from_slice(h_prev_row(bi, t));
            }
        }
        let product = |a: &[f32], bm: &[f32], k: usize| {
            let mut out = vec![0.0f32; gh * k];
            let (ta, nb) = (MatLayout::Transposed, MatLayout::Normal);
            matmul(gh, rows, k, a, ta, bm, nb, &mut out, false);
            out
        };
        dw_ih = product(&da, &xv, inp);
        dw_hh = product(&dha, &h_prev, hs);
        db_ih = row_sum(&da, gh);
        db_hh = row_sum(&dha, gh);
    } else {
        // One product: daᵀ·[x | h_prev], then its columns apart.
        let k = inp + hs;
        let mut xh = Vec::with_capacity(rows * k);
        for bi in 0..b {
            for t in 0..t_len {
                let r = bi * t_len + t;
                xh.extend_from_slice(&xv[r * inp..(r + 1) * inp]);
                xh.extend_from_slice(h_prev_row(bi, t));
            }
        }
        let mut both = vec![0.0f32; gh * k];
        let (ta, nb) = (MatLayout::Transposed, MatLayout::Normal);
        matmul(gh, rows, k, &da, ta, &xh, nb, &mut both, false);
        let (mut wi, mut wh) = (Vec::with_capacity(gh * inp), Vec::with_capacity(gh * hs));
        for row in both.chunks_exact(k.max(1)) {
            wi.extend_from_slice(&row[..inp]);
            wh.extend_from_slice(&row[inp..]);
        }
        dw_ih = wi;
        dw_hh = wh;
        db_ih = row_sum(&da, gh);
        db_hh = db_ih.clone();
    }
    drop(xv);
    let dx = if need_x {
        let mut dx = vec![0.0f32; rows * inp];
        let nb = MatLayout::Normal;
        matmul(rows, gh, inp, &da, nb, w_ih, nb, &mut dx, false);
        dx
    } else {
        Vec::new()
    };
    Grads {
        dx,
        dw_ih,
        db_ih,
        dw_hh,
        db_hh,
        dh0: dh,
        dc0: dc,
    }
}
