//! Batches and the sources the trainer draws them from.
//!
//! A [`Batch`] is a model's inputs (a tensor of features, or token ids) and
//! their targets. A [`BatchSource`] hands out a training epoch's batches
//! (shuffled, seeded) and evaluation batches (in order): an in-memory
//! [`Dataset`] of samples (optionally with augmentation), a text corpus cut
//! into windows, a set of token sequences.

use super::augment::Augmenter;
use super::dataset::{BatchTargets, Dataset};
use super::loader::DataLoader;
use crate::error::Result;
use crate::tensor::Tensor;

/// Token ids of a batch of sequences, row-major `[batch, len]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenBatch {
    /// `batch * len` ids.
    pub ids: Vec<u32>,
    /// Number of sequences.
    pub batch: usize,
    /// Tokens per sequence.
    pub len: usize,
}

impl TokenBatch {
    /// `ids` as `batch` sequences of `len` tokens. Panics if they do not fit.
    pub fn new(ids: Vec<u32>, batch: usize, len: usize) -> TokenBatch {
        assert_eq!(
            ids.len(),
            batch * len,
            "TokenBatch: {} ids do not form {batch} sequences of {len}",
            ids.len()
        );
        TokenBatch { ids, batch, len }
    }

    /// Sequence `b`.
    pub fn row(&self, b: usize) -> &[u32] {
        &self.ids[b * self.len..(b + 1) * self.len]
    }
}

/// What a model reads.
#[derive(Clone, Debug)]
pub enum Inputs {
    /// Samples as a tensor `[batch, ...sample_shape]`.
    Features(Tensor),
    /// Token ids `[batch, len]`.
    Tokens(TokenBatch),
}

impl Inputs {
    /// Number of samples or sequences.
    pub fn batch_size(&self) -> usize {
        match self {
            Inputs::Features(x) => x.shape().first().copied().unwrap_or(0),
            Inputs::Tokens(t) => t.batch,
        }
    }

    /// The features tensor. Panics for token inputs (a model that reads
    /// features was given tokens: a programming error).
    pub fn features(&self) -> &Tensor {
        match self {
            Inputs::Features(x) => x,
            Inputs::Tokens(_) => panic!("this model reads features, but the batch holds token ids"),
        }
    }

    /// The token ids. Panics for feature inputs.
    pub fn tokens(&self) -> &TokenBatch {
        match self {
            Inputs::Tokens(t) => t,
            Inputs::Features(_) => {
                panic!("this model reads token ids, but the batch holds features")
            }
        }
    }
}

/// Inputs and the targets they should produce.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The model's inputs (features, images or token ids).
    pub inputs: Inputs,
    /// One class per sample, values per sample, or (language models) the
    /// next token at every position, `batch * len` classes.
    pub targets: BatchTargets,
}

impl Batch {
    /// Number of samples or sequences.
    pub fn len(&self) -> usize {
        self.inputs.batch_size()
    }

    /// True if the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a training epoch draws its batches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochOptions {
    /// Samples per batch.
    pub batch_size: usize,
    /// Draw the samples in a new random order each epoch.
    pub shuffle: bool,
    /// Leave out a last batch smaller than `batch_size`.
    pub drop_last: bool,
    /// Seed of the shuffle (mixed with the epoch).
    pub seed: u64,
}

/// Data the trainer can draw batches from.
pub trait BatchSource: Send + Sync {
    /// Number of examples: samples, or windows of a text.
    fn num_examples(&self) -> usize;

    /// Number of batches in a training epoch.
    fn batches_per_epoch(&self, o: &EpochOptions) -> usize;

    /// Batch `index` of training epoch `epoch` (0-based epochs are the
    /// caller's business: the same (epoch, index) always gives the same batch).
    fn epoch_batches<'a>(
        &'a self,
        o: &EpochOptions,
        epoch: usize,
    ) -> Box<dyn Iterator<Item = Batch> + 'a>;

    /// Evaluation batches in a fixed order covering the data (at most
    /// `limit` of them when given).
    fn eval_batches<'a>(
        &'a self,
        batch_size: usize,
        limit: Option<usize>,
    ) -> Box<dyn Iterator<Item = Batch> + 'a>;

    /// The samples, when this source is an in-memory dataset.
    fn as_dataset(&self) -> Option<&Dataset> {
        None
    }
}

fn loader(n: usize, o: &EpochOptions) -> Option<DataLoader> {
    DataLoader::new(n, o.batch_size)
        .ok()
        .map(|l| l.shuffle(o.shuffle).seed(o.seed).drop_last(o.drop_last))
}

fn sample_batch(d: &Dataset, idx: &[usize]) -> Batch {
    let (x, targets) = d.batch(idx);
    Batch {
        inputs: Inputs::Features(x),
        targets,
    }
}

impl BatchSource for Dataset {
    fn num_examples(&self) -> usize {
        self.len()
    }

    fn batches_per_epoch(&self, o: &EpochOptions) -> usize {
        loader(self.len(), o).map_or(0, |l| l.len())
    }

    fn epoch_batches<'a>(
        &'a self,
        o: &EpochOptions,
        epoch: usize,
    ) -> Box<dyn Iterator<Item = Batch> + 'a> {
        match loader(self.len(), o) {
            Some(l) => Box::new(l.epoch(epoch).map(move |idx| sample_batch(self, &idx))),
            None => Box::new(std::iter::empty()),
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
            sample_batch(self, &idx)
        }))
    }

    fn as_dataset(&self) -> Option<&Dataset> {
        Some(self)
    }
}

/// A dataset whose training batches are changed at random by an
/// [`Augmenter`], seeded by (seed, epoch, batch); evaluation batches are not.
pub struct Augmented {
    /// The examples.
    pub data: Dataset,
    /// The random changes applied to training batches.
    pub augmenter: Augmenter,
}

impl Augmented {
    /// Wraps `data` so its training batches go through `augmenter`.
    pub fn new(data: Dataset, augmenter: Augmenter) -> Augmented {
        Augmented { data, augmenter }
    }
}

impl BatchSource for Augmented {
    fn num_examples(&self) -> usize {
        self.data.len()
    }

    fn batches_per_epoch(&self, o: &EpochOptions) -> usize {
        self.data.batches_per_epoch(o)
    }

    fn epoch_batches<'a>(
        &'a self,
        o: &EpochOptions,
        epoch: usize,
    ) -> Box<dyn Iterator<Item = Batch> + 'a> {
        Box::new(
            self.data
                .epoch_batches(o, epoch)
                .enumerate()
                .map(move |(bi, mut b)| {
                    if let Inputs::Features(x) = &b.inputs {
                        b.inputs = Inputs::Features(self.augmenter.apply_batch(x, epoch, bi));
                    }
                    b
                }),
        )
    }

    fn eval_batches<'a>(
        &'a self,
        batch_size: usize,
        limit: Option<usize>,
    ) -> Box<dyn Iterator<Item = Batch> + 'a> {
        self.data.eval_batches(batch_size, limit)
    }

    fn as_dataset(&self) -> Option<&Dataset> {
        Some(&self.data)
    }
}

/// Checks that a training epoch has at least one batch.
pub fn check_nonempty(source: &dyn BatchSource, o: &EpochOptions) -> Result<()> {
    if source.batches_per_epoch(o) == 0 {
        crate::bail!(
            "train.batch_size = {} with drop_last = true leaves no batch from {} training examples",
            o.batch_size,
            source.num_examples()
        );
    }
    Ok(())
}
