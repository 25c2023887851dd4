//! Data augmentation for images: random translation, rotation, scaling,
//! horizontal flip, Gaussian noise and random erasing, applied on the fly to
//! each training batch (never to validation or test data).
//!
//! Every sample gets its own generator seeded from (seed, epoch, batch, position
//! in the batch), so a run is reproducible from its seed, a resumed run sees
//! the same augmented batches, and the result does not depend on the number of
//! threads.
//!
//! The geometric part is one affine map about the image centre. For an output
//! pixel `p` the source pixel is
//!
//! ```text
//! src = c + R(−θ) · (p − c − t) / s      (then mirrored if flipped)
//! ```
//!
//! read from the nearest pixel (or with bilinear interpolation); pixels from
//! outside the image are 0 (black), as in torchvision's `RandomAffine`; shifts
//! are whole pixels. Then Gaussian noise `N(0, σ²)` is added, then a random rectangle may be erased (torchvision's
//! `RandomErasing`: area a fraction of the image in `erase_area`, aspect ratio
//! in [0.3, 3.3]).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tensor::{Generator, Tensor};

/// `[data.augment]`: what to do to each training image. Absent keys do nothing.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Largest shift as a fraction of the width/height, in [0, 0.5]
    /// (0.1 moves a 28-pixel digit by up to 2.8 pixels each way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translate: Option<f32>,
    /// Largest rotation in degrees, in [0, 180]; the angle is uniform in ±rotate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate: Option<f32>,
    /// Zoom factor range [low, high], 0.25 ≤ low ≤ high ≤ 4 (e.g. [0.9, 1.1]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<[f32; 2]>,
    /// Probability of mirroring an image left-right, in [0, 1] (not for digits!).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hflip: Option<f32>,
    /// Standard deviation of the Gaussian noise added to every pixel, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f32>,
    /// Probability of erasing a random rectangle, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erase: Option<f32>,
    /// Erased area as a fraction of the image, [low, high] with 0 < low ≤ high ≤ 1
    /// (default [0.02, 0.33], torchvision's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erase_area: Option<[f32; 2]>,
    /// The value erased pixels get (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erase_value: Option<f32>,
    /// How rotated and scaled images are resampled: "nearest" (the default, as
    /// torchvision's RandomAffine; keeps pixels sharp) or "bilinear" (smoother).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpolation: Option<String>,
}

fn out_of_range(key: &str, expected: &str, found: impl std::fmt::Display) -> Error {
    Error::new(format!(
        "data.augment.{key} must be {expected}, found {found}"
    ))
}

fn check_unit(key: &str, v: Option<f32>, hi: f32, expected: &str) -> Result<()> {
    match v {
        Some(v) if !(v.is_finite() && (0.0..=hi).contains(&v)) => {
            Err(out_of_range(key, expected, v))
        }
        _ => Ok(()),
    }
}

impl AugmentConfig {
    /// Checks every value's range; messages name the key.
    pub fn validate(&self) -> Result<()> {
        check_unit(
            "translate",
            self.translate,
            0.5,
            "in [0, 0.5] (a fraction of the image size)",
        )?;
        check_unit("rotate", self.rotate, 180.0, "in [0, 180] degrees")?;
        check_unit("hflip", self.hflip, 1.0, "a probability in [0, 1]")?;
        check_unit("noise", self.noise, 1.0, "a standard deviation in [0, 1]")?;
        check_unit("erase", self.erase, 1.0, "a probability in [0, 1]")?;
        if let Some([a, b]) = self.scale {
            if !(a.is_finite()
                && b.is_finite()
                && (0.25..=4.0).contains(&a)
                && (0.25..=4.0).contains(&b)
                && a <= b)
            {
                return Err(out_of_range(
                    "scale",
                    "[low, high] with 0.25 <= low <= high <= 4",
                    format!("[{a}, {b}]"),
                ));
            }
        }
        if let Some([a, b]) = self.erase_area {
            if !(a.is_finite() && b.is_finite() && a > 0.0 && a <= b && b <= 1.0) {
                return Err(out_of_range(
                    "erase_area",
                    "[low, high] with 0 < low <= high <= 1",
                    format!("[{a}, {b}]"),
                ));
            }
        }
        if let Some(v) = self.erase_value {
            if !v.is_finite() {
                return Err(out_of_range("erase_value", "a finite number", v));
            }
        }
        if let Some(i) = &self.interpolation {
            if i != "nearest" && i != "bilinear" {
                return Err(Error::new(format!(
                    "data.augment.interpolation must be \"nearest\" or \"bilinear\", found \"{i}\""
                )));
            }
        }
        if (self.erase_area.is_some() || self.erase_value.is_some()) && self.erase.is_none() {
            return Err(Error::new(
                "data.augment.erase_area and erase_value shape random erasing, which is off: \
                 set data.augment.erase to a probability (e.g. 0.5)",
            ));
        }
        Ok(())
    }

