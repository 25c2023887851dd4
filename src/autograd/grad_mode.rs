//! Grad mode: whether ops are recorded. `no_grad` turns it off for a scope.

use std::cell::Cell;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread are recorded for backward.
pub fn is_grad_enabled() -> bool {
    ENABLED.with(|e| e.get())
}

/// Restores the previous grad mode when dropped.
pub struct NoGradGuard {
    prev: bool,
}

impl NoGradGuard {
    /// Turns recording off until the guard is dropped.
    pub fn new() -> NoGradGuard {
        let prev = ENABLED.with(|e| e.replace(false));
        NoGradGuard { prev }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        ENABLED.with(|e| e.set(self.prev));
    }
}

/// Runs `f` with recording off (PyTorch's `with torch.no_grad():`).
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _g = NoGradGuard::new();
    f()
}
