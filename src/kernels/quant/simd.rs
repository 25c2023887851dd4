//! Which instruction set the quantised kernels use, chosen at run time.
//!
//! The best the CPU has: `avx512` (AVX-512 F, BW, VL and VNNI: 64 byte
//! products per `vpdpbusd`), else `avx2` (AVX2 + FMA + F16C: 32 per
//! `vpmaddubsw`), else `scalar` (portable Rust). The environment variable
//! `NERVE_SIMD=scalar|avx2|avx512` forces one (a level the CPU lacks falls
//! back to the best it has, with a warning), so every path can be tested and
//! compared on one machine.

use std::sync::OnceLock;

/// An instruction-set level of the quantised kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    Scalar,
    Avx2,
    Avx512,
}

impl Simd {
    /// All levels, lowest first.
    pub const ALL: [Simd; 3] = [Simd::Scalar, Simd::Avx2, Simd::Avx512];

    /// The name used by `NERVE_SIMD`.
    pub fn name(self) -> &'static str {
        match self {
            Simd::Scalar => "scalar",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the level.
    pub fn is_available(self) -> bool {
        match self {
            Simd::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => {
                Simd::Avx2.is_available()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best level this CPU has.
    pub fn best() -> Simd {
        *Simd::ALL
            .iter()
            .rev()
            .find(|s| s.is_available())
            .expect("scalar is always available")
    }
}

/// The level in use: `NERVE_SIMD` if set and available, else the best.
pub fn simd_level() -> Simd {
    static LEVEL: OnceLock<Simd> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let best = Simd::best();
        match std::env::var("NERVE_SIMD") {
            Err(_) => best,
            Ok(name) => match Simd::ALL.iter().find(|s| s.name() == name) {
                Some(&s) if s.is_available() => s,
                Some(&s) => {
                    eprintln!("warning: NERVE_SIMD={} is not available on this CPU; using {}", s.name(), best.name());
                    best
                }
                None => {
                    eprintln!("warning: NERVE_SIMD={name} is not one of scalar, avx2, avx512; using {}", best.name());
                    best
                }
            },
        }
    })
}
