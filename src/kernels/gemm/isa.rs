//! Which matrix-product code runs: detected at run time, or forced with
//! `NERVE_GEMM=avx512|avx2|portable|crate|auto`.
//!
//! Detection is `is_x86_feature_detected!`: AVX-512F first, then AVX2 with
//! FMA, then the portable kernel (any CPU). No `target-cpu` flag is needed:
//! each kernel is compiled for its own features with `#[target_feature]`.

use std::sync::OnceLock;

/// A matrix-product code path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Path {
    /// 512-bit kernels (AVX-512F), 16 lanes.
    Avx512,
    /// 256-bit kernels (AVX2 + FMA), 8 lanes.
    Avx2,
    /// Plain Rust, vectorised by the compiler for the build's baseline.
    Portable,
    /// The `gemm` crate (0.19), as nerve used before its own kernels.
    Crate,
}

impl Path {
    /// Every path, fastest first.
    pub const ALL: [Path; 4] = [Path::Avx512, Path::Avx2, Path::Portable, Path::Crate];

    /// The name `NERVE_GEMM` takes.
    pub fn name(self) -> &'static str {
        match self {
            Path::Avx512 => "avx512",
            Path::Avx2 => "avx2",
            Path::Portable => "portable",
            Path::Crate => "crate",
        }
    }

    /// Parses a `NERVE_GEMM` value; `Ok(None)` for `auto` or empty.
    pub fn parse(s: &str) -> Result<Option<Path>, String> {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty() || s == "auto" {
            return Ok(None);
        }
        Path::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .map(Some)
            .ok_or_else(|| {
                format!("NERVE_GEMM={s}: expected one of avx512, avx2, portable, crate, auto")
            })
    }

    /// Whether this CPU can run the path.
    pub fn available(self) -> bool {
        match self {
            Path::Avx512 => has_avx512(),
            Path::Avx2 => has_avx2_fma(),
            Path::Portable | Path::Crate => true,
        }
    }

    /// The fastest path this CPU offers.
    pub fn detected() -> Path {
        if has_avx512() {
            Path::Avx512
        } else if has_avx2_fma() {
            Path::Avx2
        } else {
            Path::Portable
        }
    }

    /// The path [`matmul`](super::matmul) uses: `NERVE_GEMM` if it is set to
    /// a path this CPU can run, else [`Path::detected`]. Read once per
    /// process; a bad or unavailable value is reported once on stderr.
    pub fn selected() -> Path {
        static SELECTED: OnceLock<Path> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            let env = std::env::var("NERVE_GEMM").unwrap_or_default();
            match Path::parse(&env) {
                Ok(Some(p)) if p.available() => p,
                Ok(Some(p)) => {
                    eprintln!(
                        "nerve: NERVE_GEMM={}: this CPU lacks its features; using {}",
                        p.name(),
                        Path::detected().name()
                    );
                    Path::detected()
                }
                Ok(None) => Path::detected(),
                Err(e) => {
                    eprintln!("nerve: {e}; using {}", Path::detected().name());
                    Path::detected()
                }
            }
        })
    }

    /// The native kernel set behind a path: the crate path packs and runs
    /// prepacked products on the best native one.
    pub fn native(self) -> Path {
        match self {
            Path::Crate => Path::detected(),
            p => p,
        }
    }

    /// f32 lanes of the path's vectors (the crate path: those it was built for).
    pub fn lanes(self) -> usize {
        match self.native() {
            Path::Avx512 => 16,
            Path::Avx2 => 8,
            _ => 4,
        }
    }
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The CPU in words, for benchmark reports: the model name, family and model
/// numbers from `/proc/cpuinfo` (Linux), e.g. `AMD EPYC (family 26, model 2)`.
pub fn cpu_description() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let name = field("model name")
        .or_else(|| field("Model"))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    match (field("cpu family"), field("model")) {
        (Some(f), Some(m)) => format!("{name} (family {f}, model {m})"),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_and_rejects_others() {
        for p in Path::ALL {
            assert_eq!(Path::parse(p.name()), Ok(Some(p)));
        }
        assert_eq!(Path::parse(" AVX512 "), Ok(Some(Path::Avx512)));
        assert_eq!(Path::parse("auto"), Ok(None));
        assert_eq!(Path::parse(""), Ok(None));
        let e = Path::parse("sse").unwrap_err();
        assert!(e.contains("avx2"), "{e}");
    }

    #[test]
    fn detected_path_is_available() {
        assert!(Path::detected().available());
        assert!(Path::selected().available());
        assert!(Path::Portable.available());
    }
}
