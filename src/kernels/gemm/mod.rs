//! Matrix products `C = A·B` (or `C += A·B`) in f32: nerve's own kernels.
//!
//! `A` is logically `[m, k]`, `B` is `[k, n]`, `C` is `[m, n]` row-major.
//! Operands are row-major slices; a transposed operand is described by its
//! strides ([`MatLayout`]), so `A·Bᵀ` never copies `B`.
//!
//! # Structure (BLIS)
//!
//! ```text
//! for each tile of C (threading.rs: one per thread, split over m or n, never k)
//!   for jc in 0..n step NC                      B block: KC x NC
//!     for pc in 0..k step KC                    pack B[pc.., jc..] into NR-wide panels
//!       for ic in 0..m step MC                  A block: MC x KC (packed or read in place)
//!         for jr in 0..NC step NR
//!           for ir in 0..MC step MR
//!             micro-kernel: C[ir.., jr..] (+)= Σ_p A[ir.., p]·B[p, jr..]
//! ```
//!
//! The micro-kernel keeps an `MR x NR` block of `C` in vector registers and,
//! for every `p`, broadcasts `MR` values of `A` and multiplies them by the `NR`
//! values of row `p` of the `B` panel (fused multiply-add). `MR x NR` is
//! `6 x 64` with AVX-512 (24 zmm accumulators), `6 x 16` with AVX2+FMA (12 ymm)
//! and `4 x 8` in the portable kernel. Edges use the same kernel with fewer
//! rows and masked columns, so nothing is computed twice or padded.
//!
//! One-row products (`m = 1`, decoding one token) and one-column products go
//! to gemv.rs, split over the outputs on all threads.
//!
//! # Which code runs
//!
//! [`Path`]: chosen once at run time from what the CPU offers (AVX-512F, else
//! AVX2+FMA, else portable), with no `target-cpu` build flag. The environment
//! variable `NERVE_GEMM=avx512|avx2|portable|crate|auto` forces one (`crate`
//! is the `gemm` crate nerve used before); [`matmul_on`] forces one per call.
//!
//! # Numbers
//!
//! Every element of `C` is summed in the same order whatever the number of
//! threads: `k` is cut into the same blocks (they depend only on `k` and the
//! path), each block's partial sum is one register chain in order of `p`, and
//! the blocks are added to `C` in order. Threads split the output, never `k`,
//! so 1 and 2 threads give bit-identical results.

mod avx2;
mod avx512;
mod crate_path;
mod driver;
mod gemv;
mod isa;
mod pack;
mod peak;
mod portable;
mod prepacked;
mod scratch;
#[cfg(test)]
mod tests;
mod threading;

pub use gemv::gemv_rows_here;
pub use isa::{cpu_description, Path};
pub use peak::fma_ceiling;
pub(crate) use prepacked::matmul_prepacked_serial;
pub use prepacked::{matmul_prepacked, PackedB};

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
    pub(crate) fn strides(self, rows: usize, cols: usize) -> (isize, isize) {
        match self {
            MatLayout::Normal => (cols as isize, 1),
            MatLayout::Transposed => (1, rows as isize),
        }
    }
}

/// `c = a·b` (or `c += a·b` when `accumulate`), where `a` is logically `[m, k]`,
/// `b` is `[k, n]` and `c` is `[m, n]` row-major, on the path chosen for this
/// CPU ([`Path::selected`]).
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
    matmul_on(
        Path::selected(),
        m,
        k,
        n,
        a,
        a_layout,
        b,
        b_layout,
        c,
        accumulate,
    );
}

/// [`matmul`] on a given path. Panics if this CPU cannot run it
/// ([`Path::available`]).
#[allow(clippy::too_many_arguments)]
pub fn matmul_on(
    path: Path,
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
    check_lens(m, k, n, a.len(), Some(b.len()), c.len());
    assert!(
        path.available(),
        "matmul: the {} path needs CPU features this machine lacks",
        path.name()
    );
    if path == Path::Crate {
        crate_path::matmul(m, k, n, a, a_layout, b, b_layout, c, accumulate);
        return;
    }
    if trivial(m, k, n, c, accumulate) {
        return;
    }
    let (a_rs, a_cs) = a_layout.strides(m, k);
    let (b_rs, b_cs) = b_layout.strides(k, n);
    let p = Problem {
        m,
        k,
        n,
        a: Mat {
            ptr: a.as_ptr(),
            rs: a_rs,
            cs: a_cs,
        },
        b: Operand::Strided(Mat {
            ptr: b.as_ptr(),
            rs: b_rs,
            cs: b_cs,
        }),
        c: c.as_mut_ptr(),
        accumulate,
        ldc: n,
    };
    // SAFETY: `check_lens` proved that every element the strides address
    // lies in `a`, `b` and `c`; `c` is borrowed mutably, so it aliases
    // neither operand; the path's CPU features were checked just above.
    unsafe { run(path, &p) }
}

/// Asserts that the slices hold the `[m, k]`, `[k, n]` and `[m, n]` operands.
fn check_lens(m: usize, k: usize, n: usize, a: usize, b: Option<usize>, c: usize) {
    assert!(
        a >= m * k,
        "matmul kernel: lhs has {a} values, needs {}",
        m * k
    );
    if let Some(b) = b {
        assert!(
            b >= k * n,
            "matmul kernel: rhs has {b} values, needs {}",
            k * n
        );
    }
    assert!(
        c >= m * n,
        "matmul kernel: out has {c} values, needs {}",
        m * n
    );
}

/// Handles the empty products; true when nothing is left to do.
fn trivial(m: usize, k: usize, n: usize, c: &mut [f32], accumulate: bool) -> bool {
    if m == 0 || n == 0 {
        return true;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return true;
    }
    false
}

