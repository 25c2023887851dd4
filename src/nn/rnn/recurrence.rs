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
//!
//! # Threads
//! Each step's product is small (batch x H x G·H) and the steps are
//! sequential, so instead of splitting every product afresh the hidden units
//! are cut into one range per thread ([`Plan`]) and each thread owns its
//! units for the whole sequence: the columns of W_hhᵀ for its units' gates,
//! packed once, and the cell update of those units, so a step is one
//! hand-off to rayon's threads and no thread waits for another inside it. Backward, a thread owns the same units: the cell's
//! backward for them, then dh_{t−1} for them from the whole da_t (rows of
//! W_hh in the same order, packed once); the two halves of consecutive steps
//! run in one hand-off. Gate columns are kept in the threads' order ("plan
//! order": thread by thread, gate by gate, unit by unit) inside the
//! recurrence and put back in PyTorch's order at its edges. Every value is
//! computed by the same code whatever the number of threads: the product
//! sums over the same `k` in the same order, so 1 and 2 threads agree bit
//! for bit.
//! The op's output packs the outputs y (rows b·T + t), then h_n, then c_n
//! (zeros for cells without one): `[B·T + 2B, H]`; the layer narrows it into
//! views.

use std::sync::Arc;

use std::ops::Range;

use parking_lot::Mutex;

use crate::kernels::gemm::{matmul_prepacked_serial, PackedB};
use rayon::prelude::*;

use crate::kernels::spin_pool::{self, SharedMut};
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

/// How one recurrence is split over the threads: by batch rows, which
/// never wait for each other, or by hidden units, which meet at every step.
struct Plan {
    cell: Cell,
    hidden: usize,
    /// The batch rows of each row part, consecutive, covering 0..batch.
    rows: Vec<Range<usize>>,
    /// The units of each unit part, consecutive, covering 0..hidden.
    units: Vec<Range<usize>>,
    /// `perm[p]`: the PyTorch column (gate·H + unit) of plan column `p`.
    perm: Vec<usize>,
}

/// How to split a recurrence: into this many parts of the batch rows or of
/// the hidden units (tests force one; otherwise [`Plan::new`] chooses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Split {
    Rows(usize),
    Units(usize),
}

/// Multiply-adds per step (batch·G·H·H) from which a recurrence is split
/// over the threads: below, a hand-off costs more than it saves.
const SPLIT_MIN_WORK: usize = 1 << 17;
/// Fewest units a thread takes.
const MIN_UNITS: usize = 8;
/// Fewest batch rows a thread takes when the rows are split.
const MIN_ROWS: usize = 8;

impl Plan {
    /// The split for this machine, or the one asked for. Rows are split
    /// when every thread gets [`MIN_ROWS`] of them: each thread then runs
    /// the whole sequence for its rows in one hand-off. Otherwise (few rows,
    /// as in generation) the units are split, one hand-off per step.
    fn new(cell: Cell, batch: usize, hidden: usize, split: Option<Split>) -> Plan {
        let g = cell.gates();
        let threads = rayon::current_num_threads();
        let split = match split {
            Some(s) => s,
            None if batch * g * hidden * hidden < SPLIT_MIN_WORK => Split::Units(1),
            None if batch / MIN_ROWS >= threads => Split::Rows(threads),
            None => Split::Units(threads.min(hidden / MIN_UNITS).max(1)),
        };
        let (row_parts, unit_parts) = match split {
            Split::Rows(p) => (p.clamp(1, batch.max(1)), 1),
            Split::Units(p) => (1, p.clamp(1, hidden.max(1))),
        };
        let rows = (0..row_parts)
            .map(|t| spin_pool::split(batch, row_parts, t))
            .collect();
        let units: Vec<Range<usize>> = (0..unit_parts)
            .map(|t| spin_pool::split(hidden, unit_parts, t))
            .collect();
        let mut perm = Vec::with_capacity(g * hidden);
        for u in &units {
            for gate in 0..g {
                perm.extend(u.clone().map(|j| gate * hidden + j));
            }
        }
        Plan {
            cell,
            hidden,
            rows,
            units,
            perm,
        }
    }

