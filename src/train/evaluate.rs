//! Loss, accuracy and the confusion matrix of a classifier on a dataset.

use crate::autograd::no_grad;
use crate::data::{BatchTargets, Dataset};
use crate::nn::{cross_entropy, Module, Reduction};

/// The outcome of evaluating a classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalResult {
    /// Mean cross-entropy.
    pub loss: f32,
    /// Share of samples whose arg-max class is the label.
    pub accuracy: f32,
    /// Samples classified correctly.
    pub correct: usize,
    /// Samples seen.
    pub total: usize,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Evaluates `net` (producing logits) on `data` in batches, without recording
/// gradients. Put the model in evaluation mode first.
pub fn evaluate(net: &dyn Module, data: &Dataset, batch_size: usize) -> EvalResult {
    let k = data.num_classes();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut loss_sum = 0.0f64;
    let n = data.len();
    let bs = batch_size.max(1);
    no_grad(|| {
        let mut start = 0;
        while start < n {
            let idx: Vec<usize> = (start..(start + bs).min(n)).collect();
            let (x, y) = data.batch(&idx);
            let BatchTargets::Classes(y) = y else {
                unreachable!("evaluate: a classifier needs class labels")
            };
            let logits = net.forward(&x);
            loss_sum += cross_entropy(&logits, &y, Reduction::Sum).item() as f64;
            for (p, t) in logits.argmax_rows().into_iter().zip(&y) {
                confusion[*t][p] += 1;
            }
            start += bs;
        }
    });
    let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
    EvalResult {
        loss: (loss_sum / n.max(1) as f64) as f32,
        accuracy: correct as f32 / n.max(1) as f32,
        correct,
        total: n,
        confusion,
    }
}
