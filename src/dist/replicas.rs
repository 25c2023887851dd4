//! Replicas of one data-parallel training run, over any [`Collective`]
//! (MPI in `dist::mpi`).
//!
//! Every replica (rank r of N) holds the whole model and draws the same
//! global batch of B rows; it trains on its own contiguous share
//!
//! ```text
//! rows [start_r, start_r + n_r),  n_r = ⌊B/N⌋ + (r < B mod N),  Σ n_r = B
//! ```
//!
//! and weights its mean loss by n_r / B, so that the sum of the replicas'
//! gradients is the gradient of the global batch's mean loss:
//!
//! ```text
//! ∇L = Σ_r (n_r / B) ∇L_r          (one allreduce-sum per bucket)
//! ```
//!
//! Gradients travel in a few large buckets (contiguous runs of parameters,
//! at most [`BUCKET_FLOATS`] values each), not one call per tensor. Small
//! scalars that every step needs (the loss, non-finite flags, a stop
//! request) ride in the last bucket.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::data::{Batch, BatchTargets, Inputs, TokenBatch};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// What replicas need from each other: sums, a broadcast, a gather.
/// Every replica calls the same methods in the same order.
pub trait Collective {
    /// This replica's index, 0-based.
    fn rank(&self) -> usize;
    /// The number of replicas.
    fn size(&self) -> usize;
    /// Element-wise sum of every replica's `send` into `recv` (same
    /// length); every replica gets it.
    fn sum_f32(&self, send: &[f32], recv: &mut [f32]);
    /// The same in f64.
    fn sum_f64(&self, send: &[f64], recv: &mut [f64]);
    /// Rank 0's `buf` on every replica, in place (equal lengths everywhere).
    fn broadcast_f32(&self, buf: &mut [f32]);
    /// Every replica's bytes, in rank order.
    fn all_gather_bytes(&self, bytes: &[u8]) -> Vec<Vec<u8>>;
    /// Where rank `r` runs (a host name), for messages.
    fn host(&self, r: usize) -> String;
}

/// Gradient values per bucket (16 MiB of f32, PyTorch DDP's 25 MB order).
pub const BUCKET_FLOATS: usize = 1 << 22;

/// The rows `[start, start + len)` of a global batch of `rows` that rank
/// `rank` of `size` trains on.
pub fn share_range(rows: usize, rank: usize, size: usize) -> (usize, usize) {
    let base = rows / size;
    let extra = rows % size;
    let start = rank * base + rank.min(extra);
    (start, base + usize::from(rank < extra))
}

/// Rows `[start, start + len)` of a batch (inputs and targets).
pub fn batch_rows(b: &Batch, start: usize, len: usize) -> Batch {
    let rows = b.len();
    let inputs = match &b.inputs {
        Inputs::Features(x) => Inputs::Features(rows_of(x, rows, start, len)),
        Inputs::Tokens(t) => Inputs::Tokens(TokenBatch::new(
            t.ids[start * t.len..(start + len) * t.len].to_vec(),
            len,
            t.len,
        )),
    };
    let targets = match &b.targets {
        BatchTargets::Classes(c) => {
            let per = c.len() / rows.max(1);
            BatchTargets::Classes(c[start * per..(start + len) * per].to_vec())
        }
        BatchTargets::Values(v) => BatchTargets::Values(rows_of(v, rows, start, len)),
    };
    Batch { inputs, targets }
}

fn rows_of(x: &Tensor, rows: usize, start: usize, len: usize) -> Tensor {
    let per = x.numel() / rows.max(1);
    let mut shape = x.shape().to_vec();
    shape[0] = len;
    Tensor::from_vec(x.data()[start * per..(start + len) * per].to_vec(), &shape)
}

/// What the collectives of a run cost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CommStats {
    /// Time inside gradient sums.
    pub gradient_seconds: f64,
    /// Gradient sums (steps) and the calls they made (buckets).
    pub gradient_reductions: usize,
    /// Collective calls made for them (one per bucket).
    pub gradient_calls: usize,
    /// Gradient values summed per step.
    pub gradient_floats: usize,
    /// Time inside every other collective (metrics, broadcasts, checks).
    pub other_seconds: f64,
}

struct Inner {
    comm: Box<dyn Collective>,
    bucket_floats: usize,
    send: RefCell<Vec<f32>>,
    stats: Cell<CommStats>,
    stop_signal: Cell<Option<fn() -> bool>>,
    stop_requested: Cell<bool>,
}

/// A handle on this process's place among the replicas (cheap to clone).
#[derive(Clone)]
pub struct Replicas {
    inner: Rc<Inner>,
}

