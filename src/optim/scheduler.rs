//! Learning-rate schedules, as a closed form of the epoch (or step) number.
//!
//! step:        η·γ^⌊t/s⌋
//! exponential: η·γᵗ
//! cosine:      η_min + (η - η_min)·(1 + cos(π·t/T))/2
//! warm-up:     linear from η·f to η over the first w epochs, then the schedule
//!              (counted from the end of the warm-up); or nanoGPT's
//!              η·(t+1)/(w+1) over the first w steps
//! cosine with a decay horizon (nanoGPT): η_min once t ≥ T

/// A learning-rate schedule (PyTorch's StepLR, ExponentialLR,
/// CosineAnnealingLR, LinearLR warm-up).
#[derive(Clone, Debug, PartialEq)]
pub struct LrScheduler {
    /// The decay after the warm-up.
    pub kind: ScheduleKind,
    /// Number of warm-up epochs (0 for none).
    pub warmup: usize,
    /// Learning-rate factor at the start of the warm-up.
    pub warmup_start_factor: f32,
    /// nanoGPT's warm-up η·(t+1)/(w+1) instead of the linear factor ramp.
    pub nanogpt_warmup: bool,
}

/// The decay after warm-up.
#[derive(Clone, Debug, PartialEq)]
pub enum ScheduleKind {
    Constant,
    Step {
        step_size: usize,
        gamma: f32,
    },
    Exponential {
        gamma: f32,
    },
    /// `hold`: past `t_max` the rate stays at η_min (nanoGPT) instead of
    /// rising again (PyTorch's CosineAnnealingLR).
    Cosine {
        t_max: usize,
        eta_min: f32,
        hold: bool,
    },
}

impl LrScheduler {
    /// The same rate throughout.
    pub fn constant() -> LrScheduler {
        LrScheduler {
            kind: ScheduleKind::Constant,
            warmup: 0,
            warmup_start_factor: 1.0 / 3.0,
            nanogpt_warmup: false,
        }
    }

    /// StepLR: η·gamma^⌊epoch / step_size⌋.
    pub fn step(step_size: usize, gamma: f32) -> LrScheduler {
        LrScheduler {
            kind: ScheduleKind::Step {
                step_size: step_size.max(1),
                gamma,
            },
            ..Self::constant()
        }
    }

    /// ExponentialLR: η·gamma^epoch.
    pub fn exponential(gamma: f32) -> LrScheduler {
        LrScheduler {
            kind: ScheduleKind::Exponential { gamma },
            ..Self::constant()
        }
    }

    /// CosineAnnealingLR: η_min + (η - η_min)·(1 + cos(π·t/t_max))/2.
    pub fn cosine(t_max: usize, eta_min: f32) -> LrScheduler {
        LrScheduler {
            kind: ScheduleKind::Cosine {
                t_max: t_max.max(1),
                eta_min,
                hold: false,
            },
            ..Self::constant()
        }
    }

    /// Cosine over `t_max` epochs or steps, then η_min (nanoGPT's lr_decay_iters).
    pub fn cosine_then_hold(t_max: usize, eta_min: f32) -> LrScheduler {
        LrScheduler {
            kind: ScheduleKind::Cosine {
                t_max: t_max.max(1),
                eta_min,
                hold: true,
            },
            ..Self::constant()
        }
    }

    /// Builder: a linear warm-up over `epochs` starting at `start_factor`·η.
    pub fn with_warmup(mut self, epochs: usize, start_factor: f32) -> LrScheduler {
        self.warmup = epochs;
        self.warmup_start_factor = start_factor;
        self
    }

    /// Builder: nanoGPT's warm-up, η·(t+1)/(w+1) over the first `steps`.
    pub fn with_nanogpt_warmup(mut self, steps: usize) -> LrScheduler {
        self.warmup = steps;
        self.nanogpt_warmup = true;
        self
    }

    /// The learning rate for epoch (or step) `t` (0-based) given the base rate.
    pub fn lr_at(&self, base_lr: f32, t: usize) -> f32 {
        if t < self.warmup && self.nanogpt_warmup {
            return base_lr * (t + 1) as f32 / (self.warmup + 1) as f32;
        }
        if t < self.warmup {
            let f = self.warmup_start_factor
                + (1.0 - self.warmup_start_factor) * t as f32 / self.warmup as f32;
            return base_lr * f;
        }
        let t = t - self.warmup;
        match self.kind {
            ScheduleKind::Constant => base_lr,
            ScheduleKind::Step { step_size, gamma } => base_lr * gamma.powi((t / step_size) as i32),
            ScheduleKind::Exponential { gamma } => base_lr * gamma.powi(t as i32),
            ScheduleKind::Cosine {
                t_max,
                eta_min,
                hold,
            } => {
                if hold && t >= t_max {
                    return eta_min;
                }
                // Past T_max the cosine keeps going (rises again), as in PyTorch.
                let t = t as f32;
                eta_min
                    + (base_lr - eta_min) * (1.0 + (std::f32::consts::PI * t / t_max as f32).cos())
                        / 2.0
            }
        }
    }
}
