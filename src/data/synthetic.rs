//! Built-in synthetic datasets: seeded toy problems for learning how depth and
//! width change what a network can learn.
//!
//! Two features (x1, x2), classification:
//! - `xor`: uniform points in the square [-1, 1]², kept 0.1 away from the axes;
//!   class 1 where the signs of x1 and x2 differ (not linearly separable).
//! - `circles`: an outer circle of radius 1 (class 0) around an inner one of
//!   radius 0.5 (class 1), as sklearn's `make_circles(factor=0.5)`.
//! - `moons`: two interleaving half circles, as sklearn's `make_moons`.
//! - `spirals`: `classes` arms (default 2) winding 1.5 turns out from the
//!   centre, each a class; radius grows from 0.1 to 1.
//! - `blobs`: `classes` Gaussian blobs (default 3) whose centres sit on a
//!   circle of radius 2; `noise` is each blob's standard deviation.
//!
//! One feature (x), regression (a numeric target y):
//! - `sine`: y = sin(x) on [-π, π].
//! - `polynomial`: y = c₀ + c₁x + c₂x² + … on [-2, 2] (default y = 0.5x³ − x).
//!
//! Every set takes a sample count, a noise level (the standard deviation of
//! Gaussian noise added to the coordinates, or to y for regression) and a
//! seed; the same arguments always give the same points.

use std::f32::consts::PI;

use crate::data::dataset::{Dataset, Targets};
use crate::error::Result;
use crate::tensor::Generator;

/// The 2-D classification sets.
pub const CLASSIFICATION_SETS: &[&str] = &["xor", "circles", "moons", "spirals", "blobs"];
/// The 1-D regression sets.
pub const REGRESSION_SETS: &[&str] = &["sine", "polynomial"];
/// Every synthetic set.
pub const NAMES: &[&str] = &[
    "xor",
    "circles",
    "moons",
    "spirals",
    "blobs",
    "sine",
    "polynomial",
];

/// Whether `name` is a built-in synthetic set.
pub fn is_synthetic(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Whether `name` is a synthetic regression set (numeric targets).
pub fn is_regression(name: &str) -> bool {
    REGRESSION_SETS.contains(&name)
}

/// How to generate a synthetic set; [`SyntheticOptions::defaults`] gives each
/// set's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticOptions {
    /// Number of points.
    pub samples: usize,
    /// Standard deviation of the Gaussian noise.
    pub noise: f32,
    /// Number of classes (spirals, blobs; the other classification sets have 2).
    pub classes: usize,
    /// Seed of the points (independent of the training seed).
    pub seed: u64,
    /// polynomial: c₀, c₁, c₂, … of y = Σ cᵢ xⁱ.
    pub coefficients: Vec<f32>,
    /// 1-D sets: the interval x is drawn from.
    pub range: (f32, f32),
}

impl SyntheticOptions {
    /// The defaults of set `name` (None if it is not a synthetic set).
    pub fn defaults(name: &str) -> Option<SyntheticOptions> {
        let (samples, noise, classes) = match name {
            "xor" => (400, 0.05, 2),
            "circles" => (400, 0.05, 2),
            "moons" => (400, 0.1, 2),
            "spirals" => (400, 0.03, 2),
            "blobs" => (400, 0.4, 3),
            "sine" => (200, 0.1, 0),
            "polynomial" => (200, 0.1, 0),
            _ => return None,
        };
        Some(SyntheticOptions {
            samples,
            noise,
            classes,
            seed: 0,
            coefficients: vec![0.0, -1.0, 0.0, 0.5],
            range: if name == "sine" {
                (-PI, PI)
            } else {
                (-2.0, 2.0)
            },
        })
    }
}