impl fmt::Debug for Replicas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Replicas(rank {} of {})", self.rank(), self.size())
    }
}

/// The reduced scalars of one step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepSums {
    /// Σ over replicas and batches of (n_r / B) / accum · loss_r: the
    /// step's mean loss.
    pub loss: f64,
    /// The first of the step's batches whose loss was NaN or infinite on
    /// some replica.
    pub non_finite: Option<usize>,
}

impl Replicas {
    /// Replicas over `comm`.
    pub fn new(comm: Box<dyn Collective>) -> Replicas {
        Replicas::with_bucket(comm, BUCKET_FLOATS)
    }

    /// Replicas whose gradient buckets hold at most `floats` values.
    pub fn with_bucket(comm: Box<dyn Collective>, floats: usize) -> Replicas {
        Replicas {
            inner: Rc::new(Inner {
                comm,
                bucket_floats: floats.max(1),
                send: RefCell::new(Vec::new()),
                stats: Cell::new(CommStats::default()),
                stop_signal: Cell::new(None),
                stop_requested: Cell::new(false),
            }),
        }
    }

    /// This process's rank, 0-based.
    pub fn rank(&self) -> usize {
        self.inner.comm.rank()
    }

    /// Number of ranks.
    pub fn size(&self) -> usize {
        self.inner.comm.size()
    }

    /// Whether this is rank 0, the one that prints and writes.
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// The host of rank `r`.
    pub fn host(&self, r: usize) -> String {
        self.inner.comm.host(r)
    }

    /// The collective underneath.
    pub fn comm(&self) -> &dyn Collective {
        self.inner.comm.as_ref()
    }

    /// What the collectives cost so far.
    pub fn stats(&self) -> CommStats {
        self.inner.stats.get()
    }

    /// A local check (Ctrl-C) whose answer every step shares: when it is
    /// true on any replica, [`Replicas::stop_requested`] is true on all
    /// after that step.
    pub fn set_stop_signal(&self, f: fn() -> bool) {
        self.inner.stop_signal.set(Some(f));
    }

    /// Whether some replica asked to stop at the last step.
    pub fn stop_requested(&self) -> bool {
        self.inner.stop_requested.get()
    }

    fn other<T>(&self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        let mut s = self.inner.stats.get();
        s.other_seconds += t.elapsed().as_secs_f64();
        self.inner.stats.set(s);
        r
    }

    /// This replica's share of a global batch and its weight n_r / B, or
    /// None when the share is empty (a last batch smaller than N).
    pub fn share(&self, b: &Batch) -> Option<(Batch, f32)> {
        let rows = b.len();
        let (start, len) = share_range(rows, self.rank(), self.size());
        if len == 0 {
            return None;
        }
        let w = len as f32 / rows as f32;
        if len == rows {
            return Some((b.clone(), w));
        }
        Some((batch_rows(b, start, len), w))
    }