    fn geometric(&self) -> bool {
        self.translate.is_some_and(|v| v > 0.0)
            || self.rotate.is_some_and(|v| v > 0.0)
            || self.scale.is_some_and(|[a, b]| a != 1.0 || b != 1.0)
    }

    /// Whether it changes anything at all.
    pub fn is_identity(&self) -> bool {
        !self.geometric()
            && self.hflip.is_none_or(|p| p == 0.0)
            && self.noise.is_none_or(|s| s == 0.0)
            && self.erase.is_none_or(|p| p == 0.0)
    }

    /// One line for logs: `rotate ±10°, translate 10%, noise σ=0.05`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = self.translate {
            parts.push(format!("translate {:.0}%", v * 100.0));
        }
        if let Some(v) = self.rotate {
            parts.push(format!("rotate ±{v}°"));
        }
        if let Some([a, b]) = self.scale {
            parts.push(format!("scale {a}-{b}"));
        }
        if let Some(v) = self.hflip {
            parts.push(format!("hflip p={v}"));
        }
        if let Some(v) = self.noise {
            parts.push(format!("noise σ={v}"));
        }
        if let Some(v) = self.erase {
            parts.push(format!("erase p={v}"));
        }
        if let Some(v) = &self.interpolation {
            parts.push(v.clone());
        }
        parts.join(", ")
    }
}

/// Applies an [`AugmentConfig`] to batches of images `[n, c, h, w]`.
#[derive(Clone, Debug)]
pub struct Augmenter {
    cfg: AugmentConfig,
    c: usize,
    h: usize,
    w: usize,
    seed: u64,
}

