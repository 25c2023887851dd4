//! Text as training data for a language model.
//!
//! - [`read_text`]: a UTF-8 file, or every file of a folder in name order
//!   joined by a newline; a byte that is not UTF-8 is an error naming the
//!   file and its byte offset.
//! - [`TextSplit`]: token ids cut into windows of `seq_len + 1`: the first
//!   `seq_len` are the input, the last `seq_len` (shifted by one) the
//!   targets, so every position predicts the next token.
//!   - random windows (nanoGPT's get_batch): each batch starts at
//!     positions drawn from a generator seeded by (seed, epoch, batch);
//!   - consecutive windows (truncated backpropagation through time): the
//!     text is cut into `batch` lanes and batch k holds the k-th window of
//!     every lane, so a recurrent state carried from batch to batch reads
//!     each lane in order.
//!
//! An epoch is as many batches as there are windows' worth of tokens.

use std::path::Path;

use super::batch::{Batch, BatchSource, EpochOptions, Inputs, TokenBatch};
use super::dataset::BatchTargets;
use crate::error::{describe_io, Error, Result};
use crate::tensor::Generator;

/// Reads a UTF-8 text file, or the files of a folder (sorted by name,
/// hidden files skipped) joined by "\n".
pub fn read_text(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::new(format!(
            "cannot read text {}: {}",
            path.display(),
            describe_io(&e)
        ))
    })?;
    if !meta.is_dir() {
        return read_utf8(path);
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .map_err(|e| {
            Error::new(format!(
                "cannot list {}: {}",
                path.display(),
                describe_io(&e)
            ))
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        crate::bail!("{}: the folder has no text files", path.display());
    }
    let mut out = String::new();
    for (i, f) in files.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&read_utf8(f)?);
    }
    Ok(out)
}

fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(format!(
            "cannot read text {}: {}",
            path.display(),
            describe_io(&e)
        ))
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        Error::new(format!(
            "{}: not UTF-8 text: the bytes at offset {at} ({:#04x}...) do not form a character; \
             convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
            path.display(),
            e.as_bytes()[at]
        ))
    })
}

/// How training windows are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Windows {
    /// Random start positions (nanoGPT).
    Random,
    /// Consecutive windows of `batch` lanes (truncated BPTT, state carried).
    Sequential,
}

/// Token ids of one split, cut into windows.
#[derive(Clone, Debug)]
pub struct TextSplit {
    /// The split's token ids, in order.
    pub ids: Vec<u32>,
    /// Tokens per window (the context length).
    pub seq_len: usize,
    /// How windows are drawn.
    pub windows: Windows,
}

impl TextSplit {
    /// A split of `ids` with windows of `seq_len`; errors if the text is too
    /// short for one window (`what` names the split in the message).
    pub fn new(ids: Vec<u32>, seq_len: usize, windows: Windows, what: &str) -> Result<TextSplit> {
        if seq_len == 0 {
            crate::bail!("data.seq_len must be at least 1, found 0");
        }
        if ids.len() < seq_len + 1 {
            crate::bail!(
                "data.seq_len = {seq_len} needs at least {} characters of {what} text, but it has {}; \
                 use a shorter seq_len or more text",
                seq_len + 1,
                ids.len()
            );
        }
        Ok(TextSplit {
            ids,
            seq_len,
            windows,
        })
    }

    /// Number of non-overlapping windows.
    pub fn num_windows(&self) -> usize {
        (self.ids.len() - 1) / self.seq_len
    }

    /// The batch of windows starting at `starts`.
    fn batch_at(&self, starts: &[usize]) -> Batch {
        let t = self.seq_len;
        let mut x = Vec::with_capacity(starts.len() * t);
        let mut y = Vec::with_capacity(starts.len() * t);
        for &p in starts {
            x.extend_from_slice(&self.ids[p..p + t]);
            y.extend(self.ids[p + 1..p + t + 1].iter().map(|&i| i as usize));
        }
        Batch {
            inputs: Inputs::Tokens(TokenBatch::new(x, starts.len(), t)),
            targets: BatchTargets::Classes(y),
        }
    }

    /// Lanes of consecutive windows for `batch` sequences: (lane length, windows per lane).
    fn lanes(&self, batch: usize) -> (usize, usize) {
        let lane = (self.ids.len() - 1) / batch.max(1);
        (lane, lane / self.seq_len)
    }
}

