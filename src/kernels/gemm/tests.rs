//! Correctness of every path against a float64 reference: odd sizes (1, 7,
//! 17, 63, 65, 129), sizes across the block boundaries, both layouts of each
//! operand, general strides, accumulation, one-row and one-column products,
//! prepacked operands, and 1 vs 2 threads bit for bit.
//!
//! Tolerance: `|c - ref| <= 1e-5 · (|c0| + Σ_p |a_ip·b_pj|)` per element,
//! the error bound of a float32 sum relative to its terms' magnitude (the
//! same as relative error when the terms are positive).

use super::*;

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

/// `m x n` row-major stored as `layout` of a logical `rows x cols`.
fn lay_out(rows: usize, cols: usize, x: &[f32], layout: MatLayout) -> Vec<f32> {
    match layout {
        MatLayout::Normal => x.to_vec(),
        MatLayout::Transposed => {
            let mut t = vec![0.0; rows * cols];
            for i in 0..rows {
                for j in 0..cols {
                    t[j * rows + i] = x[i * cols + j];
                }
            }
            t
        }
    }
}

/// Float64 reference `c0 + a·b` and its error scale, for row-major `a`, `b`.
fn reference(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c0: Option<&[f32]>,
) -> (Vec<f64>, Vec<f64>) {
    let mut want = vec![0.0f64; m * n];
    let mut scale = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut mag) = c0.map_or((0.0, 0.0), |c| {
                (c[i * n + j] as f64, (c[i * n + j] as f64).abs())
            });
            for p in 0..k {
                let t = a[i * k + p] as f64 * b[p * n + j] as f64;
                s += t;
                mag += t.abs();
            }
            want[i * n + j] = s;
            scale[i * n + j] = mag;
        }
    }
    (want, scale)
}

fn assert_close(got: &[f32], want: &[f64], scale: &[f64], what: &str) {
    for (idx, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(
            err <= 1e-5 * s + 1e-30,
            "{what}: element {idx}: {g} vs {w} (error {err:e}, scale {s:e})"
        );
    }
}

/// The paths this CPU can run.
fn paths() -> Vec<Path> {
    Path::ALL.into_iter().filter(|p| p.available()).collect()
}

const LAYOUTS: [MatLayout; 2] = [MatLayout::Normal, MatLayout::Transposed];

/// Checks one shape on one path in every layout, with and without
/// accumulation. `c` starts as NaN when overwritten, so a kernel that reads
/// it shows.
fn check_shape(path: Path, m: usize, k: usize, n: usize) {
    let a = values(m * k, (m * 31 + k) as u64);
    let b = values(k * n, (k * 17 + n) as u64);
    let c0 = values(m * n, (m + n) as u64);
    let (want, scale) = reference(m, k, n, &a, &b, None);
    let (want_acc, scale_acc) = reference(m, k, n, &a, &b, Some(&c0));
    for la in LAYOUTS {
        for lb in LAYOUTS {
            let (aa, bb) = (lay_out(m, k, &a, la), lay_out(k, n, &b, lb));
            let what = format!("{path:?} {m}x{k}x{n} {la:?} {lb:?}");
            let mut c = vec![f32::NAN; m * n];
            matmul_on(path, m, k, n, &aa, la, &bb, lb, &mut c, false);
            assert_close(&c, &want, &scale, &what);
            let mut c = c0.clone();
            matmul_on(path, m, k, n, &aa, la, &bb, lb, &mut c, true);
            assert_close(&c, &want_acc, &scale_acc, &format!("{what} accumulate"));
        }
    }
}

#[test]
fn odd_sizes_on_every_path() {
    const SIZES: [usize; 6] = [1, 7, 17, 63, 65, 129];
    for path in paths() {
        for &m in &SIZES {
            for &n in &SIZES {
                for &k in &[1, 17, 129] {
                    check_shape(path, m, k, n);
                }
            }
        }
    }
}

#[test]
fn block_boundaries_on_every_path() {
    // k across KC (512) and two blocks, m across MC, n across NR panels and
    // NC; the MLP's, a conv im2col, an LSTM gate and GPT shapes.
    let shapes = [
        (200, 300, 50),
        (129, 513, 97),
        (70, 1100, 20),
        (300, 257, 130),
        (3, 40, 3100),
        (64, 784, 128),
        (784, 64, 128),
        (6, 25, 784),
        (16, 150, 100),
        (32, 128, 512),
        (130, 128, 384),
        (2, 700, 33),
        // Column-major A wide enough to be packed.
        (520, 40, 300),
    ];
    for path in paths() {
        for &(m, k, n) in &shapes {
            check_shape(path, m, k, n);
        }
    }
}