/// SplitMix64 finaliser: mixes several numbers into one well-spread seed.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Augmenter {
    /// An augmenter for samples of `sample_shape` (`[channels, height, width]`)
    /// seeded with `seed`. Errors if the config is out of range or the samples
    /// are not images.
    pub fn new(cfg: &AugmentConfig, sample_shape: &[usize], seed: u64) -> Result<Augmenter> {
        cfg.validate()?;
        let (c, h, w) = match sample_shape {
            [c, h, w] => (*c, *h, *w),
            _ if !cfg.geometric() && cfg.hflip.is_none() && cfg.erase.is_none() => {
                // Noise alone works on any sample: treat it as one long row.
                (1, 1, sample_shape.iter().product())
            }
            _ => {
                return Err(Error::new(format!(
                    "[data.augment]: translation, rotation, scaling, flips and erasing need images \
                     [channels, height, width], but the samples have shape {sample_shape:?}; only \
                     `noise` applies to other data"
                )))
            }
        };
        Ok(Augmenter {
            cfg: cfg.clone(),
            c,
            h,
            w,
            seed,
        })
    }

    /// The config.
    pub fn config(&self) -> &AugmentConfig {
        &self.cfg
    }

    fn sample_seed(&self, epoch: usize, batch: usize, i: usize) -> u64 {
        let mut z = mix(self.seed ^ 0xA076_1D64_78BD_642F);
        z = mix(z ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = mix(z ^ (batch as u64).wrapping_mul(0xE703_7ED1_A0B4_28DB));
        mix(z ^ (i as u64).wrapping_add(1))
    }

    /// The augmented copy of the training batch `x` (`[n, c, h, w]`), the
    /// `batch`-th of epoch `epoch`. `x` itself is not changed.
    ///
    /// Panics if `x` does not hold samples of the augmenter's shape.
    pub fn apply_batch(&self, x: &Tensor, epoch: usize, batch: usize) -> Tensor {
        let per = self.c * self.h * self.w;
        assert!(
            x.ndim() >= 1 && x.numel() == x.shape()[0] * per,
            "Augmenter::apply_batch: batch {:?} does not hold samples of {} values",
            x.shape(),
            per
        );
        if self.cfg.is_identity() {
            return x.clone();
        }
        let src = x.data();
        let mut out = vec![0.0f32; src.len()];
        out.par_chunks_mut(per)
            .zip(src.par_chunks(per))
            .enumerate()
            .for_each(|(i, (dst, s))| {
                let mut g = Generator::new(self.sample_seed(epoch, batch, i));
                self.apply_sample(s, dst, &mut g);
            });
        Tensor::from_vec(out, x.shape())
    }

    /// Augments one sample `src` (`c·h·w` values) into `dst` with generator `g`.
    pub fn apply_sample(&self, src: &[f32], dst: &mut [f32], g: &mut Generator) {
        let cfg = &self.cfg;
        let (h, w) = (self.h, self.w);
        let plane = h * w;
        // Draw every random number in a fixed order, whether used or not, so that
        // turning one option on does not reshuffle the others.
        let angle = cfg.rotate.unwrap_or(0.0) * g.uniform(-1.0, 1.0);
        let [s_lo, s_hi] = cfg.scale.unwrap_or([1.0, 1.0]);
        let scale = g.uniform(s_lo, s_hi);
        let t = cfg.translate.unwrap_or(0.0);
        // Whole pixels, as torchvision: a pure shift moves pixels without resampling them.
        let tx = (t * w as f32 * g.uniform(-1.0, 1.0)).round();
        let ty = (t * h as f32 * g.uniform(-1.0, 1.0)).round();
        let flip = g.uniform(0.0, 1.0) < cfg.hflip.unwrap_or(0.0);
        if cfg.geometric() {
            let bilinear = cfg.interpolation.as_deref() == Some("bilinear");
            affine(src, dst, h, w, angle, scale, (tx, ty), flip, bilinear);
        } else if flip {
            for (drow, srow) in dst.chunks_exact_mut(w).zip(src.chunks_exact(w)) {
                for (d, s) in drow.iter_mut().zip(srow.iter().rev()) {
                    *d = *s;
                }
            }
        } else {
            dst.copy_from_slice(src);
        }
        if let Some(sigma) = cfg.noise.filter(|&s| s > 0.0) {
            dst.iter_mut().for_each(|v| *v += g.normal(0.0, sigma));
        }
        if let Some(p) = cfg.erase {
            if g.uniform(0.0, 1.0) < p {
                let [a_lo, a_hi] = cfg.erase_area.unwrap_or([0.02, 0.33]);
                let value = cfg.erase_value.unwrap_or(0.0);
                let (r_lo, r_hi) = (0.3f32.ln(), (1.0f32 / 0.3).ln());
                for _ in 0..10 {
                    let area = g.uniform(a_lo, a_hi) * plane as f32;
                    let ratio = g.uniform(r_lo, r_hi).exp();
                    let eh = (area * ratio).sqrt().round() as usize;
                    let ew = (area / ratio).sqrt().round() as usize;
                    if eh == 0 || ew == 0 || eh >= h || ew >= w {
                        continue;
                    }
                    let top = g.below(h - eh + 1);
                    let left = g.below(w - ew + 1);
                    for dp in dst.chunks_exact_mut(plane) {
                        for y in top..top + eh {
                            dp[y * w + left..y * w + left + ew].fill(value);
                        }
                    }
                    break;
                }
            }
        }
    }
}

