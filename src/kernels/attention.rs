//! Scaled dot-product attention, fused: for each (batch, head) one pass
//! computes the scores, applies the mask, takes the softmax and the weighted
//! sum of the values; the backward pass is fused the same way.
//!
//! For query i and key j of one head (vectors of d values):
//!   s_ij = (q_i · k_j)·scale (+ bias_ij),   scale = 1/√d by default
//!   p_ij = softmax_j(s_ij)  over the keys query i may see
//!   y_i  = Σ_j p'_ij v_j,   p' = p, or with dropout p·m/(1 − p_drop), m ∈ {0, 1}
//! Backward, from dy_i:
//!   dv_j += p'_ij dy_i;   dp_ij = (dy_i · v_j)·m_ij/(1 − p_drop)
//!   ds_ij = p_ij (dp_ij − Σ_k p_ik dp_ik)·scale
//!   dq_i = Σ_j ds_ij k_j;   dk_j += ds_ij q_i
//!
//! A causal mask lets query i see keys j ≤ i + offset (offset 0 for
//! self-attention; the number of cached positions when new queries are
//! appended to a KV cache): the loops stop at that key, so the masked half of
//! the score matrix is never computed. A key padding mask removes keys of
//! one sequence; a bias matrix is added to every head's scores (−∞ forbids).
//! A query that may see no key gets weights 0 and output 0 (PyTorch gives NaN).
//!
//! q, k, v and the output are read and written through [`HeadLayout`]s, so
//! the heads of nanoGPT's `c_attn` output `[B, T, 3E]` (q, k, v side by side,
//! head h at columns h·d..) and a sequence-first `[T, B, E]` input are used
//! where they lie: no split, no transpose, no copy. The softmax weights
//! `[B, H, L, S]` are kept for the backward pass (and for pictures).

use rayon::prelude::*;

use super::simd::{self, simd_dispatch};

/// Where the d values of (batch b, position t, head h) start:
/// `offset + b·batch_stride + t·row_stride + h·head_stride`, then contiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadLayout {
    pub offset: usize,
    pub batch_stride: usize,
    pub row_stride: usize,
    pub head_stride: usize,
}

impl HeadLayout {
    /// Part `part` (0 = q, 1 = k, 2 = v) of a packed `[B, T, 3E]` projection
    /// (nanoGPT's `c_attn` output; PyTorch's `in_proj` of self-attention).
    pub fn packed_qkv(len: usize, embd: usize, heads: usize, part: usize) -> HeadLayout {
        HeadLayout {
            offset: part * embd,
            batch_stride: len * 3 * embd,
            row_stride: 3 * embd,
            head_stride: embd / heads.max(1),
        }
    }

    /// `[B, T, E]` with the heads side by side in each row.
    pub fn batch_first(len: usize, embd: usize, heads: usize) -> HeadLayout {
        HeadLayout {
            offset: 0,
            batch_stride: len * embd,
            row_stride: embd,
            head_stride: embd / heads.max(1),
        }
    }

    /// `[T, B, E]` (PyTorch's default sequence-first layout).
    pub fn seq_first(batch: usize, embd: usize, heads: usize) -> HeadLayout {
        HeadLayout {
            offset: 0,
            batch_stride: embd,
            row_stride: batch * embd,
            head_stride: embd / heads.max(1),
        }
    }

    #[inline(always)]
    fn at(&self, b: usize, t: usize, h: usize) -> usize {
        self.offset + b * self.batch_stride + t * self.row_stride + h * self.head_stride
    }

    /// One past the last value read for `batch × rows × heads` vectors of `d`.
    fn extent(&self, batch: usize, rows: usize, heads: usize, d: usize) -> usize {
        if batch * rows * heads == 0 {
            return 0;
        }
        self.at(batch - 1, rows - 1, heads - 1) + d
    }

    /// Whether no two vectors overlap (so threads may write them apart):
    /// each stride, smallest first, clears everything the smaller ones span.
    fn injective(&self, batch: usize, rows: usize, heads: usize, d: usize) -> bool {
        let mut dims = [
            (batch, self.batch_stride),
            (rows, self.row_stride),
            (heads, self.head_stride),
        ];
        dims.sort_by_key(|&(_, s)| s);
        let mut span = d;
        for (count, stride) in dims {
            if count <= 1 {
                continue;
            }
            if stride < span {
                return false;
            }
            span += (count - 1) * stride;
        }
        true
    }
}

