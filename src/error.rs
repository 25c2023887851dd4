//! The error type for everything that touches user input: files, configs,
//! command-line arguments, data. Messages name the file, the field, what was
//! expected and what was found.

use std::fmt;

/// A user-facing error with an actionable message.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    message: String,
    /// Every replica of a data-parallel run holds this error (rank 0 prints it).
    shared: bool,
    /// The process exit code the command line ends with (1, or 130 after Ctrl-C).
    exit_code: u8,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            shared: false,
            exit_code: 1,
        }
    }

    /// The error of a run the user stopped with Ctrl-C: the command line
    /// exits 130 (128 + SIGINT), as shells expect.
    pub fn interrupted(message: impl Into<String>) -> Error {
        Error {
            exit_code: 130,
            ..Error::new(message)
        }
    }

    /// The exit code the command line ends with for this error.
    pub fn exit_code(&self) -> u8 {
        self.exit_code
    }

    /// Marks an error that every replica of a data-parallel run returns
    /// (only rank 0 prints it).
    pub fn shared(mut self) -> Error {
        self.shared = true;
        self
    }

    /// Whether every replica holds this error.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Prefixes the message with context, e.g. the file being read.
    pub fn context(self, ctx: impl fmt::Display) -> Error {
        Error {
            message: format!("{ctx}: {}", self.message),
            ..self
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `Result` with nerve's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Returns early with an [`Error`] built from a format string.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::new(format!($($arg)*)))
    };
}

/// A short human description of an I/O error ("no such file or directory").
pub fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "no such file or directory".into(),
        PermissionDenied => "permission denied".into(),
        AlreadyExists => "it already exists".into(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_lowercase()
        }
    }
}