/// The affine map about the image centre applied to every `h·w` plane of
/// `src` into `dst`: rotation by `angle` degrees (counter-clockwise as seen on
/// screen), zoom by `scale`, shift by `(tx, ty)` pixels (right, down), then a
/// left-right mirror if `flip`. Bilinear interpolation if `bilinear`, else the
/// nearest pixel; 0 outside the image.
#[allow(clippy::too_many_arguments)]
pub fn affine(
    src: &[f32],
    dst: &mut [f32],
    h: usize,
    w: usize,
    angle: f32,
    scale: f32,
    (tx, ty): (f32, f32),
    flip: bool,
    bilinear: bool,
) {
    let plane = h * w;
    assert!(
        plane > 0 && src.len() == dst.len() && src.len().is_multiple_of(plane),
        "affine: {} and {} values are not planes of {h}x{w}",
        src.len(),
        dst.len()
    );
    // y points down, so a counter-clockwise turn on screen is clockwise in (x, y).
    let (sin, cos) = angle.to_radians().sin_cos();
    let cy = (h as f32 - 1.0) / 2.0;
    let cx = (w as f32 - 1.0) / 2.0;
    let inv = 1.0 / scale;
    for (dp, sp) in dst.chunks_exact_mut(plane).zip(src.chunks_exact(plane)) {
        for oy in 0..h {
            for ox in 0..w {
                let ox_f = if flip { (w - 1 - ox) as f32 } else { ox as f32 };
                let px = ox_f - cx - tx;
                let py = oy as f32 - cy - ty;
                // Inverse map: rotate back by the angle, undo the zoom.
                let sx = cx + (cos * px - sin * py) * inv;
                let sy = cy + (sin * px + cos * py) * inv;
                dp[oy * w + ox] = if bilinear {
                    bilinear_at(sp, h, w, sy, sx)
                } else {
                    nearest_at(sp, h, w, sy, sx)
                };
            }
        }
    }
}

/// The pixel of `plane[h, w]` nearest to (y, x); 0 outside.
#[inline]
fn nearest_at(plane: &[f32], h: usize, w: usize, y: f32, x: f32) -> f32 {
    let (y, x) = (y.round(), x.round());
    if y >= 0.0 && x >= 0.0 && y < h as f32 && x < w as f32 {
        plane[y as usize * w + x as usize]
    } else {
        0.0
    }
}

/// Bilinear read of `plane[h, w]` at (y, x); 0 outside.
#[inline]
fn bilinear_at(plane: &[f32], h: usize, w: usize, y: f32, x: f32) -> f32 {
    if !(y > -1.0 && x > -1.0 && y < h as f32 && x < w as f32) {
        return 0.0;
    }
    let y0 = y.floor();
    let x0 = x.floor();
    let (fy, fx) = (y - y0, x - x0);
    let (y0, x0) = (y0 as isize, x0 as isize);
    let at = |yy: isize, xx: isize| -> f32 {
        if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
            0.0
        } else {
            plane[yy as usize * w + xx as usize]
        }
    };
    let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx;
    let bottom = at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(c: usize, h: usize, w: usize) -> Tensor {
        let v: Vec<f32> = (0..c * h * w)
            .map(|i| (i % (h * w)) as f32 / 10.0)
            .collect();
        Tensor::from_vec(v, &[1, c, h, w])
    }

    #[test]
    fn identity_config_returns_the_batch() {
        let a = Augmenter::new(&AugmentConfig::default(), &[1, 4, 4], 0).unwrap();
        let x = ramp(1, 4, 4);
        assert_eq!(a.apply_batch(&x, 1, 0).to_vec(), x.to_vec());
    }

    #[test]
    fn flip_mirrors_each_row() {
        let cfg = AugmentConfig {
            hflip: Some(1.0),
            ..Default::default()
        };
        let a = Augmenter::new(&cfg, &[2, 2, 3], 0).unwrap();
        let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[1, 2, 2, 3]);
        assert_eq!(
            a.apply_batch(&x, 1, 0).to_vec(),
            vec![2., 1., 0., 5., 4., 3., 8., 7., 6., 11., 10., 9.]
        );
    }

    #[test]
    fn rotation_by_zero_and_scale_one_is_exact() {
        let cfg = AugmentConfig {
            rotate: Some(0.0),
            scale: Some([1.0, 1.0]),
            translate: Some(0.0),
            ..Default::default()
        };
        let a = Augmenter::new(&cfg, &[1, 5, 5], 3).unwrap();
        let x = ramp(1, 5, 5);
        assert_eq!(a.apply_batch(&x, 2, 7).to_vec(), x.to_vec());
    }

    #[test]
    fn bilinear_interpolates_and_pads_with_zero() {
        let p = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(bilinear_at(&p, 2, 2, 0.5, 0.5), 1.5);
        assert_eq!(bilinear_at(&p, 2, 2, 0.0, 1.0), 1.0);
        assert_eq!(bilinear_at(&p, 2, 2, 0.0, 1.5), 0.5);
        assert_eq!(bilinear_at(&p, 2, 2, 5.0, 0.0), 0.0);
    }
}
