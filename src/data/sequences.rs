//! Labelled token sequences, and the "recall" task where memory matters.
//!
//! recall (distance T, K symbols): the first token is one of K symbols
//! (ids 0..K), the T − 1 after it are distractors drawn from K other ids
//! (K..2K); the label is the first symbol. To answer, a model must carry the
//! first input across T − 1 steps of distraction: a network that sees only
//! the last input is at chance (1/K), a plain RNN learns short distances and
//! loses the long ones (its gradient through time vanishes), LSTM and GRU
//! keep it (see docs/memory.md).
//!
//! `view = "last"` gives the same data as a table of features for a
//! network without memory: the one-hot code of the last symbol.

use super::batch::{Batch, BatchSource, EpochOptions, Inputs, TokenBatch};
use super::dataset::{BatchTargets, Dataset, Targets};
use super::loader::DataLoader;
use crate::error::Result;
use crate::tensor::Generator;

/// Sequences of token ids of one length, each with a class.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceSet {
    /// `len() * seq_len` ids, row-major.
    pub ids: Vec<u32>,
    /// Ids per sequence.
    pub seq_len: usize,
    /// One class per sequence.
    pub labels: Vec<usize>,
    /// Number of distinct token ids.
    pub vocab_size: usize,
    /// The class names, in label order.
    pub class_names: Vec<String>,
}

impl SequenceSet {
    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The sequences at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> SequenceSet {
        let t = self.seq_len;
        let mut ids = Vec::with_capacity(idx.len() * t);
        for &i in idx {
            ids.extend_from_slice(&self.ids[i * t..(i + 1) * t]);
        }
        SequenceSet {
            ids,
            seq_len: t,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            vocab_size: self.vocab_size,
            class_names: self.class_names.clone(),
        }
    }

    /// (rest, held out): the last `round(len * fraction)` of a seeded shuffle.
    pub fn split(&self, fraction: f32, seed: u64) -> (SequenceSet, SequenceSet) {
        let n = self.len();
        let mut order: Vec<usize> = (0..n).collect();
        Generator::new(seed).shuffle(&mut order);
        let k = ((n as f64) * fraction as f64).round() as usize;
        let (held, rest) = order.split_at_mut(k.min(n));
        held.sort_unstable();
        rest.sort_unstable();
        (self.subset(rest), self.subset(held))
    }

    fn batch(&self, idx: &[usize]) -> Batch {
        let s = self.subset(idx);
        Batch {
            inputs: Inputs::Tokens(TokenBatch::new(s.ids, idx.len(), self.seq_len)),
            targets: BatchTargets::Classes(s.labels),
        }
    }

    /// For a network without memory: the one-hot code of the last symbol of
    /// each sequence, `[vocab_size]` features.
    pub fn last_step_features(&self) -> Result<Dataset> {
        let (t, v) = (self.seq_len, self.vocab_size);
        let mut x = vec![0.0f32; self.len() * v];
        for i in 0..self.len() {
            let last = self.ids[i * t + t - 1] as usize;
            x[i * v + last] = 1.0;
        }
        Dataset::new(
            x,
            vec![v],
            Targets::Classes(self.labels.clone()),
            self.class_names.clone(),
        )
    }
}

/// `n` recall sequences of `len` tokens: a symbol of 0..`symbols`, then
/// distractors of `symbols`..2·`symbols`; labelled by the first.
pub fn recall(n: usize, len: usize, symbols: usize, seed: u64) -> SequenceSet {
    let mut g = Generator::new(seed);
    let mut ids = Vec::with_capacity(n * len);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let first = g.below(symbols);
        ids.push(first as u32);
        labels.push(first);
        for _ in 1..len {
            ids.push((symbols + g.below(symbols)) as u32);
        }
    }
    SequenceSet {
        ids,
        seq_len: len,
        labels,
        vocab_size: 2 * symbols,
        class_names: (0..symbols).map(|s| format!("symbol {s}")).collect(),
    }
}

impl BatchSource for SequenceSet {
    fn num_examples(&self) -> usize {
        self.len()
    }

    fn batches_per_epoch(&self, o: &EpochOptions) -> usize {
        DataLoader::new(self.len(), o.batch_size)
            .map(|l| l.drop_last(o.drop_last).len())
            .unwrap_or(0)
    }

    fn epoch_batches<'a>(
        &'a self,
        o: &EpochOptions,
        epoch: usize,
    ) -> Box<dyn Iterator<Item = Batch> + 'a> {
        match DataLoader::new(self.len(), o.batch_size) {
            Ok(l) => {
                let l = l.shuffle(o.shuffle).seed(o.seed).drop_last(o.drop_last);
                Box::new(l.epoch(epoch).map(move |idx| self.batch(&idx)))
            }
            Err(_) => Box::new(std::iter::empty()),
        }
    }

    fn eval_batches<'a>(
        &'a self,
        batch_size: usize,
        limit: Option<usize>,
    ) -> Box<dyn Iterator<Item = Batch> + 'a> {
        let bs = batch_size.max(1);
        let n = self.len();
        let count = n.div_ceil(bs).min(limit.unwrap_or(usize::MAX));
        Box::new((0..count).map(move |b| {
            let idx: Vec<usize> = (b * bs..((b + 1) * bs).min(n)).collect();
            self.batch(&idx)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_is_the_first_symbol() {
        let s = recall(50, 7, 4, 1);
        assert_eq!(s.ids.len(), 350);
        for i in 0..50 {
            assert_eq!(s.labels[i], s.ids[i * 7] as usize);
        }
        let f = s.last_step_features().unwrap();
        assert_eq!(f.sample_shape, vec![8]);
        assert!(s
            .ids
            .iter()
            .enumerate()
            .all(|(i, &t)| (i % 7 == 0) == (t < 4)));
        assert_eq!(f.sample(3)[s.ids[3 * 7 + 6] as usize], 1.0);
        let (a, b) = s.split(0.2, 9);
        assert_eq!((a.len(), b.len()), (40, 10));
    }
}
