//! MNIST: 70,000 handwritten digits, 28x28 grey levels, from the IDX files
//! shipped in `data/mnist/` (see `data/README.md`; `scripts/fetch-mnist.sh`
//! regenerates them).

use std::path::{Path, PathBuf};

use crate::data::dataset::{Dataset, Targets};
use crate::data::idx::{read_idx, read_idx_scaled, IdxArray};
use crate::error::Result;

/// File names of the training images and labels, without `.gz`.
pub const TRAIN_FILES: (&str, &str) = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
/// File names of the test images and labels, without `.gz`.
pub const TEST_FILES: (&str, &str) = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");

/// Loads MNIST from `dir` as `(train, test)`: 60,000 and 10,000 samples of
/// shape `[1, 28, 28]` with pixels scaled to `[0, 1]`, classes `"0"`..`"9"`.
///
/// Each file is read as `<name>.gz`, or as the uncompressed `<name>` if there
/// is no `.gz`. The four files are read in parallel.
pub fn load_mnist(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset)> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        crate::bail!(
            "{}: MNIST directory not found (it should hold {}.gz and friends; run \
             scripts/fetch-mnist.sh to create it)",
            dir.display(),
            TRAIN_FILES.0
        );
    }
    let p = |name: &str| find_file(dir, name);
    let (train, test) = rayon::join(
        || load_mnist_files(p(TRAIN_FILES.0), p(TRAIN_FILES.1)),
        || load_mnist_files(p(TEST_FILES.0), p(TEST_FILES.1)),
    );
    Ok((train?, test?))
}

/// `dir/name.gz` if it exists, else `dir/name` if it exists, else
/// `dir/name.gz` (so the "not found" error names the shipped file).
fn find_file(dir: &Path, name: &str) -> PathBuf {
    let gz = dir.join(format!("{name}.gz"));
    if gz.exists() {
        return gz;
    }
    let raw = dir.join(name);
    if raw.exists() {
        raw
    } else {
        gz
    }
}

