//! Constructors: zeros, ones, full, arange, random.

use super::{numel, with_rng, Generator, Tensor};

impl Tensor {
    /// All zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 0.0)
    }

    /// All ones.
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// Every element `v`.
    pub fn full(shape: &[usize], v: f32) -> Tensor {
        Tensor::from_vec(vec![v; numel(shape)], shape)
    }

    /// Zeros of the same shape as `self`.
    pub fn zeros_like(&self) -> Tensor {
        Tensor::zeros(self.shape())
    }

    /// Ones of the same shape as `self`.
    pub fn ones_like(&self) -> Tensor {
        Tensor::ones(self.shape())
    }

    /// `start, start + step, ...` below `end` (1-D).
    pub fn arange(start: f32, end: f32, step: f32) -> Tensor {
        assert!(step != 0.0, "arange: step must not be zero");
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let v: Vec<f32> = (0..n).map(|i| start + i as f32 * step).collect();
        Tensor::from_vec(v, &[n])
    }

    /// Normal(mean, std) values from the global generator.
    pub fn randn(shape: &[usize], mean: f32, std: f32) -> Tensor {
        with_rng(|g| Tensor::randn_with(shape, mean, std, g))
    }

    /// Uniform `[low, high)` values from the global generator.
    pub fn rand(shape: &[usize], low: f32, high: f32) -> Tensor {
        with_rng(|g| Tensor::rand_with(shape, low, high, g))
    }

    /// Normal(mean, std) values from `g`.
    pub fn randn_with(shape: &[usize], mean: f32, std: f32, g: &mut Generator) -> Tensor {
        let v = (0..numel(shape)).map(|_| g.normal(mean, std)).collect();
        Tensor::from_vec(v, shape)
    }

    /// Uniform `[low, high)` values from `g`.
    pub fn rand_with(shape: &[usize], low: f32, high: f32, g: &mut Generator) -> Tensor {
        let v = (0..numel(shape)).map(|_| g.uniform(low, high)).collect();
        Tensor::from_vec(v, shape)
    }
}
