//! Ctrl-C: the loop stops between two batches and leaves the last checkpoint intact.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
#[cfg(feature = "cli")]
static INSTALL: std::sync::Once = std::sync::Once::new();

/// Installs a Ctrl-C handler that asks the training loop to stop.
pub fn install_ctrlc_handler() {
    #[cfg(feature = "cli")]
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: the user really wants out.
                std::process::exit(130);
            }
        });
    });
}

/// Whether a stop was requested.
pub fn interrupted() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Requests a stop (what Ctrl-C does; also used by tests).
pub fn request_interrupt(on: bool) {
    STOP.store(on, Ordering::SeqCst);
}
