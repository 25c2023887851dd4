//! Progress bars: one per epoch, or one over a run's steps (hidden when
//! stderr is not a terminal; without the `progress` feature, no bar at all).

#[cfg(feature = "progress")]
pub use bars::{EpochBar, StepBar};
#[cfg(not(feature = "progress"))]
pub use silent::{EpochBar, StepBar};

#[cfg(feature = "progress")]
mod bars {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

    /// A progress bar over the batches of one epoch.
    pub struct EpochBar {
        bar: ProgressBar,
    }

    impl EpochBar {
        pub fn new(epoch: usize, epochs: usize, batches: usize, visible: bool) -> EpochBar {
            let bar = ProgressBar::with_draw_target(
                Some(batches as u64),
                if visible {
                    ProgressDrawTarget::stderr_with_hz(8)
                } else {
                    ProgressDrawTarget::hidden()
                },
            );
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "epoch {epoch:>w$}/{epochs} [{{bar:30.cyan/blue}}] {{pos}}/{{len}} {{msg}} eta {{eta}}",
                    w = epochs.to_string().len()
                ))
                .expect("valid template")
                .progress_chars("=> "),
            );
            EpochBar { bar }
        }

        /// Updates the bar with the running loss, accuracy and throughput
        /// (a NaN accuracy, as for a regression, is left out).
        pub fn update(&self, batches_done: usize, loss: f32, accuracy: f32, samples_per_s: f64) {
            self.bar.set_position(batches_done as u64);
            let acc = if accuracy.is_nan() {
                String::new()
            } else {
                format!("acc {:.2}% ", accuracy * 100.0)
            };
            self.bar.set_message(format!(
                "loss {loss:.4} {acc}{:.0} samples/s",
                samples_per_s
            ));
        }

        /// Hides the bar while `f` prints.
        pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
            self.bar.suspend(f)
        }

        pub fn finish(&self) {
            self.bar.finish_and_clear();
        }
    }

    /// A progress bar over the optimizer steps of a run counted in steps.
    pub struct StepBar {
        bar: ProgressBar,
    }

    impl StepBar {
        /// A bar over `total` steps (or epochs: `unit` names them).
        pub fn new(unit: &str, done: usize, total: usize, visible: bool) -> StepBar {
            let bar = ProgressBar::with_draw_target(
                Some(total as u64),
                if visible {
                    ProgressDrawTarget::stderr_with_hz(8)
                } else {
                    ProgressDrawTarget::hidden()
                },
            );
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{unit} {{pos}}/{{len}} [{{bar:30.cyan/blue}}] {{msg}} eta {{eta}}"
                ))
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_position(done as u64);
            StepBar { bar }
        }

        /// Updates the bar: steps done, the running loss, throughput and the learning rate.
        pub fn update(&self, step: usize, loss: f32, rate: f64, unit: &str, lr: f32) {
            self.bar.set_position(step as u64);
            self.bar
                .set_message(format!("loss {loss:.4} {rate:.0} {unit}/s lr {lr:.2e}"));
        }

        /// Hides the bar while `f` prints.
        pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
            self.bar.suspend(f)
        }

        pub fn finish(&self) {
            self.bar.finish_and_clear();
        }
    }
}

#[cfg(not(feature = "progress"))]
mod silent {
    /// No bar: the library was built without indicatif.
    pub struct EpochBar;
    impl EpochBar {
        pub fn new(_: usize, _: usize, _: usize, _: bool) -> EpochBar {
            EpochBar
        }
        pub fn update(&self, _: usize, _: f32, _: f32, _: f64) {}
        pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
            f()
        }
        pub fn finish(&self) {}
    }
    /// No bar: the library was built without indicatif.
    pub struct StepBar;
    impl StepBar {
        pub fn new(_: &str, _: usize, _: usize, _: bool) -> StepBar {
            StepBar
        }
        pub fn update(&self, _: usize, _: f32, _: f64, _: &str, _: f32) {}
        pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
            f()
        }
        pub fn finish(&self) {}
    }
}