    /// Sums the (already weighted) gradients of `params` over the replicas
    /// in buckets, with this replica's weighted loss and the indices of its
    /// batches whose loss was not finite (out of `batches`). A parameter no
    /// replica has a gradient for keeps none.
    pub fn sum_gradients(
        &self,
        params: &[Tensor],
        loss: f64,
        non_finite: &[usize],
        batches: usize,
    ) -> StepSums {
        let t = Instant::now();
        let np = params.len();
        // Extra values: loss, one flag per batch, one per parameter, stop.
        let extra = 1 + batches + np + 1;
        let sizes: Vec<usize> = params.iter().map(Tensor::numel).collect();
        let total: usize = sizes.iter().sum::<usize>() + extra;
        let cap = self.inner.bucket_floats;
        let mut send = self.inner.send.borrow_mut();
        let mut recv = vec![0.0f32; total.min(cap.max(extra))];
        let grads: Vec<Option<Tensor>> = params.iter().map(Tensor::grad).collect();
        let mut calls = 0;
        // Buckets: runs of whole parameters up to `cap` values (a larger
        // parameter goes alone), the extra values appended to the last.
        let mut i = 0;
        while i < np || calls == 0 {
            let mut j = i;
            let mut n = 0;
            while j < np && (n == 0 || n + sizes[j] <= cap) {
                n += sizes[j];
                j += 1;
            }
            let last = j == np;
            let len = n + if last { extra } else { 0 };
            send.clear();
            send.resize(len, 0.0);
            let mut off = 0;
            for k in i..j {
                if let Some(g) = &grads[k] {
                    send[off..off + sizes[k]].copy_from_slice(&g.data());
                }
                off += sizes[k];
            }
            if last {
                send[off] = loss as f32;
                for &b in non_finite {
                    send[off + 1 + b] = 1.0;
                }
                for (k, g) in grads.iter().enumerate() {
                    send[off + 1 + batches + k] = f32::from(g.is_some());
                }
                let stop = self.inner.stop_signal.get().is_some_and(|f| f());
                send[off + 1 + batches + np] = f32::from(stop);
            }
            if recv.len() < len {
                recv.resize(len, 0.0);
            }
            self.inner.comm.sum_f32(&send, &mut recv[..len]);
            calls += 1;
            let flags = if last {
                Some(&recv[n + 1 + batches..n + 1 + batches + np])
            } else {
                None
            };
            let mut off = 0;
            for k in i..j {
                let v = &recv[off..off + sizes[k]];
                let any = flags.is_none_or(|f| f[k] > 0.0) || grads[k].is_some();
                match &grads[k] {
                    Some(g) => g.data_mut().copy_from_slice(v),
                    None if any => {
                        params[k].set_grad(Some(Tensor::from_vec(v.to_vec(), params[k].shape())))
                    }
                    None => {}
                }
                off += sizes[k];
            }
            if last {
                // Parameters of earlier buckets whose gradient is None here
                // but exists elsewhere got one above (any = true); one that
                // no replica has keeps none: drop what was set.
                for k in 0..i {
                    if grads[k].is_none() && recv[n + 1 + batches + k] == 0.0 {
                        params[k].set_grad(None);
                    }
                }
                let loss = recv[n] as f64;
                let nf = (0..batches).find(|&b| recv[n + 1 + b] > 0.0);
                self.inner
                    .stop_requested
                    .set(recv[n + 1 + batches + np] > 0.0);
                drop(send);
                let mut s = self.inner.stats.get();
                s.gradient_seconds += t.elapsed().as_secs_f64();
                s.gradient_reductions += 1;
                s.gradient_calls += calls;
                s.gradient_floats = total - extra;
                self.inner.stats.set(s);
                return StepSums {
                    loss,
                    non_finite: nf,
                };
            }
            i = j;
        }
        unreachable!("the last bucket returns")
    }

    /// Rank 0's values of these tensors on every replica (weights, buffers).
    pub fn broadcast_tensors(&self, tensors: &[Tensor]) {
        self.other(|| {
            let total: usize = tensors.iter().map(Tensor::numel).sum();
            let mut buf = Vec::with_capacity(total);
            for t in tensors {
                buf.extend_from_slice(&t.data());
            }
            self.inner.comm.broadcast_f32(&mut buf);
            let mut off = 0;
            for t in tensors {
                let n = t.numel();
                t.data_mut().copy_from_slice(&buf[off..off + n]);
                off += n;
            }
        })
    }