/// Loads one MNIST-style pair of IDX files (also fits Fashion-MNIST and
/// KMNIST): images `[n, h, w]` of bytes 0-255 scaled to `[0, 1]` with sample
/// shape `[1, h, w]`, and `n` labels in `0..10`.
pub fn load_mnist_files(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Dataset> {
    let labels = labels.as_ref();
    let images = images.as_ref();
    let (img, lab) = rayon::join(|| read_idx_scaled(images, 255.0), || read_idx(labels));
    let IdxArray { dims, data: x } = img?;
    let lab = lab?;
    let ip = images.display();
    let lp = labels.display();
    if dims.len() != 3 || dims[1] == 0 || dims[2] == 0 {
        crate::bail!("{ip}: expected images of dims [count, height, width], found dims {dims:?}");
    }
    if lab.dims.len() != 1 {
        crate::bail!(
            "{lp}: expected labels of dims [count], found dims {:?}",
            lab.dims
        );
    }
    let (n, h, w) = (dims[0], dims[1], dims[2]);
    if lab.dims[0] != n {
        crate::bail!(
            "{lp}: {} labels, but {ip} holds {n} images; the counts must agree",
            lab.dims[0]
        );
    }
    // Pixels were divided by 255 while reading; bytes always land in [0, 1],
    // other IDX types might not.
    if x.iter().any(|&v| !(0.0..=1.0).contains(&v)) {
        let i = x
            .iter()
            .position(|&v| !(0.0..=1.0).contains(&v))
            .unwrap_or(0);
        crate::bail!(
            "{ip}: pixel values must be in 0..=255, found {} at value index {i} (image {})",
            x[i] * 255.0,
            i / (h * w)
        );
    }
    let mut y = Vec::with_capacity(n);
    for (i, &v) in lab.data.iter().enumerate() {
        if !((0.0..10.0).contains(&v) && v.fract() == 0.0) {
            crate::bail!("{lp}: label {i} is {v}, expected a digit 0-9");
        }
        y.push(v as usize);
    }
    let class_names = (0..10).map(|d| d.to_string()).collect();
    Dataset::new(x, vec![1, h, w], Targets::Classes(y), class_names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::encode_idx;
    use crate::data::idx::tests::gzip;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let p =
                std::env::temp_dir().join(format!("nerve-test-mnist-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn write(&self, name: &str, bytes: &[u8]) {
            std::fs::write(self.0.join(name), bytes).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A fake MNIST directory: `n_train`/`n_test` 2x3 images whose pixel j of
    /// image i is `(i * 6 + j) % 256`, labels `i % 10`; training files
    /// gzipped, test files raw.
    fn fake(n_train: usize, n_test: usize) -> TempDir {
        let d = TempDir::new();
        let imgs = |n: usize| {
            encode_idx(
                0x08,
                &[n, 2, 3],
                &(0..n * 6).map(|v| (v % 256) as f64).collect::<Vec<_>>(),
            )
        };
        let labs = |n: usize| {
            encode_idx(
                0x08,
                &[n],
                &(0..n).map(|i| (i % 10) as f64).collect::<Vec<_>>(),
            )
        };
        d.write("train-images-idx3-ubyte.gz", &gzip(&imgs(n_train)));
        d.write("train-labels-idx1-ubyte.gz", &gzip(&labs(n_train)));
        d.write("t10k-images-idx3-ubyte", &imgs(n_test));
        d.write("t10k-labels-idx1-ubyte", &labs(n_test));
        d
    }

    #[test]
    fn loads_fake_mnist() {
        let d = fake(12, 5);
        let (train, test) = load_mnist(&d.0).unwrap();
        assert_eq!(train.len(), 12);
        assert_eq!(test.len(), 5);
        assert_eq!(train.sample_shape, vec![1, 2, 3]);
        assert_eq!(train.num_classes(), 10);
        assert_eq!(train.class_names[7], "7");
        assert_eq!(
            train.sample(1),
            &[
                6.0 / 255.0,
                7.0 / 255.0,
                8.0 / 255.0,
                9.0 / 255.0,
                10.0 / 255.0,
                11.0 / 255.0
            ]
        );
        assert_eq!(
            train.targets,
            Targets::Classes((0..12).map(|i| i % 10).collect())
        );
        assert_eq!(test.sample(4)[5], 29.0 / 255.0);
        // Pixels 255 map to exactly 1.
        let (big, _) = load_mnist(&fake(50, 1).0).unwrap();
        assert_eq!(big.x.iter().cloned().fold(0.0f32, f32::max), 1.0);
    }

    #[test]
    fn missing_directory_and_files() {
        let p = std::env::temp_dir().join("nerve-test-no-such-mnist-dir");
        let e = load_mnist(&p).unwrap_err();
        assert!(
            e.message().contains("MNIST directory not found")
                && e.message().contains("fetch-mnist.sh"),
            "{e}"
        );
        let d = fake(3, 3);
        std::fs::remove_file(d.0.join("t10k-labels-idx1-ubyte")).unwrap();
        let e = load_mnist(&d.0).unwrap_err();
        assert!(
            e.message()
                .ends_with("t10k-labels-idx1-ubyte.gz: file not found"),
            "{e}"
        );
    }

    #[test]
    fn count_mismatch() {
        let d = fake(4, 3);
        d.write(
            "train-labels-idx1-ubyte.gz",
            &encode_idx(0x08, &[3], &[1.0, 2.0, 3.0]),
        );
        let e = load_mnist(&d.0).unwrap_err();
        assert!(
            e.message().contains("3 labels, but") && e.message().contains("holds 4 images"),
            "{e}"
        );
    }

    #[test]
    fn label_out_of_range() {
        let d = fake(3, 3);
        d.write(
            "t10k-labels-idx1-ubyte",
            &encode_idx(0x08, &[3], &[1.0, 12.0, 3.0]),
        );
        let e = load_mnist(&d.0).unwrap_err();
        assert!(
            e.message().contains("label 1 is 12, expected a digit 0-9"),
            "{e}"
        );
    }

    #[test]
    fn wrong_dims() {
        let d = fake(3, 3);
        d.write(
            "t10k-images-idx3-ubyte",
            &encode_idx(0x08, &[3, 6], &[0.0; 18]),
        );
        let e = load_mnist(&d.0).unwrap_err();
        assert!(
            e.message()
                .contains("expected images of dims [count, height, width], found dims [3, 6]"),
            "{e}"
        );
        let d = fake(3, 3);
        d.write(
            "t10k-labels-idx1-ubyte",
            &encode_idx(0x08, &[3, 1], &[0.0; 3]),
        );
        let e = load_mnist(&d.0).unwrap_err();
        assert!(
            e.message()
                .contains("expected labels of dims [count], found dims [3, 1]"),
            "{e}"
        );
        let d = fake(3, 3);
        d.write(
            "t10k-images-idx3-ubyte",
            &encode_idx(0x0D, &[1, 1, 2], &[0.5, 300.0]),
        );
        d.write("t10k-labels-idx1-ubyte", &encode_idx(0x08, &[1], &[0.0]));
        let e = load_mnist(&d.0).unwrap_err();
        assert!(
            e.message()
                .contains("pixel values must be in 0..=255, found 300"),
            "{e}"
        );
    }

    /// The real shipped dataset (skipped if data/mnist is absent).
    #[test]
    fn real_mnist_if_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
        if !dir.join("train-images-idx3-ubyte.gz").exists() {
            eprintln!("data/mnist not present; skipping");
            return;
        }
        let t = std::time::Instant::now();
        let (train, test) = load_mnist(&dir).unwrap();
        let secs = t.elapsed().as_secs_f64();
        eprintln!("loaded MNIST in {secs:.3} s");
        assert_eq!(train.len(), 60_000);
        assert_eq!(test.len(), 10_000);
        assert_eq!(train.sample_shape, vec![1, 28, 28]);
        assert_eq!(train.x.len(), 60_000 * 784);
        // Well-known facts: the first training label is 5, the first test
        // label is 7, and the class counts of the training set.
        let Targets::Classes(y) = &train.targets else {
            panic!()
        };
        assert_eq!(y[0], 5);
        let Targets::Classes(yt) = &test.targets else {
            panic!()
        };
        assert_eq!(yt[0], 7);
        assert_eq!(
            train.class_counts(),
            vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
        );
        assert!(train.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let mean = train.x.iter().map(|&v| v as f64).sum::<f64>() / train.x.len() as f64;
        assert!((mean - 0.1307).abs() < 1e-3, "mean pixel {mean}");
    }
}
