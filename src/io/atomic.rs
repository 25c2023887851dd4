//! Atomic file writes: write a temp file beside the target, fsync it, rename it
//! over the target. Readers see either the old file or the new one, never a
//! half-written one, and a failed write leaves the old file as it was.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync,
/// rename). On error the old file at `path`, if any, is untouched and the temp
/// file is removed. The parent directory must exist.
///
/// ```no_run
/// nerve::io::write_atomic("runs/x/notes.txt", b"hello").unwrap();
/// ```
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], but the contents come from `write`, which is given a
/// buffered writer for the temp file. If `write` fails, the target is left
/// untouched and the error is reported with the path.
pub fn write_atomic_with<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let fail = |e: &io::Error| {
        Error::new(format!(
            "cannot write {}: {}",
            path.display(),
            describe_io_error(e)
        ))
    };

    let file_name = match path.file_name() {
        Some(n) => n.to_string_lossy().into_owned(),
        None => {
            return Err(Error::new(format!(
                "cannot write {}: the path does not name a file",
                path.display()
            )))
        }
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if path.is_dir() {
        return Err(Error::new(format!(
            "cannot write {}: it is a directory",
            path.display()
        )));
    }
    if !dir.is_dir() {
        return Err(Error::new(format!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }

    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.tmp-{}-{n}", std::process::id()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| fail(&e))?;

    let result = (|| -> io::Result<()> {
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write(&mut w)?;
        w.flush()?;
        let file: File = w.into_inner().map_err(|e| e.into_error())?;
        // Keep the old file's permissions, if there is one.
        if let Ok(meta) = fs::metadata(path) {
            let _ = file.set_permissions(meta.permissions());
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();

    match result {
        Ok(()) => {
            sync_dir(&dir);
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(fail(&e))
        }
    }
}

/// Makes the rename durable (best effort; not every platform can open a
/// directory for syncing).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// A short lower-case description of an I/O error for user-facing messages,
/// e.g. "permission denied", "no such file or directory".
pub(crate) fn describe_io_error(e: &io::Error) -> String {
    use io::ErrorKind::*;
    match e.kind() {
        NotFound => "no such file or directory".into(),
        PermissionDenied => "permission denied".into(),
        AlreadyExists => "it already exists".into(),
        UnexpectedEof => "the file ended unexpectedly".into(),
        OutOfMemory => "out of memory".into(),
        _ => {
            // e.g. "No space left on device (os error 28)" -> "no space left on device"
            let s = e.to_string();
            let s = match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            };
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => "unknown I/O error".into(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nerve-atomic-{}-{}", name, std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn writes_and_overwrites() {
        let d = scratch("overwrite");
        let p = d.join("a.bin");
        write_atomic(&p, b"first").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"first");
        write_atomic(&p, b"second, longer").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second, longer");
        assert!(leftovers(&d).is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failed_write_keeps_old_file_and_removes_temp() {
        let d = scratch("fail");
        let p = d.join("model.safetensors");
        write_atomic(&p, b"old contents").unwrap();
        let err = write_atomic_with(&p, |w| {
            w.write_all(b"partial new contents")?;
            Err(io::Error::other("disk on fire"))
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("model.safetensors"), "{msg}");
        assert!(msg.contains("disk on fire"), "{msg}");
        assert_eq!(fs::read(&p).unwrap(), b"old contents");
        assert!(leftovers(&d).is_empty(), "{:?}", leftovers(&d));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_directory_is_named() {
        let d = scratch("missing");
        let p = d.join("no/such/dir/model.safetensors");
        let msg = write_atomic(&p, b"x").unwrap_err().to_string();
        assert!(msg.starts_with("cannot write "), "{msg}");
        assert!(msg.contains("model.safetensors"), "{msg}");
        assert!(msg.contains("does not exist"), "{msg}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn directory_target_is_an_error() {
        let d = scratch("isdir");
        let msg = write_atomic(&d, b"x").unwrap_err().to_string();
        assert!(msg.contains("is a directory"), "{msg}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn read_only_directory_reports_permission_denied() {
        use std::os::unix::fs::PermissionsExt;
        let d = scratch("readonly");
        let p = d.join("model.safetensors");
        write_atomic(&p, b"old").unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o555)).unwrap();
        // root ignores directory permissions; only check when they are enforced.
        let probe = d.join("probe");
        let enforced = File::create(&probe).is_err();
        let _ = fs::remove_file(&probe);
        let result = write_atomic(&p, b"new");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        if enforced {
            let msg = result.unwrap_err().to_string();
            assert!(msg.contains("permission denied"), "{msg}");
            assert!(msg.contains("model.safetensors"), "{msg}");
            assert_eq!(fs::read(&p).unwrap(), b"old");
        } else {
            // Running as root: the write goes through like any other.
            result.unwrap();
            assert_eq!(fs::read(&p).unwrap(), b"new");
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn io_errors_read_as_lower_case_phrases() {
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(describe_io_error(&e), "permission denied");
        let e = io::Error::from_raw_os_error(28);
        if cfg!(target_os = "linux") {
            assert_eq!(describe_io_error(&e), "no space left on device");
        }
    }
}