    /// Whether the parts must meet after every step (the units are split).
    fn lockstep(&self) -> bool {
        self.units.len() > 1
    }

    /// Part `p`'s batch rows and its unit part's index.
    fn part(&self, p: usize) -> (Range<usize>, usize) {
        (
            self.rows[p / self.units.len()].clone(),
            p % self.units.len(),
        )
    }

    fn parts(&self) -> usize {
        self.rows.len() * self.units.len()
    }

    fn gh(&self) -> usize {
        self.cell.gates() * self.hidden
    }

    /// First plan column of thread `t`'s gates.
    fn offset(&self, t: usize) -> usize {
        self.cell.gates() * self.units[t].start
    }

    /// Runs `f(t)` for every thread's part: on rayon's threads, or here for
    /// one. (The spin pool of the LLM was tried: its spinning worker took a
    /// core from rayon's during the products around the recurrence, and a
    /// training step was 16% slower, 2.69 against 2.31 ms.)
    fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.parts() == 1 {
            f(0);
        } else {
            (0..self.parts()).into_par_iter().for_each(f);
        }
    }

    /// Thread `t`'s columns of W_hhᵀ (`[H, G·units]`, plan order), packed.
    fn forward_weights(&self, w_hh: &[f32], t: usize) -> PackedB {
        let (h, g) = (self.hidden, self.cell.gates());
        let u = &self.units[t];
        let mut rows = Vec::with_capacity(g * u.len() * h);
        for &col in &self.perm[self.offset(t)..self.offset(t) + g * u.len()] {
            rows.extend_from_slice(&w_hh[col * h..(col + 1) * h]);
        }
        PackedB::new(h, g * u.len(), &rows, MatLayout::Transposed)
    }

    /// The rows of W_hh in plan order, thread `t`'s units' columns
    /// (`[G·H, units]`), packed: dh_{t−1}[:, units] = da_t · this.
    fn backward_weights(&self, w_hh: &[f32], t: usize) -> PackedB {
        let h = self.hidden;
        let u = &self.units[t];
        let mut m = Vec::with_capacity(self.gh() * u.len());
        for &row in &self.perm {
            m.extend_from_slice(&w_hh[row * h + u.start..row * h + u.end]);
        }
        PackedB::new(self.gh(), u.len(), &m, MatLayout::Normal)
    }

    /// Row `src` (PyTorch order) gathered into plan order for thread `t`:
    /// `dst[g·n + j] = src[g·H + units.start + j]`.
    fn gather(&self, t: usize, src: &[f32], dst: &mut [f32]) {
        let (h, u) = (self.hidden, &self.units[t]);
        let n = u.len();
        for (g, d) in dst.chunks_exact_mut(n).enumerate() {
            d.copy_from_slice(&src[g * h + u.start..g * h + u.end]);
        }
    }

    /// A whole row from plan order back to PyTorch's order.
    fn unpermute(&self, src: &[f32], dst: &mut [f32]) {
        if self.units.len() == 1 {
            // One unit part: plan order is PyTorch's.
            dst.copy_from_slice(src);
            return;
        }
        for (&col, &v) in self.perm.iter().zip(src) {
            dst[col] = v;
        }
    }
}

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
    recurrence_split(cell, xa, w_hh, b_hh, h0, c0, d, probe, None)
}