/// Checks options for set `name`; messages name the `[data]` key at fault.
pub fn check_options(name: &str, o: &SyntheticOptions) -> Result<()> {
    if !is_synthetic(name) {
        crate::bail!(
            "data.dataset: \"{name}\" is not a synthetic dataset (those are {})",
            NAMES.join(", ")
        );
    }
    if !(o.noise >= 0.0 && o.noise.is_finite()) {
        crate::bail!("data.noise must be zero or positive, found {}", o.noise);
    }
    let classes = if is_regression(name) { 1 } else { o.classes };
    match name {
        "spirals" | "blobs" if !(2..=10).contains(&o.classes) => {
            crate::bail!(
                "data.classes must be between 2 and 10 for {name}, found {}",
                o.classes
            )
        }
        "xor" | "circles" | "moons" if o.classes != 2 => {
            crate::bail!(
                "data.classes: {name} always has 2 classes, found classes = {}",
                o.classes
            )
        }
        _ => {}
    }
    if o.samples < 2 * classes.max(1) {
        crate::bail!(
            "data.samples must be at least {} for {name}, found {}",
            2 * classes.max(1),
            o.samples
        );
    }
    if o.samples > 10_000_000 {
        crate::bail!("data.samples must be at most 10000000, found {}", o.samples);
    }
    if is_regression(name) {
        let (a, b) = o.range;
        if !(a.is_finite() && b.is_finite() && a < b) {
            crate::bail!("data.range must be [low, high] with low < high, found [{a}, {b}]");
        }
    }
    if name == "polynomial" {
        if o.coefficients.is_empty() {
            crate::bail!("data.coefficients: give at least one coefficient (c0, c1, ...)");
        }
        if let Some(c) = o.coefficients.iter().find(|c| !c.is_finite()) {
            crate::bail!("data.coefficients must be finite numbers, found {c}");
        }
    }
    Ok(())
}

/// Generates set `name` (see the module docs), after [`check_options`].
pub fn generate(name: &str, o: &SyntheticOptions) -> Result<Dataset> {
    check_options(name, o)?;
    Ok(match name {
        "xor" => xor(o.samples, o.noise, o.seed),
        "circles" => circles(o.samples, o.noise, o.seed),
        "moons" => moons(o.samples, o.noise, o.seed),
        "spirals" => spirals(o.samples, o.classes, o.noise, o.seed),
        "blobs" => blobs(o.samples, o.classes, o.noise, o.seed),
        "sine" => sine_in(o.samples, o.noise, o.range, o.seed),
        _ => polynomial_in(o.samples, &o.coefficients, o.noise, o.range, o.seed),
    })
}

/// The feature names of set `name`: ["x1", "x2"] or ["x"].
pub fn feature_names(name: &str) -> Vec<String> {
    if is_regression(name) {
        vec!["x".into()]
    } else {
        vec!["x1".into(), "x2".into()]
    }
}

fn class_names(k: usize) -> Vec<String> {
    (0..k).map(|c| c.to_string()).collect()
}

/// Builds a 2-D classification set: `point(g, class, i, n_class)` gives the
/// i-th of `n_class` noiseless points of `class`; noise is added after.
fn two_d(
    samples: usize,
    classes: usize,
    noise: f32,
    seed: u64,
    mut point: impl FnMut(&mut Generator, usize, usize, usize) -> (f32, f32),
) -> Dataset {
    let mut g = Generator::new(seed);
    let mut x = Vec::with_capacity(samples * 2);
    let mut y = Vec::with_capacity(samples);
    for c in 0..classes {
        // Balanced classes: the first `samples % classes` classes get one more.
        let n = samples / classes + usize::from(c < samples % classes);
        for i in 0..n {
            let (a, b) = point(&mut g, c, i, n);
            x.push(a + g.normal(0.0, noise));
            x.push(b + g.normal(0.0, noise));
            y.push(c);
        }
    }
    Dataset::new(x, vec![2], Targets::Classes(y), class_names(classes))
        .expect("synthetic data is consistent")
}

/// XOR: class 1 where the signs of x1 and x2 differ.
pub fn xor(samples: usize, noise: f32, seed: u64) -> Dataset {
    two_d(samples, 2, noise, seed, |g, c, _, _| {
        let sx = if g.uniform(0.0, 1.0) < 0.5 { -1.0 } else { 1.0 };
        // class 0: same signs; class 1: different signs.
        let sy = if c == 0 { sx } else { -sx };
        (sx * g.uniform(0.1, 1.0), sy * g.uniform(0.1, 1.0))
    })
}

