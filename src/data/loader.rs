//! Batching: which sample indices go into which batch, epoch by epoch.
//!
//! A [`DataLoader`] only deals in indices; [`Dataset::batch`] turns a batch
//! of indices into tensors. Shuffling is seeded per epoch, so the same seed
//! and epoch always give the same order (a resumed run sees the same batches).
//!
//! [`Dataset::batch`]: crate::data::Dataset::batch

use crate::error::Result;
use crate::tensor::Generator;

/// Splits `0..num_samples` into batches of indices, optionally shuffled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLoader {
    num_samples: usize,
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    seed: u64,
}

impl DataLoader {
    /// A loader over `num_samples` samples in batches of `batch_size`,
    /// shuffled with seed 0 and keeping the last partial batch. Errors if
    /// `batch_size` is 0.
    pub fn new(num_samples: usize, batch_size: usize) -> Result<DataLoader> {
        if batch_size == 0 {
            crate::bail!("batch_size must be at least 1, found 0");
        }
        Ok(DataLoader {
            num_samples,
            batch_size,
            shuffle: true,
            drop_last: false,
            seed: 0,
        })
    }

    /// Whether each epoch visits the samples in a fresh seeded random order
    /// (`true`, the default) or in index order.
    pub fn shuffle(mut self, shuffle: bool) -> DataLoader {
        self.shuffle = shuffle;
        self
    }

    /// The seed the per-epoch orders are derived from.
    pub fn seed(mut self, seed: u64) -> DataLoader {
        self.seed = seed;
        self
    }

    /// Whether to drop the last batch when it is smaller than `batch_size`.
    pub fn drop_last(mut self, drop_last: bool) -> DataLoader {
        self.drop_last = drop_last;
        self
    }

    /// Samples per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Samples the loader draws from.
    pub fn num_samples(&self) -> usize {
        self.num_samples
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        if self.drop_last {
            self.num_samples / self.batch_size
        } else {
            self.num_samples.div_ceil(self.batch_size)
        }
    }

    /// True if an epoch yields no batches.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The order in which epoch `epoch` visits the samples.
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.num_samples).collect();
        if self.shuffle {
            Generator::new(epoch_seed(self.seed, epoch)).shuffle(&mut order);
        }
        order
    }

    /// The batches of epoch `epoch` (counting from 0), each a `Vec` of sample
    /// indices. The only allocations are the epoch's order (when shuffling)
    /// and one `Vec` per batch.
    pub fn epoch(&self, epoch: usize) -> Batches {
        let order = if self.shuffle {
            Some(self.order(epoch))
        } else {
            None
        };
        Batches {
            order,
            batch_size: self.batch_size,
            next: 0,
            remaining: self.len(),
            num_samples: self.num_samples,
        }
    }
}

/// Mixes the loader seed and the epoch number into one generator seed
/// (SplitMix64 finaliser), so neighbouring epochs get unrelated orders.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    let mut z = seed
        ^ (epoch as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Iterator over one epoch's batches of indices (see [`DataLoader::epoch`]).
#[derive(Debug, Clone)]
pub struct Batches {
    order: Option<Vec<usize>>,
    batch_size: usize,
    next: usize,
    remaining: usize,
    num_samples: usize,
}

impl Iterator for Batches {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let start = self.next;
        let end = (start + self.batch_size).min(self.num_samples);
        self.next = end;
        Some(match &self.order {
            Some(order) => order[start..end].to_vec(),
            None => (start..end).collect(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Batches {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_batch_size_is_an_error() {
        let e = DataLoader::new(10, 0).unwrap_err();
        assert!(
            e.message()
                .contains("batch_size must be at least 1, found 0"),
            "{e}"
        );
    }

    #[test]
    fn unshuffled_keeps_order_with_partial_last_batch() {
        let dl = DataLoader::new(10, 4).unwrap().shuffle(false);
        assert_eq!(dl.len(), 3);
        let b: Vec<Vec<usize>> = dl.epoch(0).collect();
        assert_eq!(b, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
        // Every epoch is the same when not shuffling.
        assert_eq!(dl.epoch(5).collect::<Vec<_>>(), b);
    }

    #[test]
    fn drop_last() {
        let dl = DataLoader::new(10, 4)
            .unwrap()
            .shuffle(false)
            .drop_last(true);
        assert_eq!(dl.len(), 2);
        let b: Vec<Vec<usize>> = dl.epoch(0).collect();
        assert_eq!(b, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
        // Exact multiple: nothing dropped.
        let dl = DataLoader::new(8, 4).unwrap().drop_last(true);
        assert_eq!(dl.len(), 2);
        assert_eq!(dl.epoch(0).flatten().count(), 8);
        // Fewer samples than one batch.
        let dl = DataLoader::new(3, 4).unwrap().drop_last(true);
        assert!(dl.is_empty());
        assert_eq!(dl.epoch(0).count(), 0);
    }

    #[test]
    fn shuffle_is_seeded_per_epoch() {
        let dl = DataLoader::new(50, 8).unwrap().seed(42);
        assert_eq!(dl.len(), 7);
        let e0: Vec<Vec<usize>> = dl.epoch(0).collect();
        let e0_again: Vec<Vec<usize>> = dl.clone().epoch(0).collect();
        assert_eq!(e0, e0_again, "same seed + epoch -> same batches");
        assert_eq!(e0.last().unwrap().len(), 2);
        // A permutation of all samples.
        let mut all: Vec<usize> = e0.iter().flatten().copied().collect();
        assert_ne!(all, (0..50).collect::<Vec<_>>(), "shuffled");
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        // Other epoch or other seed -> other order.
        let e1: Vec<Vec<usize>> = dl.epoch(1).collect();
        assert_ne!(e0, e1);
        let other: Vec<Vec<usize>> = DataLoader::new(50, 8).unwrap().seed(43).epoch(0).collect();
        assert_ne!(e0, other);
        // order() agrees with the batches.
        assert_eq!(dl.order(1), e1.concat());
    }

    #[test]
    fn iterator_reports_exact_size() {
        let dl = DataLoader::new(10, 3).unwrap();
        let mut it = dl.epoch(0);
        assert_eq!(it.len(), 4);
        it.next();
        assert_eq!(it.len(), 3);
        assert_eq!(it.map(|b| b.len()).collect::<Vec<_>>(), vec![3, 3, 1]);
    }

    #[test]
    fn empty_loader() {
        let dl = DataLoader::new(0, 4).unwrap();
        assert_eq!(dl.len(), 0);
        assert_eq!(dl.epoch(0).count(), 0);
    }
}
