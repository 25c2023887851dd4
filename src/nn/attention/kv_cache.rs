//! The KV cache: the keys and values of the positions a decoder has already
//! seen, one cache per attention layer.
//!
//! Generating token t, a causal self-attention layer needs the keys and
//! values of tokens 0..t; those of 0..t−1 were computed for the earlier
//! tokens and do not change (a token never attends to later ones), so they
//! are kept here and only the new token's are computed and appended. A new
//! token then costs the same projections whatever t is, plus one dot product
//! per cached key.
//!
//! Layout: keys and values `[B, capacity, E]`, heads side by side in each
//! row, as attention reads them (kernels/attention.rs).

use crate::kernels::attention::HeadLayout;

/// Cached keys and values of one attention layer.
#[derive(Clone, Debug)]
pub struct KvCache {
    batch: usize,
    capacity: usize,
    embd: usize,
    len: usize,
    pub(crate) k: Vec<f32>,
    pub(crate) v: Vec<f32>,
}

impl KvCache {
    /// Room for `capacity` positions of `batch` sequences of width `embd`.
    pub fn new(batch: usize, capacity: usize, embd: usize) -> KvCache {
        KvCache {
            batch,
            capacity,
            embd,
            len: 0,
            k: vec![0.0; batch * capacity * embd],
            v: vec![0.0; batch * capacity * embd],
        }
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sequences.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Forgets every position (the buffers stay).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends the keys and values of `n` new positions taken from a packed
    /// projection `qkv` `[B, n, 3E]` (columns E..2E the keys, 2E..3E the
    /// values). Panics past the capacity.
    pub fn append_packed(&mut self, qkv: &[f32], n: usize) {
        let e = self.embd;
        assert!(
            self.len + n <= self.capacity,
            "KvCache: {} + {n} positions exceed the capacity {}",
            self.len,
            self.capacity
        );
        assert_eq!(
            qkv.len(),
            self.batch * n * 3 * e,
            "KvCache: projection size"
        );
        for b in 0..self.batch {
            for i in 0..n {
                let src = &qkv[(b * n + i) * 3 * e..][..3 * e];
                let dst = (b * self.capacity + self.len + i) * e;
                self.k[dst..dst + e].copy_from_slice(&src[e..2 * e]);
                self.v[dst..dst + e].copy_from_slice(&src[2 * e..]);
            }
        }
        self.len += n;
    }

    /// How attention reads the cached keys (and values) with `heads` heads.
    pub(crate) fn layout(&self, heads: usize) -> HeadLayout {
        HeadLayout {
            offset: 0,
            batch_stride: self.capacity * self.embd,
            row_stride: self.embd,
            head_stride: self.embd / heads.max(1),
        }
    }
}
