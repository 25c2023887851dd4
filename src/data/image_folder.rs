//! An image-folder dataset (torchvision's `ImageFolder`): a directory with one
//! sub-directory per class, each holding PNG or JPEG files.
//!
//! ```text
//! shapes/
//!   circle/    a.png b.png ...
//!   square/    c.jpg ...
//!   triangle/  ...
//! ```
//!
//! Classes are the sub-directory names in sorted order. Every image is decoded,
//! converted to grayscale (1 channel) or RGB (3 channels), resized to the
//! configured height × width, and scaled to [0, 1]: samples `[channels, h, w]`.
//! Files with other extensions and hidden files are ignored. An image that
//! cannot be decoded is skipped with a warning or stops loading with an error
//! that names it, as configured.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::data::dataset::{Dataset, Targets};
use crate::error::{describe_io, Error, Result};

pub use super::config::{BadImage, ImageFolderOptions};

/// The extensions read as images (case-insensitive).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::new(format!(
            "cannot read {}: {}",
            dir.display(),
            describe_io(&e)
        ))
    })?;
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|e| {
            Error::new(format!(
                "cannot read {}: {}",
                dir.display(),
                describe_io(&e)
            ))
        })?;
        let p = e.path();
        if !hidden(&p) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The classes (sorted sub-directory names) and each class's image files.
pub fn scan_image_folder(dir: impl AsRef<Path>) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        crate::bail!(
            "{}: image folder not found (it should hold one sub-directory of PNG/JPEG images per class)",
            dir.display()
        );
    }
    let mut classes = Vec::new();
    let mut loose = 0usize;
    for p in read_dir_sorted(dir)? {
        if p.is_dir() {
            let files: Vec<PathBuf> = read_dir_sorted(&p)?
                .into_iter()
                .filter(|f| f.is_file() && is_image(f))
                .collect();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            classes.push((name, files));
        } else if is_image(&p) {
            loose += 1;
        }
    }
    if classes.is_empty() {
        crate::bail!(
            "{}: no class directories{}; an image folder holds one sub-directory per class, e.g. {}/cat/1.png and {}/dog/2.jpg",
            dir.display(),
            if loose > 0 {
                format!(" ({loose} images lie directly in it)")
            } else {
                String::new()
            },
            dir.display(),
            dir.display()
        );
    }
    if let Some((name, _)) = classes.iter().find(|(_, f)| f.is_empty()) {
        crate::bail!(
            "{}: class '{name}' has no images (PNG or JPEG files) in {}; add some or remove the directory",
            dir.display(),
            dir.join(name).display()
        );
    }
    if classes.len() < 2 {
        crate::bail!(
            "{}: only one class ('{}'); a classifier needs at least two class directories",
            dir.display(),
            classes[0].0
        );
    }
    Ok(classes)
}

/// Decodes `file` to `channels × h × w` values in [0, 1] (resized with a
/// triangle filter; grayscale by luma, RGB channel-first).
pub fn load_image_file(
    file: impl AsRef<Path>,
    channels: usize,
    h: usize,
    w: usize,
) -> Result<Vec<f32>> {
    let file = file.as_ref();
    Ok(image_to_chw(&open_image(file)?, channels, h, w))
}

/// Opens and decodes an image file; a missing file, a directory and an
/// undecodable file each get their own message naming the path.
pub fn open_image(file: impl AsRef<Path>) -> Result<image::DynamicImage> {
    let file = file.as_ref();
    match std::fs::metadata(file) {
        Err(e) => crate::bail!("{}: {}", file.display(), describe_io(&e)),
        Ok(m) if m.is_dir() => crate::bail!(
            "{} is a directory: give an image file (PNG, JPEG, ...), or several, e.g. {}/*.png",
            file.display(),
            file.display()
        ),
        Ok(_) => {}
    }
    image::open(file)
        .map_err(|e| Error::new(format!("{}: cannot decode the image: {e}", file.display())))
}

/// Resizes a decoded image and lays it out as `channels × h × w` in [0, 1].
pub fn image_to_chw(img: &image::DynamicImage, channels: usize, h: usize, w: usize) -> Vec<f32> {
    let resized = if img.width() as usize == w && img.height() as usize == h {
        img.clone()
    } else {
        img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle)
    };
    if channels == 1 {
        resized
            .to_luma8()
            .pixels()
            .map(|p| p.0[0] as f32 / 255.0)
            .collect()
    } else {
        let rgb = resized.to_rgb8();
        let mut v = vec![0.0f32; 3 * h * w];
        for (i, p) in rgb.pixels().enumerate() {
            for c in 0..3 {
                v[c * h * w + i] = p.0[c] as f32 / 255.0;
            }
        }
        v
    }
}