#[test]
fn one_row_and_one_column_on_every_path() {
    for path in paths() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (1, 5, 1),
            (1, 100, 1),
            (1, 33, 7),
            (1, 257, 129),
            (1, 128, 384),
            (1, 600, 300),
            (7, 33, 1),
            (129, 65, 1),
            (300, 600, 1),
        ] {
            check_shape(path, m, k, n);
        }
    }
}

/// `run` on general strides: each operand a view into a larger buffer.
#[test]
fn general_strides_on_every_native_path() {
    let (m, k, n) = (37, 70, 53);
    let a = values(m * k, 1);
    let b = values(k * n, 2);
    let (want, scale) = reference(m, k, n, &a, &b, None);
    // (row stride, column stride) per operand, in units of the logical
    // matrix: padded rows, padded columns, both at once.
    let cases: [((isize, isize), (isize, isize)); 4] = [
        ((k as isize + 5, 1), (n as isize + 3, 1)),
        ((1, m as isize + 2), (1, k as isize + 9)),
        ((2 * k as isize, 2), (3, 3 * k as isize)),
        ((k as isize + 1, 1), (2, 2 * k as isize + 1)),
    ];
    for path in paths().into_iter().filter(|&p| p != Path::Crate) {
        for &((ars, acs), (brs, bcs)) in &cases {
            let mut abuf = vec![f32::NAN; (m as isize * ars + k as isize * acs) as usize];
            let mut bbuf = vec![f32::NAN; (k as isize * brs + n as isize * bcs) as usize];
            for i in 0..m {
                for p in 0..k {
                    abuf[(i as isize * ars + p as isize * acs) as usize] = a[i * k + p];
                }
            }
            for p in 0..k {
                for j in 0..n {
                    bbuf[(p as isize * brs + j as isize * bcs) as usize] = b[p * n + j];
                }
            }
            for &(mm, nn) in &[(m, n), (1, n), (m, 1)] {
                let mut c = vec![f32::NAN; mm * nn];
                let prob = Problem {
                    m: mm,
                    k,
                    n: nn,
                    a: Mat {
                        ptr: abuf.as_ptr(),
                        rs: ars,
                        cs: acs,
                    },
                    b: Operand::Strided(Mat {
                        ptr: bbuf.as_ptr(),
                        rs: brs,
                        cs: bcs,
                    }),
                    c: c.as_mut_ptr(),
                    accumulate: false,
                    ldc: nn,
                };
                // SAFETY: every (i, p) and (p, j) addressed lies in the
                // buffers built above; `c` holds mm·nn values.
                unsafe { run(path, &prob) };
                for i in 0..mm {
                    for j in 0..nn {
                        let (w, s) = (want[i * n + j], scale[i * n + j]);
                        let g = c[i * nn + j] as f64;
                        assert!(
                            (g - w).abs() <= 1e-5 * s,
                            "{path:?} strides {ars},{acs} / {brs},{bcs} {mm}x{nn} ({i},{j}): {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}

/// The product on a pool of `threads` threads.
#[allow(clippy::too_many_arguments)]
fn on_threads(
    threads: usize,
    path: Path,
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    la: MatLayout,
    b: &[f32],
    lb: MatLayout,
    accumulate: bool,
) -> Vec<f32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let mut c = values(m * n, 9);
    pool.install(|| matmul_on(path, m, k, n, a, la, b, lb, &mut c, accumulate));
    c
}

#[test]
fn one_and_two_threads_agree_bit_for_bit() {
    // Shapes large enough for the parallel split (m·n·k >= 2^18, or a long
    // one-row product), along m, along n and in one-row products.
    let shapes = [
        (64, 784, 128),
        (256, 100, 131),
        (3000, 40, 10),
        (37, 64, 500),
        (300, 300, 300),
        (1, 4096, 300),
        (1, 700, 1000),
        (500, 2000, 1),
    ];
    for path in paths() {
        for &(m, k, n) in &shapes {
            let a = values(m * k, 3);
            let b = values(k * n, 4);
            for la in LAYOUTS {
                for lb in LAYOUTS {
                    let (aa, bb) = (lay_out(m, k, &a, la), lay_out(k, n, &b, lb));
                    for acc in [false, true] {
                        let one = on_threads(1, path, (m, k, n), &aa, la, &bb, lb, acc);
                        let two = on_threads(2, path, (m, k, n), &aa, la, &bb, lb, acc);
                        let same = one
                            .iter()
                            .zip(&two)
                            .all(|(x, y)| x.to_bits() == y.to_bits());
                        // The crate path splits k on its own threads; it is
                        // only held to the f64 tolerance (other tests).
                        if path != Path::Crate {
                            assert!(same, "{path:?} {m}x{k}x{n} {la:?} {lb:?} acc {acc}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn prepacked_equals_ordinary_product() {
    for path in paths() {
        for &(m, k, n) in &[(1, 300, 70), (5, 40, 100), (64, 784, 128), (130, 513, 49)] {
            let a = values(m * k, 5);
            let b = values(k * n, 6);
            let c0 = values(m * n, 7);
            let (want, scale) = reference(m, k, n, &a, &b, Some(&c0));
            for lb in LAYOUTS {
                let bb = lay_out(k, n, &b, lb);
                let packed = PackedB::for_path(path, k, n, &bb, lb);
                assert_eq!((packed.k(), packed.n()), (k, n));
                for la in LAYOUTS {
                    let aa = lay_out(m, k, &a, la);
                    let mut c = c0.clone();
                    matmul_prepacked(m, &aa, la, &packed, &mut c, true);
                    let what = format!("prepacked {path:?} {m}x{k}x{n} {la:?} {lb:?}");
                    assert_close(&c, &want, &scale, &what);
                    if m > 1 && path != Path::Crate {
                        let mut d = c0.clone();
                        matmul_on(path, m, k, n, &aa, la, &bb, lb, &mut d, true);
                        assert!(
                            c.iter().zip(&d).all(|(x, y)| x.to_bits() == y.to_bits()),
                            "{what}: differs from matmul_on"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn empty_products() {
    for path in paths() {
        let mut c = vec![3.0f32; 6];
        matmul_on(
            path,
            2,
            0,
            3,
            &[],
            MatLayout::Normal,
            &[],
            MatLayout::Normal,
            &mut c,
            true,
        );
        assert_eq!(c, vec![3.0; 6]);
        matmul_on(
            path,
            2,
            0,
            3,
            &[],
            MatLayout::Normal,
            &[],
            MatLayout::Normal,
            &mut c,
            false,
        );
        assert_eq!(c, vec![0.0; 6]);
        matmul_on(
            path,
            0,
            4,
            3,
            &[],
            MatLayout::Normal,
            &[0.0; 12],
            MatLayout::Normal,
            &mut [],
            false,
        );
    }
}

#[test]
#[should_panic(expected = "rhs has 5 values, needs 6")]
fn short_operand_panics_with_sizes() {
    let mut c = vec![0.0f32; 4];
    matmul(
        2,
        3,
        2,
        &[0.0; 6],
        MatLayout::Normal,
        &[0.0; 5],
        MatLayout::Normal,
        &mut c,
        false,
    );
}

#[test]
fn grid_uses_every_thread_and_splits_the_long_side() {
    let prob = |m: usize, k: usize, n: usize| Problem {
        m,
        k,
        n,
        a: Mat {
            ptr: std::ptr::null(),
            rs: k as isize,
            cs: 1,
        },
        b: Operand::Strided(Mat {
            ptr: std::ptr::null(),
            rs: n as isize,
            cs: 1,
        }),
        c: std::ptr::null_mut(),
        accumulate: false,
        ldc: n,
    };
    use threading::grid;
    // x[64x784]·W[784x128]: read x in place and split the columns.
    let g = grid::<avx512::Avx512>(&prob(64, 784, 128), 2);
    assert_eq!((g.tm, g.tn, g.cols), (1, 2, 64), "{g:?}");
    // Tall and narrow: split the rows.
    let g = grid::<avx512::Avx512>(&prob(3000, 40, 10), 2);
    assert_eq!((g.tm, g.tn), (2, 1), "{g:?}");
    // GPT's x[2048x128]·W[128x384]: two tiles either way.
    let g = grid::<avx512::Avx512>(&prob(2048, 128, 384), 2);
    assert_eq!(g.tm * g.tn, 2, "{g:?}");
    // Small: one tile.
    let g = grid::<avx512::Avx512>(&prob(16, 16, 16), 2);
    assert_eq!((g.tm, g.tn), (1, 1));
}
