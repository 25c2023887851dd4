//! An in-memory dataset: samples stored row-major in one `Vec<f32>`, plus
//! targets (class indices or real-valued vectors), the class names and the
//! feature standardisation that was applied, if any.

use crate::error::Result;
use crate::tensor::{Generator, Tensor};

/// What each sample should predict.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One class index per sample (classification).
    Classes(Vec<usize>),
    /// `dim` real values per sample, row-major (regression).
    Values {
        /// `len * dim` values.
        values: Vec<f32>,
        /// Values per sample.
        dim: usize,
    },
}

impl Targets {
    /// Number of samples the targets describe.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values { values, dim } => {
                if *dim == 0 {
                    0
                } else {
                    values.len() / dim
                }
            }
        }
    }

    /// True if there are no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The targets of one batch, ready for a loss function.
#[derive(Debug, Clone)]
pub enum BatchTargets {
    /// Class indices, one per sample (for cross-entropy).
    Classes(Vec<usize>),
    /// A `[n, dim]` tensor (for mean squared error and friends).
    Values(Tensor),
}

/// Per-feature standardisation `(x - mean) / std`, kept with the dataset so
/// the same transform can be applied to new rows at predict time.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Mean of each feature.
    pub mean: Vec<f32>,
    /// Standard deviation of each feature (population; a constant feature
    /// gets 1 so it maps to 0 instead of dividing by zero).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Computes mean and standard deviation of each of the `num_features`
    /// columns of the row-major matrix `x` (accumulated in f64).
    ///
    /// Panics if `num_features` is 0 or does not divide `x.len()`.
    pub fn fit(x: &[f32], num_features: usize) -> Standardizer {
        assert!(
            num_features > 0 && x.len().is_multiple_of(num_features),
            "Standardizer::fit: {} values do not form rows of {} features",
            x.len(),
            num_features
        );
        let rows = x.len() / num_features;
        let mut sum = vec![0f64; num_features];
        for row in x.chunks_exact(num_features) {
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / rows.max(1) as f64).collect();
        let mut sq = vec![0f64; num_features];
        for row in x.chunks_exact(num_features) {
            for ((s, &v), m) in sq.iter_mut().zip(row).zip(&mean) {
                let d = v as f64 - m;
                *s += d * d;
            }
        }
        let std = sq
            .iter()
            .map(|s| {
                let sd = (s / rows.max(1) as f64).sqrt() as f32;
                if sd > 0.0 && sd.is_finite() {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Standardizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        }
    }

    /// Number of features this standardizer was fitted on.
    pub fn num_features(&self) -> usize {
        self.mean.len()
    }

    /// Standardises the row-major matrix `x` in place.
    ///
    /// Panics if `x.len()` is not a multiple of [`Self::num_features`].
    pub fn apply(&self, x: &mut [f32]) {
        let f = self.num_features();
        assert!(
            f > 0 && x.len().is_multiple_of(f),
            "Standardizer::apply: {} values do not form rows of {} features",
            x.len(),
            f
        );
        for row in x.chunks_exact_mut(f) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }

    /// Undoes [`Self::apply`] in place.
    pub fn invert(&self, x: &mut [f32]) {
        let f = self.num_features();
        assert!(
            f > 0 && x.len().is_multiple_of(f),
            "Standardizer::invert: {} values do not form rows of {} features",
            x.len(),
            f
        );
        for row in x.chunks_exact_mut(f) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = *v * s + m;
            }
        }
    }
}

/// Samples, their targets, and what is needed to interpret them.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// All samples, row-major: `len() * num_features()` values.
    pub x: Vec<f32>,
    /// Shape of one sample, e.g. `[4]` for a CSV row or `[1, 28, 28]` for an
    /// MNIST image.
    pub sample_shape: Vec<usize>,
    /// What each sample should predict.
    pub targets: Targets,
    /// Name of each class, indexed by class index (empty for regression).
    pub class_names: Vec<String>,
    /// The standardisation already applied to `x`, if any.
    pub standardizer: Option<Standardizer>,
}