/// [`recurrence`] split over the threads as `split` says (None: as this
/// machine's threads and the sizes say).
#[allow(clippy::too_many_arguments)]
pub(crate) fn recurrence_split(
    cell: Cell,
    xa: &Tensor,
    w_hh: &Tensor,
    b_hh: Option<&Tensor>,
    h0: &Tensor,
    c0: Option<&Tensor>,
    d: Dims,
    probe: Option<GradProbe>,
    split: Option<Split>,
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
    let plan = Arc::new(Plan::new(cell, b, hs, split));
    let xav = xa.data();
    let wv = w_hh.data();
    let bv = b_hh.map(|b| b.data());
    // Buffers in processing order s = 0..T: h_buf[s] is h before step s.
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
    // Gate activations of every step, plan order.
    let mut act = vec![0.0f32; t_len * b * gh];
    // GRU keeps h·W_hhᵀ + b_hh of every step (its n part is needed backward).
    let mut ha_buf = if cell == Cell::Gru {
        vec![0.0f32; t_len * b * gh]
    } else {
        Vec::new()
    };
    let weights: Vec<PackedB> = (0..plan.units.len())
        .map(|t| plan.forward_weights(&wv, t))
        .collect();
    let time = |s: usize| if d.reverse { t_len - 1 - s } else { s };
    {
        let (hb, cb) = (SharedMut::new(&mut h_buf), SharedMut::new(&mut c_buf));
        let (ab, hab) = (SharedMut::new(&mut act), SharedMut::new(&mut ha_buf));
        // b_hh in plan order, once for all steps.
        let bias: Option<Vec<f32>> = bv.as_deref().map(|b| {
            let mut v = vec![0.0f32; gh];
            for (d, &col) in v.iter_mut().zip(&plan.perm) {
                *d = b[col];
            }
            v
        });
        // Part p's step s: its rows, its units.
        let step = |p: usize, s: usize| {
            let t = time(s);
            let (rows, up) = plan.part(p);
            let u = plan.units[up].clone();
            let n = u.len();
            let (off, w) = (plan.offset(up), cell.gates() * u.len());
            // SAFETY: in step s part p writes only its own rows and columns
            // (off..off + w of its rows of step s's activations, its units
            // of its rows of h and c at step s + 1) and reads h and c at step
            // s, which nobody writes now; the buffers outlive the loop.
            unsafe {
                let a_step = s * b * gh;
                let target = if cell == Cell::Gru { &hab } else { &ab };
                // Pre-fill with b_hh (+ x·W_ihᵀ + b_ih but for the GRU),
                // then add h_{t−1}·W_hhᵀ for this part's columns.
                for bi in rows.clone() {
                    let row = target.slice(a_step + bi * gh + off..a_step + bi * gh + off + w);
                    match &bias {
                        Some(bias) => row.copy_from_slice(&bias[off..off + w]),
                        None => row.fill(0.0),
                    }
                    if cell != Cell::Gru {
                        let x = &xav[(bi * t_len + t) * gh..(bi * t_len + t + 1) * gh];
                        for (g, r) in row.chunks_exact_mut(n).enumerate() {
                            r.iter_mut()
                                .zip(&x[g * hs + u.start..g * hs + u.end])
                                .for_each(|(a, x)| *a += x);
                        }
                    }
                }
                let h_prev = hb.slice((s * b + rows.start) * hs..(s * b + rows.end) * hs);
                let c_row0 = target
                    .slice(a_step + rows.start * gh + off..a_step + rows.start * gh + off + 1)
                    .as_mut_ptr();
                matmul_prepacked_serial(
                    rows.len(),
                    h_prev.as_ptr(),
                    hs,
                    &weights[up],
                    c_row0,
                    gh,
                    true,
                );
                let mut xa_t = vec![0.0f32; if cell == Cell::Gru { w } else { 0 }];
                for bi in rows {
                    let a_row = ab.slice(a_step + bi * gh + off..a_step + bi * gh + off + w);
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
                        Cell::Gru => {
                            let x = &xav[(bi * t_len + t) * gh..(bi * t_len + t + 1) * gh];
                            plan.gather(up, x, &mut xa_t);
                            gru_forward(
                                &xa_t,
                                hab.slice(a_step + bi * gh + off..a_step + bi * gh + off + w),
                                hb.slice(cur + u.start..cur + u.end),
                                a_row,
                                h_next,
                                n,
                            );
                        }
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
                plan.run(&|p| step(p, s));
            }
        } else {
            plan.run(&|p| (0..t_len).for_each(|s| step(p, s)));
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
        let grads = backward(&plan, &saved, &w.data(), &g.data(), d, probe.as_ref());
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
    /// Gate activations of each step `[T·B, G·H]`, plan order (RNN: h').
    act: Vec<f32>,
    /// GRU: h·W_hhᵀ + b_hh of each step, plan order.
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
    plan: &Plan,
    s: &Saved,
    w: &[f32],
    g: &[f32],
    d: Dims,
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
    // dL/da of every step (processing order, plan order) and, for the GRU,
    // dL/d(h-part), which differs from the x-part.
    let mut da = vec![0.0f32; t_len * b * gh];
    let mut dha = if cell == Cell::Gru {
        vec![0.0f32; t_len * b * gh]
    } else {
        Vec::new()
    };
    let mut norms = probe.map(|_| vec![0.0f32; t_len]);
    let mut dh_direct = vec![0.0f32; if cell == Cell::Gru { b * hs } else { 0 }];
    let weights: Vec<PackedB> = (0..plan.units.len())
        .map(|t| plan.backward_weights(w, t))
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
    let dh_part: &[f32] = if cell == Cell::Gru { &dha } else { &da };
    // dW_hh = Σ_t (dL/d h-part)_tᵀ · h_{t-1}: one product over all steps
    // (h_{t−1} gathered into da's rows bi·T + t), its rows in plan order,
    // then put back.
    let mut h_prev = Vec::with_capacity(b * t_len * hs);
    for bi in 0..b {
        for t in 0..t_len {
            let st = time(t);
            h_prev.extend_from_slice(&s.h[(st * b + bi) * hs..(st * b + bi + 1) * hs]);
        }
    }
    let mut dw_plan = vec![0.0f32; gh * hs];
    matmul(
        gh,
        t_len * b,
        hs,
        dh_part,
        MatLayout::Transposed,
        &h_prev,
        MatLayout::Normal,
        &mut dw_plan,
        false,
    );
    let mut dw = vec![0.0f32; gh * hs];
    for (p, &row) in plan.perm.iter().enumerate() {
        dw[row * hs..(row + 1) * hs].copy_from_slice(&dw_plan[p * hs..(p + 1) * hs]);
    }
    let mut db_plan = vec![0.0f32; gh];
    for row in dh_part.chunks_exact(gh) {
        db_plan.iter_mut().zip(row).for_each(|(a, b)| *a += b);
    }
    let mut db = vec![0.0f32; gh];
    plan.unpermute(&db_plan, &mut db);
    // dL/dxa: da is in the input's rows already; its columns go back to
    // PyTorch's order when the units were split.
    let mut dxa = da;
    if plan.units.len() > 1 {
        let mut row = vec![0.0f32; gh];
        for r in dxa.chunks_exact_mut(gh) {
            plan.unpermute(r, &mut row);
            r.copy_from_slice(&row);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{Generator, Tensor};

    /// Outputs and every gradient of one recurrence split as `split` says
    /// (with the gradient-norm probe or without).
    fn run(cell: Cell, split: Split, reverse: bool, probe: Option<&GradProbe>) -> Vec<Vec<f32>> {
        let (b, t, h) = (7, 5, 19);
        let gh = cell.gates() * h;
        let mut g = Generator::new(11);
        let xa = Tensor::randn_with(&[b * t, gh], 0.0, 1.0, &mut g).requires_grad_(true);
        let w = Tensor::randn_with(&[gh, h], 0.0, 0.3, &mut g).requires_grad_(true);
        let bias = Tensor::randn_with(&[gh], 0.0, 0.3, &mut g).requires_grad_(true);
        let h0 = Tensor::randn_with(&[b, h], 0.0, 1.0, &mut g).requires_grad_(true);
        let c0 = Tensor::randn_with(&[b, h], 0.0, 1.0, &mut g).requires_grad_(true);
        let lstm = cell == Cell::Lstm;
        let d = Dims {
            batch: b,
            steps: t,
            hidden: h,
            reverse,
        };
        let out = recurrence_split(
            cell,
            &xa,
            &w,
            Some(&bias),
            &h0,
            lstm.then_some(&c0),
            d,
            probe.cloned(),
            Some(split),
        );
        let weights = Tensor::randn_with(out.shape(), 0.0, 1.0, &mut g);
        out.mul(&weights).sum().backward();
        let mut v = vec![out.to_vec()];
        for p in [&xa, &w, &bias, &h0] {
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