/// Runs a checked, non-empty product on a native path.
///
/// # Safety
/// The operands must cover the product (see [`Problem`]) and `path` must be
/// available on this CPU.
unsafe fn run(path: Path, p: &Problem) {
    match path {
        Path::Avx512 => dispatch::<avx512::Avx512>(p),
        Path::Avx2 => dispatch::<avx2::Avx2>(p),
        Path::Portable | Path::Crate => dispatch::<portable::Portable>(p),
    }
}

/// One-row and one-column products to gemv.rs, everything else to the tiles.
///
/// # Safety
/// As [`run`], for the kernel set `K`.
unsafe fn dispatch<K: Kernel>(p: &Problem) {
    if gemv::run::<K>(p) {
        return;
    }
    threading::run::<K>(p);
}

/// A logical matrix in a slice: element `(i, j)` is at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mat {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

impl Mat {
    /// Address of element `(i, j)`.
    ///
    /// # Safety
    /// `(i, j)` must lie inside the matrix the strides describe.
    #[inline(always)]
    pub unsafe fn at(&self, i: usize, j: usize) -> *const f32 {
        self.ptr.offset(i as isize * self.rs + j as isize * self.cs)
    }
}

/// The right operand: strided in a slice, or packed ahead of time.
#[derive(Clone, Copy)]
pub(crate) enum Operand<'a> {
    Strided(Mat),
    Packed(&'a PackedB),
}

/// One checked product. Invariants (established by the public entry
/// points): `m, k, n > 0`; every `(i, p)` of `a`, `(p, j)` of `b` and
/// `c[i·ldc + j]` (j < n ≤ ldc) lies in live slices for the whole call; `c` aliases neither.
pub(crate) struct Problem<'a> {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a: Mat,
    pub b: Operand<'a>,
    pub c: *mut f32,
    pub accumulate: bool,
    /// Distance between rows of `C` (`n` for a whole matrix; more for a
    /// block of columns of a wider one).
    pub ldc: usize,
}

// SAFETY: the pointers come from slices borrowed for the whole call, which
// returns only after every tile has finished; tiles that run at the same time
// write disjoint parts of `c` and only read `a` and `b`.
unsafe impl Sync for Problem<'_> {}

/// One micro-tile for a kernel: `C[0..mr, 0..nr] (+)= Σ_{p<kc} A[i, p]·B[p, j]`.
///
/// `A[i, p]` is at `a + i·a_rs + p·a_ks`, except when `a_packed`, where it is
/// at `a + p·MR + i` (a packed panel). `B[p, j]` is at `b + p·b_ks + j`; the
/// kernel reads only `j < nr` (masked), so `b` may be a packed panel
/// (`b_ks = NR`) or a row-major matrix in place. `C[i, j]` is at
/// `c + i·ldc + j`; it is overwritten when `overwrite`, else added to.
pub(crate) struct Tile {
    pub kc: usize,
    pub a: *const f32,
    pub a_rs: isize,
    pub a_ks: isize,
    pub a_packed: bool,
    pub b: *const f32,
    pub b_ks: isize,
    pub c: *mut f32,
    pub ldc: isize,
    pub mr: usize,
    pub nr: usize,
    pub overwrite: bool,
}

/// What one instruction set provides: a micro-kernel, its blocking, and the
/// one-row kernels.
pub(crate) trait Kernel {
    /// Rows of the micro-tile (values of `A` broadcast per `p`).
    const MR: usize;
    /// Columns of the micro-tile (a whole number of vectors).
    const NR: usize;
    /// Depth of a block of `k` (the `B` panel `KC x NR` stays in L1).
    const KC: usize;
    /// Rows of a block of `A` (`MC x KC` stays in L2).
    const MC: usize;
    /// Columns of a block of `B` (`KC x NC`, the packed buffer).
    const NC: usize;
    /// Whether packing may use the AVX transposes (pack.rs).
    const SIMD_PACK: bool;

    /// One micro-tile, `1 <= mr <= MR`, `1 <= nr <= NR`, `kc >= 1`.
    ///
    /// # Safety
    /// Every address [`Tile`] describes must be valid, and the CPU must
    /// support the kernel's instruction set.
    unsafe fn tile(t: &Tile);

    /// `c[j] (+)= Σ_p a[p]·b[p·ldb + j]` for `j < n`: one row times a
    /// row-major matrix.
    ///
    /// # Safety
    /// `a[..k]`, `b[p·ldb + j]` and `c[..n]` valid; the CPU supports the set.
    unsafe fn gemv_rows(
        k: usize,
        n: usize,
        a: *const f32,
        b: *const f32,
        ldb: isize,
        c: *mut f32,
        accumulate: bool,
    );

    /// `c[j] (+)= Σ_p a[p]·w[j·ldw + p]` for `j < n`: one row times the
    /// transpose of a row-major matrix (dot products).
    ///
    /// # Safety
    /// `a[..k]`, `w[j·ldw + p]` and `c[..n]` valid; the CPU supports the set.
    unsafe fn gemv_dots(
        k: usize,
        n: usize,
        a: *const f32,
        w: *const f32,
        ldw: isize,
        c: *mut f32,
        accumulate: bool,
    );
}

/// `k` cut into blocks of at most `kc_max`, as even as possible:
/// (number of blocks, length of every block but possibly the last).
/// Depends only on `k` and `kc_max`, never on the threads.
pub(crate) fn k_blocks(k: usize, kc_max: usize) -> (usize, usize) {
    let blocks = k.div_ceil(kc_max).max(1);
    (blocks, k.div_ceil(blocks))
}