impl Dataset {
    /// A dataset after checking that `x` holds exactly one `sample_shape` per
    /// target and that class indices are below `class_names.len()` (when
    /// names are given).
    pub fn new(
        x: Vec<f32>,
        sample_shape: Vec<usize>,
        targets: Targets,
        class_names: Vec<String>,
    ) -> Result<Dataset> {
        let per: usize = sample_shape.iter().product();
        if per == 0 {
            crate::bail!("dataset: sample shape {sample_shape:?} has no features");
        }
        if let Targets::Values { values, dim } = &targets {
            if *dim == 0 || values.len() % dim != 0 {
                crate::bail!(
                    "dataset: {} target values do not form rows of {} values",
                    values.len(),
                    dim
                );
            }
        }
        let n = targets.len();
        if x.len() != n * per {
            crate::bail!(
                "dataset: {} targets need {} feature values for sample shape {:?}, found {}",
                n,
                n * per,
                sample_shape,
                x.len()
            );
        }
        if let Targets::Classes(c) = &targets {
            if !class_names.is_empty() {
                if let Some((i, &bad)) = c.iter().enumerate().find(|(_, &c)| c >= class_names.len())
                {
                    crate::bail!(
                        "dataset: sample {} has class index {}, but there are only {} classes",
                        i,
                        bad,
                        class_names.len()
                    );
                }
            }
        }
        Ok(Dataset {
            x,
            sample_shape,
            targets,
            class_names,
            standardizer: None,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True if there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per sample (the product of `sample_shape`).
    pub fn num_features(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Number of classes: the number of class names, or one more than the
    /// largest class index if there are no names; 0 for regression.
    pub fn num_classes(&self) -> usize {
        match &self.targets {
            Targets::Classes(c) => {
                if self.class_names.is_empty() {
                    c.iter().max().map_or(0, |m| m + 1)
                } else {
                    self.class_names.len()
                }
            }
            Targets::Values { .. } => 0,
        }
    }

    /// Target values per sample for regression, 0 for classification.
    pub fn target_dim(&self) -> usize {
        match &self.targets {
            Targets::Classes(_) => 0,
            Targets::Values { dim, .. } => *dim,
        }
    }

    /// The features of sample `i`.
    ///
    /// Panics if `i >= len()`.
    pub fn sample(&self, i: usize) -> &[f32] {
        let f = self.num_features();
        &self.x[i * f..(i + 1) * f]
    }

    /// A new dataset holding the samples at `indices`, in that order
    /// (repeats allowed). Class names and standardizer are kept.
    ///
    /// Panics if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let n = self.len();
        let f = self.num_features();
        let mut x = Vec::with_capacity(indices.len() * f);
        for &i in indices {
            assert!(
                i < n,
                "Dataset::subset: index {i} out of range for {n} samples"
            );
            x.extend_from_slice(&self.x[i * f..(i + 1) * f]);
        }
        let targets = match &self.targets {
            Targets::Classes(c) => Targets::Classes(indices.iter().map(|&i| c[i]).collect()),
            Targets::Values { values, dim } => {
                let mut v = Vec::with_capacity(indices.len() * dim);
                for &i in indices {
                    v.extend_from_slice(&values[i * dim..(i + 1) * dim]);
                }
                Targets::Values {
                    values: v,
                    dim: *dim,
                }
            }
        };
        Dataset {
            x,
            sample_shape: self.sample_shape.clone(),
            targets,
            class_names: self.class_names.clone(),
            standardizer: self.standardizer.clone(),
        }
    }

    /// Splits into `(train, validation)`: the indices are shuffled with
    /// `seed`, the first `round(len * val_fraction)` go to validation and the
    /// rest to training. Each part keeps the original sample order. The same
    /// seed always gives the same split.
    ///
    /// Panics if `val_fraction` is not in `[0, 1]` (validate user input
    /// before calling).
    pub fn split(&self, val_fraction: f32, seed: u64) -> (Dataset, Dataset) {
        assert!(
            (0.0..=1.0).contains(&val_fraction),
            "Dataset::split: val_fraction must be in [0, 1], found {val_fraction}"
        );
        let n = self.len();
        let mut order: Vec<usize> = (0..n).collect();
        Generator::new(seed).shuffle(&mut order);
        let n_val = ((n as f64) * val_fraction as f64).round() as usize;
        let n_val = n_val.min(n);
        let (val, train) = order.split_at_mut(n_val);
        val.sort_unstable();
        train.sort_unstable();
        (self.subset(train), self.subset(val))
    }

    /// The samples at `indices` as a tensor of shape `[n, ..sample_shape]`
    /// and their targets.
    ///
    /// Panics if an index is out of range.
    pub fn batch(&self, indices: &[usize]) -> (Tensor, BatchTargets) {
        let n = self.len();
        let f = self.num_features();
        let mut x = Vec::with_capacity(indices.len() * f);
        for &i in indices {
            assert!(
                i < n,
                "Dataset::batch: index {i} out of range for {n} samples"
            );
            x.extend_from_slice(&self.x[i * f..(i + 1) * f]);
        }
        let mut shape = Vec::with_capacity(self.sample_shape.len() + 1);
        shape.push(indices.len());
        shape.extend_from_slice(&self.sample_shape);
        let targets = match &self.targets {
            Targets::Classes(c) => BatchTargets::Classes(indices.iter().map(|&i| c[i]).collect()),
            Targets::Values { values, dim } => {
                let mut v = Vec::with_capacity(indices.len() * dim);
                for &i in indices {
                    v.extend_from_slice(&values[i * dim..(i + 1) * dim]);
                }
                BatchTargets::Values(Tensor::from_vec(v, &[indices.len(), *dim]))
            }
        };
        (Tensor::from_vec(x, &shape), targets)
    }

    /// Fits a [`Standardizer`] on this dataset's features, applies it, and
    /// stores it in `self.standardizer`. Returns the standardizer so it can be
    /// applied to other splits with [`Self::apply_standardizer`].
    ///
    /// Panics if the dataset already carries a standardizer.
    pub fn standardize(&mut self) -> Standardizer {
        assert!(
            self.standardizer.is_none(),
            "Dataset::standardize: the dataset is already standardised"
        );
        let s = Standardizer::fit(&self.x, self.num_features());
        s.apply(&mut self.x);
        self.standardizer = Some(s.clone());
        s
    }

    /// Applies a standardizer fitted elsewhere (e.g. on the training split)
    /// and stores it.
    pub fn apply_standardizer(&mut self, s: &Standardizer) -> Result<()> {
        if self.standardizer.is_some() {
            crate::bail!("dataset: already standardised; refusing to standardise twice");
        }
        if s.num_features() != self.num_features() {
            crate::bail!(
                "dataset: standardizer has {} features, the dataset has {}",
                s.num_features(),
                self.num_features()
            );
        }
        s.apply(&mut self.x);
        self.standardizer = Some(s.clone());
        Ok(())
    }

    /// How many samples of each class (classification only; empty otherwise).
    pub fn class_counts(&self) -> Vec<usize> {
        match &self.targets {
            Targets::Classes(c) => {
                let mut counts = vec![0; self.num_classes()];
                for &k in c {
                    counts[k] += 1;
                }
                counts
            }
            Targets::Values { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Dataset {
        // 5 samples of 2 features; sample i = [i, 10 i], class i % 2.
        let x: Vec<f32> = (0..5).flat_map(|i| [i as f32, 10.0 * i as f32]).collect();
        let y = (0..5).map(|i| i % 2).collect();
        Dataset::new(
            x,
            vec![2],
            Targets::Classes(y),
            vec!["even".into(), "odd".into()],
        )
        .unwrap()
    }

    #[test]
    fn basic_properties() {
        let d = toy();
        assert_eq!(d.len(), 5);
        assert!(!d.is_empty());
        assert_eq!(d.num_features(), 2);
        assert_eq!(d.num_classes(), 2);
        assert_eq!(d.target_dim(), 0);
        assert_eq!(d.sample(3), &[3.0, 30.0]);
        assert_eq!(d.class_counts(), vec![3, 2]);
    }

    #[test]
    fn num_classes_without_names() {
        let d = Dataset::new(
            vec![0.0; 3],
            vec![1],
            Targets::Classes(vec![0, 4, 2]),
            vec![],
        )
        .unwrap();
        assert_eq!(d.num_classes(), 5);
    }

    #[test]
    fn new_rejects_mismatched_lengths() {
        let e = Dataset::new(
            vec![0.0; 5],
            vec![2],
            Targets::Classes(vec![0, 1, 0]),
            vec![],
        )
        .unwrap_err();
        assert!(
            e.message().contains("need 6 feature values") && e.message().contains("found 5"),
            "{e}"
        );
        let e = Dataset::new(
            vec![0.0; 4],
            vec![2],
            Targets::Classes(vec![0, 2]),
            vec!["a".into(), "b".into()],
        )
        .unwrap_err();
        assert!(e.message().contains("class index 2"), "{e}");
        let e = Dataset::new(
            vec![0.0; 4],
            vec![2],
            Targets::Values {
                values: vec![1.0; 3],
                dim: 2,
            },
            vec![],
        )
        .unwrap_err();
        assert!(e.message().contains("3 target values"), "{e}");
        let e = Dataset::new(vec![], vec![0], Targets::Classes(vec![]), vec![]).unwrap_err();
        assert!(e.message().contains("no features"), "{e}");
    }

    #[test]
    fn subset_keeps_order_and_metadata() {
        let d = toy();
        let s = d.subset(&[4, 1, 1]);
        assert_eq!(s.x, vec![4.0, 40.0, 1.0, 10.0, 1.0, 10.0]);
        assert_eq!(s.targets, Targets::Classes(vec![0, 1, 1]));
        assert_eq!(s.class_names, d.class_names);
        assert_eq!(s.sample_shape, vec![2]);
    }

    #[test]
    fn split_is_deterministic_and_partitions() {
        let x: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let d = Dataset::new(x, vec![1], Targets::Classes(vec![0; 100]), vec![]).unwrap();
        let (tr, va) = d.split(0.2, 7);
        assert_eq!(tr.len(), 80);
        assert_eq!(va.len(), 20);
        let (tr2, va2) = d.split(0.2, 7);
        assert_eq!(tr.x, tr2.x);
        assert_eq!(va.x, va2.x);
        // Every sample lands in exactly one part.
        let mut all: Vec<f32> = tr.x.iter().chain(&va.x).copied().collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(all, (0..100).map(|i| i as f32).collect::<Vec<_>>());
        // Parts keep the original order.
        assert!(va.x.windows(2).all(|w| w[0] < w[1]));
        // It is a random selection, not the first or last 20.
        assert_ne!(va.x, (0..20).map(|i| i as f32).collect::<Vec<_>>());
        assert_ne!(va.x, (80..100).map(|i| i as f32).collect::<Vec<_>>());
        // Another seed gives another split.
        let (_, va3) = d.split(0.2, 8);
        assert_ne!(va.x, va3.x);
        // Edge fractions.
        let (tr0, va0) = d.split(0.0, 1);
        assert_eq!((tr0.len(), va0.len()), (100, 0));
        let (tr1, va1) = d.split(1.0, 1);
        assert_eq!((tr1.len(), va1.len()), (0, 100));
    }

    #[test]
    fn batch_classes() {
        let d = Dataset::new(
            (0..12).map(|i| i as f32).collect(),
            vec![1, 2, 2],
            Targets::Classes(vec![2, 0, 1]),
            vec![],
        )
        .unwrap();
        let (x, y) = d.batch(&[2, 0]);
        assert_eq!(x.shape(), &[2, 1, 2, 2]);
        assert_eq!(x.to_vec(), vec![8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0]);
        match y {
            BatchTargets::Classes(c) => assert_eq!(c, vec![1, 2]),
            BatchTargets::Values(_) => panic!("expected classes"),
        }
    }

    #[test]
    fn batch_values() {
        let d = Dataset::new(
            vec![1.0, 2.0, 3.0],
            vec![1],
            Targets::Values {
                values: vec![10.0, 11.0, 20.0, 21.0, 30.0, 31.0],
                dim: 2,
            },
            vec![],
        )
        .unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d.num_classes(), 0);
        assert_eq!(d.target_dim(), 2);
        let (x, y) = d.batch(&[1, 2]);
        assert_eq!(x.shape(), &[2, 1]);
        assert_eq!(x.to_vec(), vec![2.0, 3.0]);
        match y {
            BatchTargets::Values(t) => {
                assert_eq!(t.shape(), &[2, 2]);
                assert_eq!(t.to_vec(), vec![20.0, 21.0, 30.0, 31.0]);
            }
            BatchTargets::Classes(_) => panic!("expected values"),
        }
        let s = d.subset(&[2]);
        assert_eq!(
            s.targets,
            Targets::Values {
                values: vec![30.0, 31.0],
                dim: 2
            }
        );
    }

    #[test]
    fn standardizer_fit_apply_invert() {
        // Feature 0: 1, 2, 3 -> mean 2, std sqrt(2/3); feature 1 constant.
        let x = vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0];
        let s = Standardizer::fit(&x, 2);
        assert_eq!(s.mean, vec![2.0, 5.0]);
        assert!((s.std[0] - (2.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(s.std[1], 1.0, "constant feature gets std 1");
        let mut y = x.clone();
        s.apply(&mut y);
        let k = 1.0 / (2.0f32 / 3.0).sqrt();
        let want = [-k, 0.0, 0.0, 0.0, k, 0.0];
        for (a, b) in y.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{y:?}");
        }
        s.invert(&mut y);
        for (a, b) in y.iter().zip(&x) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn dataset_standardize_and_apply() {
        let mut d = toy();
        let s = d.standardize();
        assert_eq!(d.standardizer.as_ref(), Some(&s));
        // Column means are now 0 and population std 1.
        for j in 0..2 {
            let col: Vec<f32> = (0..5).map(|i| d.x[i * 2 + j]).collect();
            let m = col.iter().sum::<f32>() / 5.0;
            let v = col.iter().map(|c| (c - m) * (c - m)).sum::<f32>() / 5.0;
            assert!(m.abs() < 1e-6 && (v - 1.0).abs() < 1e-5);
        }
        let mut other = toy();
        other.apply_standardizer(&s).unwrap();
        assert_eq!(other.x, d.x);
        assert!(other
            .apply_standardizer(&s)
            .unwrap_err()
            .message()
            .contains("twice"));
        let mut wrong =
            Dataset::new(vec![1.0; 3], vec![3], Targets::Classes(vec![0]), vec![]).unwrap();
        let e = wrong.apply_standardizer(&s).unwrap_err();
        assert!(
            e.message().contains("2 features") && e.message().contains("has 3"),
            "{e}"
        );
    }
}
