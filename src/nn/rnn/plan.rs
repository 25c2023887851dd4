//! How one recurrence is split over the threads ([`Plan`]), and the
//! order its gate columns are kept in.
//!
//! Each step's product is small (rows x H x G·H) and the steps are
//! sequential, so instead of splitting every product afresh each thread
//! owns a part of the problem for the whole sequence, in one of two ways:
//!
//! - **Rows** (when every thread gets [`MIN_ROWS`] batch rows): the rows of
//!   a batch never meet, so each thread runs the whole sequence, forward or
//!   backward, for its rows in one hand-off to rayon, against the same
//!   packed weights.
//! - **Units** (few rows, as in generation): each thread owns a range of
//!   hidden units: the columns of W_ihᵀ and W_hhᵀ for its units' gates,
//!   packed once, and the cell update of those units, so a step is one
//!   hand-off and no thread waits for another inside it. Backward a thread
//!   owns the same units: the cell's backward for them, then dh_{t−1} for
//!   them from the whole da_t (rows of W_hh in the same order, packed
//!   once). Gate columns are then kept in the threads' order ("plan order":
//!   thread by thread, gate by gate, unit by unit) inside the recurrence and
//!   put back in PyTorch's order at its edges.
//!
//! Every value is computed by the same code whatever the split: a product
//! sums over the same `k` in the same order for every row and column, so 1
//! and 2 threads agree bit for bit.

use std::ops::Range;

use rayon::prelude::*;

use super::cell::Cell;
use crate::kernels::gemm::PackedB;
use crate::kernels::spin_pool;
use crate::kernels::MatLayout;

/// How one recurrence is split over the threads: by batch rows, which
/// never wait for each other, or by hidden units, which meet at every step.
pub(super) struct Plan {
    pub(super) cell: Cell,
    pub(super) hidden: usize,
    /// The batch rows of each row part, consecutive, covering 0..batch.
    pub(super) rows: Vec<Range<usize>>,
    /// The units of each unit part, consecutive, covering 0..hidden.
    pub(super) units: Vec<Range<usize>>,
    /// `perm[p]`: the PyTorch column (gate·H + unit) of plan column `p`.
    pub(super) perm: Vec<usize>,
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
    pub(super) fn new(cell: Cell, batch: usize, hidden: usize, split: Option<Split>) -> Plan {
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
    pub(super) fn lockstep(&self) -> bool {
        self.units.len() > 1
    }

    /// Part `p`'s batch rows and its unit part's index.
    pub(super) fn part(&self, p: usize) -> (Range<usize>, usize) {
        (
            self.rows[p / self.units.len()].clone(),
            p % self.units.len(),
        )
    }

    pub(super) fn parts(&self) -> usize {
        self.rows.len() * self.units.len()
    }

    pub(super) fn gh(&self) -> usize {
        self.cell.gates() * self.hidden
    }

    /// First plan column of thread `t`'s gates.
    pub(super) fn offset(&self, t: usize) -> usize {
        self.cell.gates() * self.units[t].start
    }

    /// Runs `f(t)` for every thread's part: on rayon's threads, or here for
    /// one. (The spin pool of the LLM was tried: its spinning worker took a
    /// core from rayon's during the products around the recurrence, and a
    /// training step was 16% slower, 2.69 against 2.31 ms.)
    pub(super) fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.parts() == 1 {
            f(0);
        } else {
            (0..self.parts()).into_par_iter().for_each(f);
        }
    }

    /// Unit part `t`'s columns of the right operand `[k, G·units]` (plan
    /// order), packed, whose column for PyTorch's row `r` stacks row `r` of
    /// each block: `blocks` are `(matrix [G·H, k_i], k_i)` (a weight, or a
    /// bias with k_i = 1), k = Σ k_i.
    pub(super) fn forward_weights(&self, blocks: &[(&[f32], usize)], t: usize) -> PackedB {
        let g = self.cell.gates();
        let u = &self.units[t];
        let k: usize = blocks.iter().map(|b| b.1).sum();
        let mut rows = Vec::with_capacity(g * u.len() * k);
        for &col in &self.perm[self.offset(t)..self.offset(t) + g * u.len()] {
            for &(m, ki) in blocks {
                rows.extend_from_slice(&m[col * ki..(col + 1) * ki]);
            }
        }
        PackedB::new(k, g * u.len(), &rows, MatLayout::Transposed)
    }

    /// The rows of W_hh in plan order, thread `t`'s units' columns
    /// (`[G·H, units]`), packed: dh_{t−1}[:, units] = da_t · this.
    pub(super) fn backward_weights(&self, w_hh: &[f32], t: usize) -> PackedB {
        let h = self.hidden;
        let u = &self.units[t];
        let mut m = Vec::with_capacity(self.gh() * u.len());
        for &row in &self.perm {
            m.extend_from_slice(&w_hh[row * h + u.start..row * h + u.end]);
        }
        PackedB::new(self.gh(), u.len(), &m, MatLayout::Normal)
    }

    /// Rows of `G·H` values (`m`) from plan order back to PyTorch's, in
    /// place (nothing to do for one unit part: its order is PyTorch's).
    pub(super) fn unpermute_rows(&self, m: &mut [f32]) {
        if self.units.len() == 1 {
            return;
        }
        let mut row = vec![0.0f32; self.gh()];
        for r in m.chunks_exact_mut(self.gh()) {
            for (&col, &v) in self.perm.iter().zip(r.iter()) {
                row[col] = v;
            }
            r.copy_from_slice(&row);
        }
    }
}