    /// Rank 0's bytes on every replica.
    pub fn broadcast_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        self.other(|| {
            let mut all =
                self.inner
                    .comm
                    .all_gather_bytes(if self.is_root() { &bytes } else { &[] });
            std::mem::take(&mut all[0])
        })
    }

    /// Element-wise sums over the replicas (metrics).
    pub fn sum_f64(&self, buf: &mut [f64]) {
        self.other(|| {
            let send = buf.to_vec();
            self.inner.comm.sum_f64(&send, buf)
        })
    }

    /// Every replica's bytes in rank order.
    pub fn all_gather_bytes(&self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.other(|| self.inner.comm.all_gather_bytes(bytes))
    }

    /// Makes the replicas agree: when any replica's `local` is an error,
    /// every replica returns an error naming the ranks that failed (marked
    /// as shared, so that only rank 0 prints it); otherwise every replica
    /// gets rank 0's bytes.
    pub fn agree(&self, local: Result<Vec<u8>>) -> Result<Vec<u8>> {
        let mine = match &local {
            Ok(b) if self.is_root() => [&[0u8][..], b].concat(),
            Ok(_) => vec![0u8],
            Err(e) => [&[1u8][..], e.message().as_bytes()].concat(),
        };
        let all = self.all_gather_bytes(&mine);
        let failed: Vec<(usize, String)> = all
            .iter()
            .enumerate()
            .filter(|(_, b)| b.first() == Some(&1))
            .map(|(r, b)| (r, String::from_utf8_lossy(&b[1..]).into_owned()))
            .collect();
        if failed.is_empty() {
            return Ok(all[0][1..].to_vec());
        }
        let n = self.size();
        let msg = if failed.len() == n && failed.iter().all(|(_, m)| *m == failed[0].1) {
            failed[0].1.clone()
        } else {
            failed
                .iter()
                .map(|(r, m)| format!("rank {r} of {n} (on {}): {m}", self.host(*r)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        Err(Error::new(msg).shared())
    }

    /// [`Replicas::agree`] on a value that only matters as a success.
    pub fn agree_ok(&self, local: Result<()>) -> Result<()> {
        self.agree(local.map(|_| Vec::new())).map(|_| ())
    }

    /// Checks that every replica computed the same checksums (named in
    /// `what`, e.g. "config", "training data"); the error names the ranks
    /// that differ from rank 0 and their hosts.
    pub fn check_same(&self, what: &[(&str, u64)]) -> Result<()> {
        let mine: Vec<u8> = what.iter().flat_map(|(_, h)| h.to_le_bytes()).collect();
        let all = self.all_gather_bytes(&mine);
        let mut problems = Vec::new();
        for (r, theirs) in all.iter().enumerate().skip(1) {
            for (k, (name, _)) in what.iter().enumerate() {
                let a = &all[0][k * 8..k * 8 + 8];
                let b = theirs.get(k * 8..k * 8 + 8).unwrap_or(&[]);
                if a != b {
                    problems.push(format!(
                        "rank {r} (on {}) has a different {name} than rank 0 (on {}): checksum {:016x}, rank 0's {:016x}",
                        self.host(r),
                        self.host(0),
                        u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
                        u64::from_le_bytes(a.try_into().unwrap_or([0; 8])),
                    ));
                }
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(Error::new(format!(
            "the ranks of this job disagree: {}. Every rank must read the same config and the same data: \
             check that each host has identical copies (or one shared file system) and that every rank got the same command line",
            problems.join("; ")
        ))
        .shared())
    }

    /// Time spent in gradient sums as a share of `elapsed`.
    pub fn gradient_share(&self, elapsed: Duration) -> f64 {
        self.stats().gradient_seconds / elapsed.as_secs_f64().max(1e-9)
    }
}

/// FNV-1a, 64 bits: a checksum of bytes (not cryptographic).
#[derive(Clone, Copy, Debug)]
pub struct Checksum(u64);

impl Default for Checksum {
    fn default() -> Checksum {
        Checksum(0xcbf2_9ce4_8422_2325)
    }
}

impl Checksum {
    /// The FNV-1a offset basis.
    pub fn new() -> Checksum {
        Checksum::default()
    }
    /// Mixes in bytes (an FNV-1a step each).
    pub fn bytes(&mut self, b: &[u8]) -> &mut Checksum {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }
    /// Mixes in values, an FNV-1a step per value's 32 bits.
    pub fn f32s(&mut self, v: &[f32]) -> &mut Checksum {
        // Word-wise (4 bytes at a time) for speed on large data.
        for &x in v {
            self.0 ^= u64::from(x.to_bits());
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }
    /// Mixes in a u64's little-endian bytes.
    pub fn u64(&mut self, x: u64) -> &mut Checksum {
        self.bytes(&x.to_le_bytes())
    }
    /// The checksum so far.
    pub fn value(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_batch_once() {
        for rows in 0..20 {
            for size in 1..6 {
                let mut next = 0;
                for r in 0..size {
                    let (s, l) = share_range(rows, r, size);
                    assert_eq!(s, next);
                    next += l;
                }
                assert_eq!(next, rows);
            }
        }
        assert_eq!(share_range(10, 0, 3), (0, 4));
        assert_eq!(share_range(10, 2, 3), (7, 3));
    }

    #[test]
    fn batch_rows_slices_inputs_and_targets() {
        let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[4, 3]);
        let b = Batch {
            inputs: Inputs::Features(x),
            targets: BatchTargets::Classes(vec![0, 1, 2, 3]),
        };
        let s = batch_rows(&b, 1, 2);
        assert_eq!(s.inputs.features().to_vec(), vec![3., 4., 5., 6., 7., 8.]);
        assert_eq!(s.inputs.features().shape(), &[2, 3]);
        let BatchTargets::Classes(c) = &s.targets else {
            panic!()
        };
        assert_eq!(c, &vec![1, 2]);
        let t = Batch {
            inputs: Inputs::Tokens(TokenBatch::new((0..6).collect(), 3, 2)),
            targets: BatchTargets::Classes((10..16).collect()),
        };
        let s = batch_rows(&t, 2, 1);
        assert_eq!(s.inputs.tokens().ids, vec![4, 5]);
        let BatchTargets::Classes(c) = &s.targets else {
            panic!()
        };
        assert_eq!(c, &vec![14, 15]);
    }
}
