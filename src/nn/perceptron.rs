//! The classic perceptron (Rosenblatt): a single neuron with a step function,
//! trained by the perceptron learning rule, not by gradients.
//!
//! ŷ = step(w·x + b);   on each sample: w ← w + η·(y − ŷ)·x,  b ← b + η·(y − ŷ)
//!
//! It converges on linearly separable data (AND, OR) and never on XOR.

use crate::tensor::Tensor;

/// A single-neuron binary classifier with a step activation.
#[derive(Clone, Debug)]
pub struct Perceptron {
    /// One weight per input.
    pub weights: Vec<f32>,
    /// The bias (the threshold's negative).
    pub bias: f32,
    /// The step of the perceptron rule `w += lr·(target - prediction)·x`.
    pub learning_rate: f32,
}

impl Perceptron {
    /// Zero weights and bias (the perceptron rule needs no random start).
    pub fn new(inputs: usize, learning_rate: f32) -> Perceptron {
        Perceptron {
            weights: vec![0.0; inputs],
            bias: 0.0,
            learning_rate,
        }
    }

    /// step(w·x + b) for one sample.
    pub fn predict_one(&self, x: &[f32]) -> f32 {
        let z: f32 = self.weights.iter().zip(x).map(|(w, x)| w * x).sum::<f32>() + self.bias;
        if z >= 0.0 {
            1.0
        } else {
            0.0
        }
    }

    /// Predictions for a batch `[N, inputs]`.
    pub fn predict(&self, x: &Tensor) -> Vec<f32> {
        let d = x.data();
        d.chunks(self.weights.len())
            .map(|r| self.predict_one(r))
            .collect()
    }

    /// Trains for up to `epochs` passes; returns the number of epochs it took to
    /// classify every sample correctly, or `None` if it never did.
    pub fn fit(&mut self, x: &Tensor, y: &[f32], epochs: usize) -> Option<usize> {
        let n = self.weights.len();
        assert_eq!(
            x.shape(),
            [y.len(), n],
            "Perceptron::fit: x {:?} does not match {} labels of {} inputs",
            x.shape(),
            y.len(),
            n
        );
        let d = x.data();
        for epoch in 1..=epochs {
            let mut errors = 0;
            for (row, &target) in d.chunks(n).zip(y) {
                let err = target - self.predict_one(row);
                if err != 0.0 {
                    errors += 1;
                    for (w, &xi) in self.weights.iter_mut().zip(row) {
                        *w += self.learning_rate * err * xi;
                    }
                    self.bias += self.learning_rate * err;
                }
            }
            if errors == 0 {
                return Some(epoch);
            }
        }
        None
    }
}
