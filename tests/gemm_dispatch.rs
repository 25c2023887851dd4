//! Run-time dispatch of the matrix products: `NERVE_GEMM` forces each path
//! (avx512, avx2, portable, crate), `auto` or nothing takes the best this CPU
//! offers, and a bad or unavailable value falls back to that with a message.
//! The path is chosen once per process, so each case runs this test binary
//! again as a child process with the variable set (the ignored `child` test),
//! which checks the path it got and the products it computes on odd,
//! transposed and one-row shapes against a float64 reference, on 1 and 2
//! threads (1e-5 relative; the two thread counts within 1e-6).

use std::process::Command;

use nerve::kernels::gemm::{matmul, Path};
use nerve::kernels::MatLayout;

fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// `a` logical `[m, k]`, `b` `[k, n]`, both row-major: f64 product and the
/// sum of magnitudes of each element's terms (the error scale).
fn reference(m: usize, k: usize, n: usize, a: &[f32], b: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let mut want = vec![0.0; m * n];
    let mut scale = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                let t = a[i * k + p] as f64 * b[p * n + j] as f64;
                want[i * n + j] += t;
                scale[i * n + j] += t.abs();
            }
        }
    }
    (want, scale)
}

/// `x` (`[rows, cols]` row-major) stored as its transpose.
fn transpose(rows: usize, cols: usize, x: &[f32]) -> Vec<f32> {
    let mut t = vec![0.0; x.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = x[i * cols + j];
        }
    }
    t
}

fn product_on(threads: usize, shape: (usize, usize, usize), ta: bool, tb: bool) -> Vec<f32> {
    let (m, k, n) = shape;
    let (a, b) = (values(m * k, 1), values(k * n, 2));
    let (aa, la) = if ta {
        (transpose(m, k, &a), MatLayout::Transposed)
    } else {
        (a, MatLayout::Normal)
    };
    let (bb, lb) = if tb {
        (transpose(k, n, &b), MatLayout::Transposed)
    } else {
        (b, MatLayout::Normal)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let mut c = vec![f32::NAN; m * n];
    pool.install(|| matmul(m, k, n, &aa, la, &bb, lb, &mut c, false));
    c
}

/// The child: checks the path `NERVE_GEMM` selected, then the products.
#[test]
#[ignore = "run by selected_path_follows_nerve_gemm in a child process"]
fn child() {
    let env = std::env::var("NERVE_GEMM").unwrap_or_default();
    let want = match Path::parse(&env) {
        Ok(Some(p)) if p.available() => p,
        _ => Path::detected(),
    };
    assert_eq!(Path::selected(), want, "NERVE_GEMM={env}");
    println!("selected {}", Path::selected().name());
    for shape in [
        (1, 1, 1),
        (7, 17, 63),
        (65, 129, 17),
        (129, 63, 65),
        (1, 700, 129),
        (300, 513, 130),
        (64, 784, 128),
    ] {
        let (m, k, n) = shape;
        let (want, scale) = reference(m, k, n, &values(m * k, 1), &values(k * n, 2));
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let one = product_on(1, shape, ta, tb);
            let two = product_on(2, shape, ta, tb);
            for idx in 0..m * n {
                let (g1, g2) = (one[idx] as f64, two[idx] as f64);
                let what = format!("{env} {m}x{k}x{n} ta {ta} tb {tb} element {idx}");
                assert!(
                    (g1 - want[idx]).abs() <= 1e-5 * scale[idx],
                    "{what}: {g1} vs {}",
                    want[idx]
                );
                assert!(
                    (g1 - g2).abs() <= 1e-6 * scale[idx],
                    "{what}: 1 thread {g1}, 2 threads {g2}"
                );
            }
        }
    }
}

fn run_child(value: &str) -> (String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("NERVE_GEMM", value)
        .output()
        .expect("the test binary runs again");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "NERVE_GEMM={value}:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

#[test]
fn selected_path_follows_nerve_gemm() {
    for path in Path::ALL {
        let (stdout, stderr) = run_child(path.name());
        if path.available() {
            assert!(
                stdout.contains(&format!("selected {}", path.name())),
                "{stdout}"
            );
        } else {
            // A path this CPU cannot run: the best one, and a message.
            assert!(stderr.contains("lacks its features"), "{stderr}");
        }
    }
    let best = format!("selected {}", Path::detected().name());
    for value in ["", "auto", "AVX512 "] {
        let (stdout, _) = run_child(value);
        if value == "AVX512 " && Path::Avx512.available() {
            assert!(stdout.contains("selected avx512"), "{stdout}");
        } else if value != "AVX512 " {
            assert!(stdout.contains(&best), "NERVE_GEMM={value:?}: {stdout}");
        }
    }
    let (stdout, stderr) = run_child("sse9");
    assert!(stdout.contains(&best), "{stdout}");
    assert!(
        stderr.contains("NERVE_GEMM=sse9: expected one of avx512, avx2, portable, crate, auto"),
        "{stderr}"
    );
}