/// Two concentric circles: radius 1 (class 0) and 0.5 (class 1).
pub fn circles(samples: usize, noise: f32, seed: u64) -> Dataset {
    two_d(samples, 2, noise, seed, |g, c, _, _| {
        let t = g.uniform(0.0, 2.0 * PI);
        let r = if c == 0 { 1.0 } else { 0.5 };
        (r * t.cos(), r * t.sin())
    })
}

/// Two interleaving half circles (sklearn's make_moons).
pub fn moons(samples: usize, noise: f32, seed: u64) -> Dataset {
    two_d(samples, 2, noise, seed, |g, c, _, _| {
        let t = g.uniform(0.0, PI);
        if c == 0 {
            (t.cos(), t.sin())
        } else {
            (1.0 - t.cos(), 0.5 - t.sin())
        }
    })
}

/// `classes` spiral arms of 1.5 turns each, one class per arm.
pub fn spirals(samples: usize, classes: usize, noise: f32, seed: u64) -> Dataset {
    let k = classes.max(1);
    two_d(samples, k, noise, seed, |g, c, _, _| {
        let t = g.uniform(0.0, 1.0);
        let r = 0.1 + 0.9 * t;
        let theta = c as f32 * 2.0 * PI / k as f32 + t * 3.0 * PI;
        (r * theta.cos(), r * theta.sin())
    })
}

/// `classes` Gaussian blobs with standard deviation `noise`, centred on a circle of radius 2.
pub fn blobs(samples: usize, classes: usize, noise: f32, seed: u64) -> Dataset {
    let k = classes.max(1);
    two_d(samples, k, noise, seed, |_, c, _, _| {
        let a = c as f32 * 2.0 * PI / k as f32;
        (2.0 * a.cos(), 2.0 * a.sin())
    })
}

fn one_d(
    samples: usize,
    noise: f32,
    (lo, hi): (f32, f32),
    seed: u64,
    f: impl Fn(f32) -> f32,
) -> Dataset {
    let mut g = Generator::new(seed);
    let mut x = Vec::with_capacity(samples);
    let mut y = Vec::with_capacity(samples);
    for _ in 0..samples {
        let v = g.uniform(lo, hi);
        x.push(v);
        y.push(f(v) + g.normal(0.0, noise));
    }
    Dataset::new(
        x,
        vec![1],
        Targets::Values { values: y, dim: 1 },
        Vec::new(),
    )
    .expect("synthetic data is consistent")
}

/// y = sin(x) + noise, x uniform in [-π, π].
pub fn sine(samples: usize, noise: f32, seed: u64) -> Dataset {
    sine_in(samples, noise, (-PI, PI), seed)
}

/// y = sin(x) + noise, x uniform in `range`.
pub fn sine_in(samples: usize, noise: f32, range: (f32, f32), seed: u64) -> Dataset {
    one_d(samples, noise, range, seed, f32::sin)
}

/// y = Σ cᵢ xⁱ + noise, x uniform in [-2, 2].
pub fn polynomial(samples: usize, coefficients: &[f32], noise: f32, seed: u64) -> Dataset {
    polynomial_in(samples, coefficients, noise, (-2.0, 2.0), seed)
}