/// The sizes of one attention call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnDims {
    pub batch: usize,
    pub heads: usize,
    /// Queries per sequence (L).
    pub q_len: usize,
    /// Keys and values per sequence (S).
    pub kv_len: usize,
    /// Values per head vector (d).
    pub head_dim: usize,
}

impl AttnDims {
    /// Values of the softmax weights `[B, H, L, S]`.
    pub fn probs_len(&self) -> usize {
        self.batch * self.heads * self.q_len * self.kv_len
    }
}

/// Which keys each query may see.
#[derive(Clone, Copy, Debug, Default)]
pub struct AttnMask<'a> {
    /// Query i sees only keys j ≤ i + offset.
    pub causal: Option<usize>,
    /// `[B, S]`: true marks a padding key, never attended.
    pub key_padding: Option<&'a [bool]>,
    /// `[L, S]`: added to every head's scores (−∞ forbids).
    pub bias: Option<&'a [f32]>,
}

impl AttnMask<'_> {
    /// Keys `0..end` are the ones query `i` may see (before padding and bias).
    #[inline(always)]
    fn end(&self, i: usize, kv_len: usize) -> usize {
        match self.causal {
            Some(off) => (i + off + 1).min(kv_len),
            None => kv_len,
        }
    }
}

/// Dropout on the attention weights: probability `p`, masks drawn from `seed`
/// (the same draws in the backward pass, so nothing is stored).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnDropout {
    pub p: f32,
    pub seed: u64,
}

/// SplitMix64: the mask draws of one (batch, head).
struct Draws(u64);

