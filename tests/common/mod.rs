//! Helpers shared by the integration tests of tasks, diagnostics and experiments.
#![allow(dead_code)]

pub mod gguf;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use nerve::config::Config;
use nerve::train::{train, TrainOptions, TrainReport};

pub fn nerve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nerve"))
        .args(args)
        .output()
        .expect("run nerve")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh scratch directory; on a RAM disk when there is one (checkpoints
/// are fsynced every epoch, which a RAM disk makes free). Removed when the
/// test passes, kept for a look when it fails.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
            if let Some(base) = self.0.parent() {
                let _ = fs::remove_dir(base); // only if empty
            }
        }
    }
}

pub fn scratch(name: &str) -> Scratch {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() && fs::metadata(shm).is_ok_and(|m| !m.permissions().readonly()) {
        shm.join(format!("nerve-tests-{}", std::process::id()))
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("tasks")
    };
    let d = base.join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Training in this process draws weights and dropout masks from nerve's
/// global generator (seeded by each run): one run at a time, so that
/// parallel tests do not interleave their draws.
static TRAINING: Mutex<()> = Mutex::new(());

/// Trains the config file `path` into `out`, quietly (one run at a time).
pub fn train_config(path: &Path, out: &Path) -> nerve::Result<TrainReport> {
    let cfg = Config::load(path)?;
    let _one = TRAINING.lock().unwrap_or_else(|e| e.into_inner());
    train(
        &cfg,
        &TrainOptions {
            out_dir: out.to_path_buf(),
            resume: false,
            progress: false,
            quiet: true,
            config_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            plot: Some(nerve::viz::plot_history),
            ..Default::default()
        },
    )
}

/// Trains the config text in `dir/<name>.toml` into `dir/run`, quietly.
pub fn train_text(dir: &Path, name: &str, text: &str) -> nerve::Result<TrainReport> {
    let p = dir.join(format!("{name}.toml"));
    fs::write(&p, text).unwrap();
    train_config(&p, &dir.join("run"))
}

/// Asserts a failed command: exit code 1, every fragment in stderr, no panic.
pub fn assert_fails(o: &Output, fragments: &[&str]) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit code 1, stderr:\n{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "a panic reached the user:\n{err}"
    );
    for f in fragments {
        assert!(err.contains(f), "stderr lacks {f:?}:\n{err}");
    }
}