/// SplitMix64 of (seed, epoch, batch): the seed of one batch's draws.
fn batch_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    let mut z = seed
        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (batch as u64)
            .wrapping_add(1)
            .wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl BatchSource for TextSplit {
    fn num_examples(&self) -> usize {
        self.num_windows()
    }

    fn batches_per_epoch(&self, o: &EpochOptions) -> usize {
        match self.windows {
            Windows::Random => (self.num_windows() / o.batch_size.max(1)).max(1),
            Windows::Sequential => self.lanes(o.batch_size).1,
        }
    }

    fn epoch_batches<'a>(
        &'a self,
        o: &EpochOptions,
        epoch: usize,
    ) -> Box<dyn Iterator<Item = Batch> + 'a> {
        let (bs, seed, n) = (o.batch_size.max(1), o.seed, self.batches_per_epoch(o));
        let t = self.seq_len;
        match self.windows {
            Windows::Random => Box::new((0..n).map(move |k| {
                let mut g = Generator::new(batch_seed(seed, epoch, k));
                let hi = self.ids.len() - t - 1;
                let starts: Vec<usize> = (0..bs).map(|_| g.below(hi + 1)).collect();
                self.batch_at(&starts)
            })),
            Windows::Sequential => {
                let (lane, _) = self.lanes(bs);
                Box::new((0..n).map(move |k| {
                    let starts: Vec<usize> = (0..bs).map(|b| b * lane + k * t).collect();
                    self.batch_at(&starts)
                }))
            }
        }
    }

    fn eval_batches<'a>(
        &'a self,
        batch_size: usize,
        limit: Option<usize>,
    ) -> Box<dyn Iterator<Item = Batch> + 'a> {
        let bs = batch_size.max(1);
        let t = self.seq_len;
        match limit {
            // An estimate from `limit` batches of random windows (nanoGPT's
            // estimate_loss), the same windows at every evaluation.
            Some(k) => Box::new((0..k).map(move |i| {
                let mut g = Generator::new(batch_seed(0xE7A1, 0, i));
                let hi = self.ids.len() - t - 1;
                let starts: Vec<usize> = (0..bs).map(|_| g.below(hi + 1)).collect();
                self.batch_at(&starts)
            })),
            // Every non-overlapping window, in order.
            None => {
                let w = self.num_windows();
                Box::new((0..w.div_ceil(bs)).map(move |b| {
                    let starts: Vec<usize> =
                        (b * bs..((b + 1) * bs).min(w)).map(|i| i * t).collect();
                    self.batch_at(&starts)
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(b: usize) -> EpochOptions {
        EpochOptions {
            batch_size: b,
            shuffle: true,
            drop_last: false,
            seed: 3,
        }
    }

    #[test]
    fn windows_predict_the_next_token() {
        let s = TextSplit::new((0..50).collect(), 4, Windows::Random, "training").unwrap();
        for b in s.epoch_batches(&opts(3), 1) {
            let t = b.inputs.tokens();
            let BatchTargets::Classes(y) = &b.targets else {
                panic!()
            };
            for (i, &x) in t.ids.iter().enumerate() {
                assert_eq!(y[i], x as usize + 1, "target is the next id");
            }
        }
        // Same seed, epoch and batch: same windows; another epoch: others.
        let a: Vec<_> = s
            .epoch_batches(&opts(3), 1)
            .map(|b| b.inputs.tokens().ids.clone())
            .collect();
        let b: Vec<_> = s
            .epoch_batches(&opts(3), 1)
            .map(|b| b.inputs.tokens().ids.clone())
            .collect();
        let c: Vec<_> = s
            .epoch_batches(&opts(3), 2)
            .map(|b| b.inputs.tokens().ids.clone())
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn consecutive_windows_read_each_lane_in_order() {
        let s = TextSplit::new((0..41).collect(), 5, Windows::Sequential, "training").unwrap();
        // 40 positions, 2 lanes of 20, 4 windows of 5 per lane.
        let batches: Vec<_> = s.epoch_batches(&opts(2), 1).collect();
        assert_eq!(batches.len(), 4);
        assert_eq!(
            batches[0].inputs.tokens().ids,
            vec![0, 1, 2, 3, 4, 20, 21, 22, 23, 24]
        );
        assert_eq!(batches[1].inputs.tokens().ids[..5], [5, 6, 7, 8, 9]);
        let short = TextSplit::new((0..4).collect(), 8, Windows::Random, "validation");
        assert!(short
            .unwrap_err()
            .to_string()
            .contains("at least 9 characters of validation text"));
    }
}