impl Draws {
    fn new(seed: u64, task: usize) -> Draws {
        Draws(seed ^ (task as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
    #[inline(always)]
    fn keep_scale(&mut self, p: f32, scale: f32) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = (z >> 40) as f32 / (1u64 << 24) as f32;
        if u >= p {
            scale
        } else {
            0.0
        }
    }
}

/// A pointer that threads may share because each writes its own part.
#[derive(Clone, Copy)]
struct Out(*mut f32, usize);
// SAFETY: used only where the parts written by different threads are
// disjoint (checked by `HeadLayout::injective` or by construction).
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// Writes `v` at `at`.
    ///
    /// # Safety
    /// `at + v.len()` is within the slice, and no other thread writes there.
    #[inline(always)]
    unsafe fn write(&self, at: usize, v: &[f32]) {
        debug_assert!(at + v.len() <= self.1);
        std::ptr::copy_nonoverlapping(v.as_ptr(), self.0.add(at), v.len());
    }
}

/// Work (L·S·d summed over the heads) below which one thread does it all.
const PAR_WORK: usize = 1 << 15;

fn check_input(name: &str, l: &HeadLayout, len: usize, rows: usize, dims: &AttnDims) {
    let need = l.extent(dims.batch, rows, dims.heads, dims.head_dim);
    assert!(
        need <= len && l.head_stride >= dims.head_dim.min(1),
        "attention: {name} has {len} values, its layout {l:?} reads up to {need} ({dims:?})"
    );
}

fn check_output(name: &str, l: &HeadLayout, len: usize, rows: usize, dims: &AttnDims) {
    check_input(name, l, len, rows, dims);
    assert!(
        l.injective(dims.batch, rows, dims.heads, dims.head_dim),
        "attention: the layout {l:?} of {name} writes some values twice ({dims:?})"
    );
}

fn check_mask(mask: &AttnMask, dims: &AttnDims) {
    if let Some(kp) = mask.key_padding {
        assert_eq!(
            kp.len(),
            dims.batch * dims.kv_len,
            "attention: key padding mask of {} values for [{}, {}]",
            kp.len(),
            dims.batch,
            dims.kv_len
        );
    }
    if let Some(b) = mask.bias {
        assert_eq!(
            b.len(),
            dims.q_len * dims.kv_len,
            "attention: mask of {} values for [{}, {}]",
            b.len(),
            dims.q_len,
            dims.kv_len
        );
    }
}

/// The forward pass: writes the outputs through `lo` into `out` and the
/// softmax weights (before dropout) into `probs` (`[B, H, L, S]`, 0 for
/// keys a query may not see).
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(
    dims: AttnDims,
    q: &[f32],
    lq: HeadLayout,
    k: &[f32],
    lk: HeadLayout,
    v: &[f32],
    lv: HeadLayout,
    mask: &AttnMask,
    scale: f32,
    dropout: Option<AttnDropout>,
    out: &mut [f32],
    lo: HeadLayout,
    probs: &mut [f32],
) {
    let AttnDims {
        batch,
        heads,
        q_len,
        kv_len,
        head_dim: d,
    } = dims;
    check_input("q", &lq, q.len(), q_len, &dims);
    check_input("k", &lk, k.len(), kv_len, &dims);
    check_input("v", &lv, v.len(), kv_len, &dims);
    check_output("the output", &lo, out.len(), q_len, &dims);
    check_mask(mask, &dims);
    assert_eq!(probs.len(), dims.probs_len(), "attention: weights buffer");
    if batch * heads * q_len == 0 {
        return;
    }
    if kv_len == 0 {
        for b in 0..batch {
            for t in 0..q_len {
                for h in 0..heads {
                    let at = lo.at(b, t, h);
                    out[at..at + d].fill(0.0);
                }
            }
        }
        return;
    }
    let o = Out(out.as_mut_ptr(), out.len());
    let task = |(bh, p): (usize, &mut [f32])| {
        let io = Io {
            dims,
            b: bh / heads,
            h: bh % heads,
            mask,
            scale,
            dropout: dropout.map(|dr| (dr, Draws::new(dr.seed, bh))),
        };
        // SAFETY: `lo` is injective (checked), so the rows of (b, h) that
        // this task writes are written by no other task.
        unsafe { forward_head(&io, q, lq, k, lk, v, lv, o, lo, p) };
    };
    let work = batch * heads * q_len * kv_len * d;
    if work >= PAR_WORK && batch * heads > 1 {
        probs
            .par_chunks_mut(q_len * kv_len)
            .enumerate()
            .for_each(task);
    } else {
        probs.chunks_mut(q_len * kv_len).enumerate().for_each(task);
    }
}

/// What one (batch, head) task needs besides the operands.
struct Io<'m, 'a> {
    dims: AttnDims,
    b: usize,
    h: usize,
    mask: &'m AttnMask<'a>,
    scale: f32,
    dropout: Option<(AttnDropout, Draws)>,
}

simd_dispatch!(
    /// # Safety
    /// No other thread writes the output rows of this task's (b, h).
    unsafe fn forward_head = forward_head_impl(
        io: &Io,
        q: &[f32],
        lq: HeadLayout,
        k: &[f32],
        lk: HeadLayout,
        v: &[f32],
        lv: HeadLayout,
        out: Out,
        lo: HeadLayout,
        probs: &mut [f32],
    )
);

/// Keys handled together by [`scores`]: one vector register of AVX-512.
const KB: usize = 16;

/// `out[j] = Σ_c q[c]·scale·t[c·stride + j]` for `j < n` (n rounded up to
/// [`KB`]; `t` is padded): each block of 16 scores stays in a register while
/// the d terms are added, one load and one fused multiply-add per term.
#[inline(always)]
fn scores(q: &[f32], scale: f32, t: &[f32], stride: usize, n: usize, out: &mut [f32]) {
    for j0 in (0..n).step_by(KB) {
        let mut acc = [0.0f32; KB];
        for (c, &qc) in q.iter().enumerate() {
            let qc = qc * scale;
            let row = &t[c * stride + j0..c * stride + j0 + KB];
            for l in 0..KB {
                acc[l] = qc.mul_add(row[l], acc[l]);
            }
        }
        out[j0..j0 + KB].copy_from_slice(&acc);
    }
}

/// `out = Σ_j w[j]·row(j)` over rows of `out.len()` values, the sums kept
/// in registers: all of a head of 16, 32 or 64 values at once, else 16
/// columns at a time.
#[inline(always)]
fn weighted_sum<'r>(out: &mut [f32], w: &[f32], row: impl Fn(usize) -> &'r [f32]) {
    match out.len() {
        16 => weighted_sum_n::<16>(out, w, row),
        32 => weighted_sum_n::<32>(out, w, row),
        64 => weighted_sum_n::<64>(out, w, row),
        d => {
            let mut c0 = 0;
            while c0 + KB <= d {
                let mut acc = [0.0f32; KB];
                for (j, &wj) in w.iter().enumerate() {
                    let r = &row(j)[c0..c0 + KB];
                    for l in 0..KB {
                        acc[l] = wj.mul_add(r[l], acc[l]);
                    }
                }
                out[c0..c0 + KB].copy_from_slice(&acc);
                c0 += KB;
            }
            if c0 < d {
                let o = &mut out[c0..];
                o.fill(0.0);
                for (j, &wj) in w.iter().enumerate() {
                    simd::axpy(o, wj, &row(j)[c0..d]);
                }
            }
        }
    }
}