/// y = Σ cᵢ xⁱ + noise, x uniform in `range`.
pub fn polynomial_in(
    samples: usize,
    coefficients: &[f32],
    noise: f32,
    range: (f32, f32),
    seed: u64,
) -> Dataset {
    let c = coefficients.to_vec();
    one_d(samples, noise, range, seed, move |x| {
        c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(d: &Dataset) -> Vec<usize> {
        match &d.targets {
            Targets::Classes(c) => c.clone(),
            _ => panic!("expected classes"),
        }
    }

    #[test]
    fn shapes_balance_and_determinism() {
        for name in CLASSIFICATION_SETS {
            let o = SyntheticOptions::defaults(name).unwrap();
            let d = generate(name, &o).unwrap();
            assert_eq!(d.len(), o.samples, "{name}");
            assert_eq!(d.sample_shape, vec![2]);
            let counts = d.class_counts();
            assert_eq!(counts.len(), o.classes);
            assert!(
                counts.iter().all(|&c| c >= o.samples / o.classes),
                "{name} {counts:?}"
            );
            assert_eq!(
                generate(name, &o).unwrap(),
                d,
                "{name}: same seed, same data"
            );
            let other = generate(name, &SyntheticOptions { seed: 9, ..o }).unwrap();
            assert_ne!(other.x, d.x, "{name}: another seed, other points");
        }
        for name in REGRESSION_SETS {
            let o = SyntheticOptions::defaults(name).unwrap();
            let d = generate(name, &o).unwrap();
            assert_eq!(d.len(), o.samples);
            assert_eq!(d.sample_shape, vec![1]);
            assert_eq!(d.target_dim(), 1);
        }
    }

    #[test]
    fn noiseless_sets_follow_their_rule() {
        let d = xor(200, 0.0, 1);
        for (i, c) in classes(&d).iter().enumerate() {
            let p = d.sample(i);
            assert!(p[0].abs() >= 0.1 && p[1].abs() >= 0.1 && p[0].abs() <= 1.0);
            assert_eq!(*c == 1, (p[0] > 0.0) != (p[1] > 0.0), "{p:?}");
        }
        let d = circles(100, 0.0, 1);
        for (i, c) in classes(&d).iter().enumerate() {
            let p = d.sample(i);
            let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
            assert!((r - if *c == 0 { 1.0 } else { 0.5 }).abs() < 1e-5);
        }
        let d = sine(50, 0.0, 3);
        let Targets::Values { values, .. } = &d.targets else {
            panic!()
        };
        for (x, y) in d.x.iter().zip(values) {
            assert!((x.sin() - y).abs() < 1e-6 && x.abs() <= PI);
        }
        let d = polynomial(50, &[1.0, 0.0, 2.0], 0.0, 3);
        let Targets::Values { values, .. } = &d.targets else {
            panic!()
        };
        for (x, y) in d.x.iter().zip(values) {
            assert!((1.0 + 2.0 * x * x - y).abs() < 1e-4);
        }
        let d = spirals(300, 3, 0.0, 2);
        assert_eq!(d.class_counts(), vec![100, 100, 100]);
        for i in 0..d.len() {
            let p = d.sample(i);
            let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
            assert!((0.099..=1.0001).contains(&r), "{r}");
        }
    }

    #[test]
    fn noise_spreads_points() {
        let a = circles(400, 0.0, 5);
        let b = circles(400, 0.2, 5);
        let spread = |d: &Dataset| {
            (0..d.len())
                .map(|i| {
                    let p = d.sample(i);
                    let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
                    let want = if classes(d)[i] == 0 { 1.0 } else { 0.5 };
                    (r - want).abs()
                })
                .sum::<f32>()
                / d.len() as f32
        };
        assert!(spread(&a) < 1e-5);
        assert!(spread(&b) > 0.08, "{}", spread(&b));
    }

    #[test]
    fn bad_options_are_named() {
        let mut o = SyntheticOptions::defaults("spirals").unwrap();
        o.classes = 1;
        assert!(generate("spirals", &o)
            .unwrap_err()
            .message()
            .contains("data.classes"));
        let mut o = SyntheticOptions::defaults("moons").unwrap();
        o.classes = 3;
        assert!(generate("moons", &o)
            .unwrap_err()
            .message()
            .contains("always has 2"));
        o.classes = 2;
        o.noise = -1.0;
        assert!(generate("moons", &o)
            .unwrap_err()
            .message()
            .contains("data.noise"));
        let mut o = SyntheticOptions::defaults("sine").unwrap();
        o.samples = 1;
        assert!(generate("sine", &o)
            .unwrap_err()
            .message()
            .contains("data.samples"));
        let mut o = SyntheticOptions::defaults("polynomial").unwrap();
        o.coefficients.clear();
        assert!(generate("polynomial", &o)
            .unwrap_err()
            .message()
            .contains("data.coefficients"));
        o.coefficients = vec![1.0];
        o.range = (1.0, 1.0);
        assert!(generate("polynomial", &o)
            .unwrap_err()
            .message()
            .contains("data.range"));
    }
}
