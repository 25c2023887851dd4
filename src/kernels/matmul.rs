//! Matrix products through the `gemm` crate.
//!
//! Operands are row-major slices; a transposed operand is described by its
//! strides, so `A·Bᵀ` never copies `B`.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

/// How a logical `[rows, cols]` operand is laid out in its slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatLayout {
    /// Stored as `[rows, cols]`, row-major.
    Normal,
    /// Stored as `[cols, rows]`, row-major: the operand is the transpose of the slice.
    Transposed,
}

impl MatLayout {
    /// (row stride, column stride) of a logical `rows x cols` matrix.
    fn strides(self, rows: usize, cols: usize) -> (isize, isize) {
        match self {
            MatLayout::Normal => (cols as isize, 1),
            MatLayout::Transposed => (1, rows as isize),
        }
    }
}

/// Work (m·n·k) above which the product runs on all rayon threads.
const PAR_WORK: usize = 48 * 48 * 48;

/// Up to this many rows and from this much work (m·n·k) on, a product is split
/// by output columns across threads (see `matmul`). Below that work, starting
/// the threads costs more than the split saves.
const SPLIT_N_MAX_M: usize = 256;
const SPLIT_N_MIN_WORK: usize = 1 << 20;

/// `c = a·b` (or `c += a·b` when `accumulate`), where `a` is logically `[m, k]`,
/// `b` is `[k, n]` and `c` is `[m, n]` row-major.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_layout: MatLayout,
    b: &[f32],
    b_layout: MatLayout,
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(
        a.len() >= m * k,
        "matmul kernel: lhs has {} values, needs {}",
        a.len(),
        m * k
    );
    assert!(
        b.len() >= k * n,
        "matmul kernel: rhs has {} values, needs {}",
        b.len(),
        k * n
    );
    assert!(
        c.len() >= m * n,
        "matmul kernel: out has {} values, needs {}",
        c.len(),
        m * n
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = a_layout.strides(m, k);
    let (b_rs, b_cs) = b_layout.strides(k, n);
    let threads = rayon::current_num_threads();
    let parallel = m * n * k >= PAR_WORK && threads > 1;
    if parallel && m * n * k >= SPLIT_N_MIN_WORK && m <= SPLIT_N_MAX_M && n >= 32 * threads {
        // Few rows (a Linear layer's forward x·Wᵀ and its weight gradient
        // dyᵀ·x at batch 64..256): gemm's own threading packs the whole left
        // operand on one thread first, which costs more than the second thread
        // saves. Giving each thread its own block of output columns packs in
        // parallel: 64x784x128 with Wᵀ 146 -> 83 us, 128x64x784 94 -> 78 us
        // (2 threads; gemm's threading is as good from 512 rows on).
        let cols = n.div_ceil(threads).next_multiple_of(16);
        let (a_ptr, b_ptr, c_ptr) = (
            a.as_ptr() as usize,
            b.as_ptr() as usize,
            c.as_mut_ptr() as usize,
        );
        (0..n.div_ceil(cols)).into_par_iter().for_each(|t| {
            let j0 = t * cols;
            let nn = cols.min(n - j0);
            // SAFETY: as below; each task writes only columns j0..j0+nn of `c`
            // (disjoint between tasks) and reads columns j0..j0+nn of `b`.
            unsafe {
                gemm(
                    m,
                    nn,
                    k,
                    (c_ptr as *mut f32).add(j0),
                    1,
                    n as isize,
                    accumulate,
                    a_ptr as *const f32,
                    a_cs,
                    a_rs,
                    (b_ptr as *const f32).offset(j0 as isize * b_cs),
                    b_cs,
                    b_rs,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        });
        return;
    }
    let par = if parallel {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above guarantee that every index gemm touches
    // (row < m, col < n, depth < k with the strides computed from those sizes)
    // lies inside the three slices, and `c` does not alias `a` or `b` because
    // it is borrowed mutably.
    unsafe {
        gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn transpose(rows: usize, cols: usize, x: &[f32]) -> Vec<f32> {
        let mut t = vec![0.0; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = x[i * cols + j];
            }
        }
        t
    }

    #[test]
    fn all_layouts_match_naive_product() {
        // The last two take the column-split path on 2+ threads.
        for &(m, k, n) in &[
            (3, 4, 5),
            (64, 784, 128),
            (1, 7, 1),
            (70, 33, 90),
            (256, 100, 131),
            (37, 64, 500),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
                .collect();
            let want = naive(m, k, n, &a, &b);
            let at = transpose(m, k, &a);
            let bt = transpose(k, n, &b);
            for (aa, al) in [(&a, MatLayout::Normal), (&at, MatLayout::Transposed)] {
                for (bb, bl) in [(&b, MatLayout::Normal), (&bt, MatLayout::Transposed)] {
                    let mut c = vec![0.0; m * n];
                    matmul(m, k, n, aa, al, bb, bl, &mut c, false);
                    for (x, y) in c.iter().zip(&want) {
                        assert!((x - y).abs() <= 1e-3 * (1.0 + y.abs()), "{x} vs {y}");
                    }
                }
            }
            for (bb, bl) in [(&b, MatLayout::Normal), (&bt, MatLayout::Transposed)] {
                let mut c = want.clone();
                matmul(m, k, n, &a, MatLayout::Normal, bb, bl, &mut c, true);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - 2.0 * y).abs() <= 2e-3 * (1.0 + y.abs()));
                }
            }
        }
    }
}