#[inline(always)]
fn weighted_sum_n<'r, const D: usize>(
    out: &mut [f32],
    w: &[f32],
    row: impl Fn(usize) -> &'r [f32],
) {
    let mut acc = [0.0f32; D];
    for (j, &wj) in w.iter().enumerate() {
        let r = &row(j)[..D];
        for l in 0..D {
            acc[l] = wj.mul_add(r[l], acc[l]);
        }
    }
    out[..D].copy_from_slice(&acc);
}

/// `x` of (b, ·, h) transposed into `[d, S16]` (zero padded to a multiple
/// of [`KB`] keys), so scores run along contiguous keys.
#[inline(always)]
fn transposed(
    x: &[f32],
    l: HeadLayout,
    b: usize,
    h: usize,
    s: usize,
    d: usize,
) -> (Vec<f32>, usize) {
    let s16 = s.next_multiple_of(KB);
    let mut t = vec![0.0f32; d * s16];
    for j in 0..s {
        let xj = &x[l.at(b, j, h)..][..d];
        for c in 0..d {
            t[c * s16 + j] = xj[c];
        }
    }
    (t, s16)
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn forward_head_impl(
    io: &Io,
    q: &[f32],
    lq: HeadLayout,
    k: &[f32],
    lk: HeadLayout,
    v: &[f32],
    lv: HeadLayout,
    out: Out,
    lo: HeadLayout,
    probs: &mut [f32],
) {
    let AttnDims {
        q_len,
        kv_len: s,
        head_dim: d,
        ..
    } = io.dims;
    let (b, h, mask) = (io.b, io.h, io.mask);
    let (kt, s16) = transposed(k, lk, b, h, s, d);
    let mut sc = vec![0.0f32; s16];
    let mut y = vec![0.0f32; d];
    let mut dropped = vec![0.0f32; s];
    let mut dropout = io.dropout.as_ref().map(|(dr, g)| (*dr, Draws(g.0)));
    for i in 0..q_len {
        let end = mask.end(i, s);
        let row = &mut probs[i * s..(i + 1) * s];
        row[end..].fill(0.0);
        let qi = &q[lq.at(b, i, h)..][..d];
        scores(qi, io.scale, &kt, s16, end, &mut sc);
        let r = &mut row[..end];
        r.copy_from_slice(&sc[..end]);
        if let Some(bias) = mask.bias {
            for (x, &a) in r.iter_mut().zip(&bias[i * s..i * s + end]) {
                *x += a;
            }
        }
        if let Some(kp) = mask.key_padding {
            for (x, &pad) in r.iter_mut().zip(&kp[b * s..b * s + end]) {
                if pad {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
        let m = simd::max(r);
        if m == f32::NEG_INFINITY {
            r.fill(0.0);
            y.fill(0.0);
        } else {
            for x in r.iter_mut() {
                *x = simd::exp(*x - m);
            }
            let inv = 1.0 / simd::sum(r);
            for x in r.iter_mut() {
                *x *= inv;
            }
            let vrow = |j: usize| &v[lv.at(b, j, h)..][..d];
            match dropout.as_mut() {
                None => weighted_sum(&mut y, r, vrow),
                Some((dr, g)) => {
                    let keep = 1.0 / (1.0 - dr.p);
                    for (pd, &p) in dropped.iter_mut().zip(r.iter()) {
                        *pd = p * g.keep_scale(dr.p, keep);
                    }
                    weighted_sum(&mut y, &dropped[..end], vrow);
                }
            }
        }
        out.write(lo.at(b, i, h), &y);
    }
}

/// The backward pass of [`attention_forward`] (same operands, mask, scale
/// and dropout, and the weights it wrote): the gradients of q, k and v,
/// each written through its layout into its own slice.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    dims: AttnDims,
    dy: &[f32],
    lo: HeadLayout,
    probs: &[f32],
    q: &[f32],
    lq: HeadLayout,
    k: &[f32],
    lk: HeadLayout,
    v: &[f32],
    lv: HeadLayout,
    mask: &AttnMask,
    scale: f32,
    dropout: Option<AttnDropout>,
    dq: &mut [f32],
    gq: HeadLayout,
    dk: &mut [f32],
    gk: HeadLayout,
    dv: &mut [f32],
    gv: HeadLayout,
) {
    check_output("dq", &gq, dq.len(), dims.q_len, &dims);
    check_output("dk", &gk, dk.len(), dims.kv_len, &dims);
    check_output("dv", &gv, dv.len(), dims.kv_len, &dims);
    let outs = [
        (Out(dq.as_mut_ptr(), dq.len()), gq),
        (Out(dk.as_mut_ptr(), dk.len()), gk),
        (Out(dv.as_mut_ptr(), dv.len()), gv),
    ];
    // SAFETY: three distinct slices, each layout injective (checked).
    unsafe {
        backward_all(
            dims, dy, lo, probs, q, lq, k, lk, v, lv, mask, scale, dropout, outs,
        )
    }
}

/// [`attention_backward`] for a packed `[B, T, 3E]` projection (self-
/// attention, L = S = T): the gradient `[B, T, 3E]` of q, k and v side by side.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward_packed(
    dims: AttnDims,
    dy: &[f32],
    lo: HeadLayout,
    probs: &[f32],
    qkv: &[f32],
    mask: &AttnMask,
    scale: f32,
    dropout: Option<AttnDropout>,
    dqkv: &mut [f32],
) {
    let (t, e, hd) = (dims.q_len, dims.heads * dims.head_dim, dims.heads);
    assert_eq!(
        dims.q_len, dims.kv_len,
        "attention: packed q, k, v of one length"
    );
    assert_eq!(
        dqkv.len(),
        dims.batch * t * 3 * e,
        "attention: packed gradient size"
    );
    let l: Vec<HeadLayout> = (0..3)
        .map(|p| HeadLayout::packed_qkv(t, e, hd, p))
        .collect();
    for (name, lay) in ["dq", "dk", "dv"].iter().zip(&l) {
        check_output(name, lay, dqkv.len(), t, &dims);
    }
    let o = Out(dqkv.as_mut_ptr(), dqkv.len());
    // SAFETY: the three parts are the column blocks 0..E, E..2E and 2E..3E of
    // every row, so they never overlap; each is injective (checked).
    unsafe {
        backward_all(
            dims,
            dy,
            lo,
            probs,
            qkv,
            l[0],
            qkv,
            l[1],
            qkv,
            l[2],
            mask,
            scale,
            dropout,
            [(o, l[0]), (o, l[1]), (o, l[2])],
        )
    }
}

/// # Safety
/// The three outputs' layouts write disjoint values, each injective.
#[allow(clippy::too_many_arguments)]
unsafe fn backward_all(
    dims: AttnDims,
    dy: &[f32],
    lo: HeadLayout,
    probs: &[f32],
    q: &[f32],
    lq: HeadLayout,
    k: &[f32],
    lk: HeadLayout,
    v: &[f32],
    lv: HeadLayout,
    mask: &AttnMask,
    scale: f32,
    dropout: Option<AttnDropout>,
    outs: [(Out, HeadLayout); 3],
) {
    let AttnDims {
        batch,
        heads,
        q_len,
        kv_len,
        head_dim: d,
    } = dims;
    check_input("dy", &lo, dy.len(), q_len, &dims);
    check_input("q", &lq, q.len(), q_len, &dims);
    check_input("k", &lk, k.len(), kv_len, &dims);
    check_input("v", &lv, v.len(), kv_len, &dims);
    check_mask(mask, &dims);
    assert_eq!(probs.len(), dims.probs_len(), "attention: weights buffer");
    if batch * heads == 0 {
        return;
    }
    let task = |bh: usize| {
        let io = Io {
            dims,
            b: bh / heads,
            h: bh % heads,
            mask,
            scale,
            dropout: dropout.map(|dr| (dr, Draws::new(dr.seed, bh))),
        };
        let p = &probs[bh * q_len * kv_len..(bh + 1) * q_len * kv_len];
        // SAFETY: each task writes only the vectors of its own (b, h).
        unsafe { backward_head(&io, dy, lo, p, q, lq, k, lk, v, lv, &outs) };
    };
    let work = batch * heads * q_len * kv_len * d;
    if work >= PAR_WORK && batch * heads > 1 {
        (0..batch * heads).into_par_iter().for_each(task);
    } else {
        (0..batch * heads).for_each(task);
    }
}

simd_dispatch!(
    /// # Safety
    /// No other thread writes the gradient vectors of this task's (b, h).
    unsafe fn backward_head = backward_head_impl(
        io: &Io,
        dy: &[f32],
        lo: HeadLayout,
        probs: &[f32],
        q: &[f32],
        lq: HeadLayout,
        k: &[f32],
        lk: HeadLayout,
        v: &[f32],
        lv: HeadLayout,
        outs: &[(Out, HeadLayout); 3],
    )
);

#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn backward_head_impl(
    io: &Io,
    dy: &[f32],
    lo: HeadLayout,
    probs: &[f32],
    q: &[f32],
    lq: HeadLayout,
    k: &[f32],
    lk: HeadLayout,
    v: &[f32],
    lv: HeadLayout,
    outs: &[(Out, HeadLayout); 3],
) {
    let AttnDims {
        q_len,
        kv_len: s,
        head_dim: d,
        ..
    } = io.dims;
    let (b, h, mask) = (io.b, io.h, io.mask);
    let (vt, s16) = transposed(v, lv, b, h, s, d);
    // Per query row: ds (the scores' gradient) and p' (the weights after
    // dropout), [L, S16]; then dk and dv are sums down their columns.
    let mut ds = vec![0.0f32; q_len * s16];
    let mut pd = if io.dropout.is_some() {
        vec![0.0f32; q_len * s16]
    } else {
        Vec::new()
    };
    let mut dq = vec![0.0f32; d];
    let mut dp = vec![0.0f32; s16];
    let mut dropout = io.dropout.as_ref().map(|(dr, g)| (*dr, Draws(g.0)));
    for i in 0..q_len {
        let end = mask.end(i, s);
        let p = &probs[i * s..i * s + end];
        // A query that saw no key: zero weights, zero gradients (and, as in
        // the forward pass, no dropout draws).
        if p.iter().all(|&x| x == 0.0) {
            dq.fill(0.0);
            outs[0].0.write(outs[0].1.at(b, i, h), &dq);
            continue;
        }
        let dyi = &dy[lo.at(b, i, h)..][..d];
        scores(dyi, 1.0, &vt, s16, end, &mut dp);
        let dp = &mut dp[..end];
        if let Some((dr, g)) = dropout.as_mut() {
            let keep = 1.0 / (1.0 - dr.p);
            let pdi = &mut pd[i * s16..i * s16 + end];
            for ((x, pdj), &pj) in dp.iter_mut().zip(pdi.iter_mut()).zip(p) {
                let m = g.keep_scale(dr.p, keep);
                *x *= m;
                *pdj = pj * m;
            }
        }
        let dsum = simd::dot(p, dp);
        let dsi = &mut ds[i * s16..i * s16 + end];
        for ((x, &pj), &dpj) in dsi.iter_mut().zip(p).zip(dp.iter()) {
            *x = pj * (dpj - dsum) * io.scale;
        }
        weighted_sum(&mut dq, dsi, |j| &k[lk.at(b, j, h)..][..d]);
        outs[0].0.write(outs[0].1.at(b, i, h), &dq);
    }
    // Key j is seen by queries i with j < end(i): from j − offset on for a
    // causal mask, all of them otherwise.
    let mut col = vec![0.0f32; q_len];
    let mut acc = vec![0.0f32; d];
    for j in 0..s {
        let i0 = match mask.causal {
            Some(off) => j.saturating_sub(off).min(q_len),
            None => 0,
        };
        let c = &mut col[..q_len - i0];
        for (x, i) in c.iter_mut().zip(i0..) {
            *x = ds[i * s16 + j];
        }
        weighted_sum(&mut acc, c, |r| &q[lq.at(b, i0 + r, h)..][..d]);
        outs[1].0.write(outs[1].1.at(b, j, h), &acc);
        let weights = if pd.is_empty() { probs } else { &pd[..] };
        let stride = if pd.is_empty() { s } else { s16 };
        for (x, i) in c.iter_mut().zip(i0..) {
            *x = weights[i * stride + j];
        }
        weighted_sum(&mut acc, c, |r| &dy[lo.at(b, i0 + r, h)..][..d]);
        outs[2].0.write(outs[2].1.at(b, j, h), &acc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain attention of one head, every score computed, for comparison.
    #[allow(clippy::needless_range_loop)]
    fn naive(q: &[Vec<f32>], k: &[Vec<f32>], v: &[Vec<f32>], causal: bool) -> Vec<Vec<f32>> {
        let d = q[0].len();
        let scale = 1.0 / (d as f32).sqrt();
        q.iter()
            .enumerate()
            .map(|(i, qi)| {
                let s: Vec<f32> = k
                    .iter()
                    .enumerate()
                    .map(|(j, kj)| {
                        if causal && j > i {
                            f32::NEG_INFINITY
                        } else {
                            qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale
                        }
                    })
                    .collect();
                let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = s.iter().map(|x| (x - m).exp()).collect();
                let z: f32 = e.iter().sum();
                let mut y = vec![0.0; d];
                for j in 0..k.len() {
                    for c in 0..d {
                        y[c] += e[j] / z * v[j][c];
                    }
                }
                y
            })
            .collect()
    }

    #[test]
    fn packed_causal_attention_matches_the_plain_formula() {
        let (b, t, heads, d) = (2, 7, 3, 4);
        let e = heads * d;
        let qkv: Vec<f32> = (0..b * t * 3 * e)
            .map(|i| ((i * 31 % 17) as f32 - 8.0) / 7.0)
            .collect();
        let dims = AttnDims {
            batch: b,
            heads,
            q_len: t,
            kv_len: t,
            head_dim: d,
        };
        let mut out = vec![0.0; b * t * e];
        let mut probs = vec![0.0; dims.probs_len()];
        let lay = |p| HeadLayout::packed_qkv(t, e, heads, p);
        attention_forward(
            dims,
            &qkv,
            lay(0),
            &qkv,
            lay(1),
            &qkv,
            lay(2),
            &AttnMask {
                causal: Some(0),
                ..AttnMask::default()
            },
            1.0 / (d as f32).sqrt(),
            None,
            &mut out,
            HeadLayout::batch_first(t, e, heads),
            &mut probs,
        );
        for bb in 0..b {
            for h in 0..heads {
                let part = |p: usize| -> Vec<Vec<f32>> {
                    (0..t)
                        .map(|i| {
                            let at = lay(p).at(bb, i, h);
                            qkv[at..at + d].to_vec()
                        })
                        .collect()
                };
                let want = naive(&part(0), &part(1), &part(2), true);
                for (i, wi) in want.iter().enumerate() {
                    let at = (bb * t + i) * e + h * d;
                    for c in 0..d {
                        assert!((out[at + c] - wi[c]).abs() < 1e-5);
                    }
                    // The masked half of the weights is zero.
                    let row = &probs[((bb * heads + h) * t + i) * t..][..t];
                    assert!(row[i + 1..].iter().all(|&p| p == 0.0));
                    assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn layouts_that_overlap_are_refused() {
        let l = HeadLayout {
            offset: 0,
            batch_stride: 8,
            row_stride: 4,
            head_stride: 2,
        };
        // 2 heads of 2 in rows of 4, rows 4 apart, batches 8 apart: fine for 2 rows.
        assert!(l.injective(3, 2, 2, 2));
        // Three rows overlap the next batch.
        assert!(!l.injective(3, 3, 2, 2));
        // Sequence-first [T, B, E] is fine.
        assert!(HeadLayout::seq_first(3, 8, 2).injective(3, 5, 2, 4));
    }
}
