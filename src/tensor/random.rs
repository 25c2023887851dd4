//! Seeded random numbers. One global generator (like `torch.manual_seed`) feeds
//! weight initialisation, dropout and shuffling unless a `Generator` is passed.

use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded random generator whose stream does not change between versions.
pub struct Generator {
    rng: ChaCha8Rng,
}

impl Generator {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Uniform in `[low, high)`.
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.rng.gen::<f32>()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self, mean: f32, std: f32) -> f32 {
        let u1: f64 = 1.0 - self.rng.gen::<f64>();
        let u2: f64 = self.rng.gen::<f64>();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        mean + std * z as f32
    }

    /// Uniform integer in `[0, n)`.
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.gen_range(0..n)
    }

    /// A random 64-bit value (e.g. to seed another generator).
    pub fn next_u64(&mut self) -> u64 {
        self.rng.gen()
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.rng.gen_range(0..=i);
            v.swap(i, j);
        }
    }
}

static GLOBAL: Mutex<Option<Generator>> = Mutex::new(None);

/// Seeds the global generator (PyTorch's `torch.manual_seed`).
pub fn manual_seed(seed: u64) {
    *GLOBAL.lock() = Some(Generator::new(seed));
}

/// Runs `f` with the global generator (seeded with 0 if never seeded).
pub fn with_rng<R>(f: impl FnOnce(&mut Generator) -> R) -> R {
    let mut g = GLOBAL.lock();
    f(g.get_or_insert_with(|| Generator::new(0)))
}