/// Loads an image folder into a dataset of `[channels, h, w]` samples, and
/// the warnings for skipped files (already printed to stderr).
pub fn load_image_folder(
    dir: impl AsRef<Path>,
    opts: &ImageFolderOptions,
) -> Result<(Dataset, Vec<String>)> {
    let dir = dir.as_ref();
    let (h, w) = opts.size;
    if h == 0 || w == 0 {
        crate::bail!("image size {h}x{w}: height and width must be at least 1");
    }
    if opts.channels != 1 && opts.channels != 3 {
        crate::bail!(
            "channels = {}: an image folder gives 1 (grayscale) or 3 (RGB) channels",
            opts.channels
        );
    }
    let classes = scan_image_folder(dir)?;
    let files: Vec<(usize, &PathBuf)> = classes
        .iter()
        .enumerate()
        .flat_map(|(k, (_, fs))| fs.iter().map(move |f| (k, f)))
        .collect();
    let decoded: Vec<Result<Vec<f32>>> = files
        .par_iter()
        .map(|(_, f)| load_image_file(f, opts.channels, h, w))
        .collect();
    let per = opts.channels * h * w;
    let mut x = Vec::with_capacity(files.len() * per);
    let mut y = Vec::with_capacity(files.len());
    let mut warnings = Vec::new();
    let mut kept = vec![0usize; classes.len()];
    for ((k, _), r) in files.iter().zip(decoded) {
        match r {
            Ok(v) => {
                x.extend_from_slice(&v);
                y.push(*k);
                kept[*k] += 1;
            }
            Err(e) => match opts.on_bad_image {
                BadImage::Error => {
                    return Err(Error::new(format!(
                        "{} (set data.on_bad_image = \"skip\" to leave such files out)",
                        e.message()
                    )))
                }
                BadImage::Skip => {
                    let msg = format!("{}; skipped", e.message());
                    eprintln!("warning: {msg}");
                    warnings.push(msg);
                }
            },
        }
    }
    if let Some(k) = kept.iter().position(|&c| c == 0) {
        crate::bail!(
            "{}: class '{}' has no readable images: all {} of its files failed to decode",
            dir.display(),
            classes[k].0,
            classes[k].1.len()
        );
    }
    let names = classes.into_iter().map(|(n, _)| n).collect();
    let ds = Dataset::new(x, vec![opts.channels, h, w], Targets::Classes(y), names)?;
    Ok((ds, warnings))
}

/// Writes a small generated image folder for examples and tests: three
/// classes (`circle`, `square`, `triangle`) of `per_class` RGB images of
/// `size`×`size` pixels each, every shape with a random position, size and
/// colours (seeded). Every fourth image is a JPEG, the rest PNG.
pub fn write_shapes_folder(dir: &Path, per_class: usize, size: u32, seed: u64) -> Result<()> {
    let mut g = crate::tensor::Generator::new(seed);
    for class in ["circle", "square", "triangle"] {
        let cdir = dir.join(class);
        std::fs::create_dir_all(&cdir).map_err(|e| {
            Error::new(format!(
                "cannot create {}: {}",
                cdir.display(),
                describe_io(&e)
            ))
        })?;
        for i in 0..per_class {
            let s = size as f32;
            let r = g.uniform(0.2, 0.35) * s;
            let cx = g.uniform(r, s - r);
            let cy = g.uniform(r, s - r);
            let bg: [f32; 3] = [
                g.uniform(0.0, 0.4),
                g.uniform(0.0, 0.4),
                g.uniform(0.0, 0.4),
            ];
            let fg: [f32; 3] = [
                g.uniform(0.6, 1.0),
                g.uniform(0.6, 1.0),
                g.uniform(0.6, 1.0),
            ];
            let noise = 0.05;
            let inside = |x: f32, y: f32| -> bool {
                let (dx, dy) = (x - cx, y - cy);
                match class {
                    "circle" => dx * dx + dy * dy <= r * r,
                    "square" => dx.abs() <= r * 0.85 && dy.abs() <= r * 0.85,
                    _ => {
                        // Upward triangle: apex at top, base at the bottom.
                        let t = (dy + r) / (2.0 * r);
                        (0.0..=1.0).contains(&t) && dx.abs() <= t * r
                    }
                }
            };
            let mut img = image::RgbImage::new(size, size);
            for (x, y, p) in img.enumerate_pixels_mut() {
                let col = if inside(x as f32 + 0.5, y as f32 + 0.5) {
                    fg
                } else {
                    bg
                };
                for (out, &base) in p.0.iter_mut().zip(&col) {
                    let v = (base + g.normal(0.0, noise)).clamp(0.0, 1.0);
                    *out = (v * 255.0).round() as u8;
                }
            }
            let ext = if i % 4 == 3 { "jpg" } else { "png" };
            let path = cdir.join(format!("{class}_{i:03}.{ext}"));
            img.save(&path)
                .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
        }
    }
    Ok(())
}

/// Loads the training folder and, if given, a separate test folder whose
/// classes must be among the training folder's (they are re-indexed to the
/// training classes).
pub fn load_image_folders(
    dir: &Path,
    test_dir: Option<&Path>,
    opts: &ImageFolderOptions,
) -> Result<(Dataset, Option<Dataset>)> {
    let (train, _) = load_image_folder(dir, opts)?;
    let test = match test_dir {
        None => None,
        Some(td) => {
            let (mut t, _) = load_image_folder(td, opts)?;
            if t.class_names != train.class_names {
                let map: Vec<usize> = t
                    .class_names
                    .iter()
                    .map(|name| {
                        train
                            .class_names
                            .iter()
                            .position(|n| n == name)
                            .ok_or_else(|| {
                                Error::new(format!(
                                    "{}: class '{name}' is not a class of the training folder {} (classes: {})",
                                    td.display(),
                                    dir.display(),
                                    train.class_names.join(", ")
                                ))
                            })
                    })
                    .collect::<Result<_>>()?;
                if let Targets::Classes(ys) = &mut t.targets {
                    ys.iter_mut().for_each(|y| *y = map[*y]);
                }
                t.class_names = train.class_names.clone();
            }
            Some(t)
        }
    };
    Ok((train, test))
}
