//! A right operand packed once: for a weight multiplied many times while it
//! does not change (inference), the packing of `B` that every product would
//! otherwise repeat is done ahead of time.
//!
//! ```text
//! for each k block (the same blocks as an ordinary product of depth k):
//!   for each NR-wide panel of columns:  kc x NR values, row p at p·NR
//! ```
//!
//! [`matmul_prepacked`] then runs the ordinary tiles (threading.rs) reading
//! these panels in place; the products equal those of [`super::matmul_on`]
//! on the same path bit for bit, except for one-row products, which
//! [`super::matmul_on`] sends to the one-row kernels and this runs as tiles.

use super::pack::pack_b;
use super::scratch::AlignedBuf;
use super::{
    avx2, avx512, k_blocks, portable, threading, Kernel, Mat, MatLayout, Operand, Path, Problem,
};

/// `B[k, n]` packed for the kernels of one path.
pub struct PackedB {
    pub(crate) k: usize,
    pub(crate) n: usize,
    pub(crate) path: Path,
    pub(crate) nr: usize,
    pub(crate) k_blocks: usize,
    pub(crate) kc: usize,
    panels: usize,
    data: AlignedBuf,
}

impl PackedB {
    /// Packs `b` (logically `[k, n]`, laid out as `layout`) for the path
    /// [`super::matmul`] uses.
    pub fn new(k: usize, n: usize, b: &[f32], layout: MatLayout) -> PackedB {
        PackedB::for_path(Path::selected(), k, n, b, layout)
    }

    /// Packs `b` for a given path (the crate path packs for the native
    /// kernels it stands beside, [`Path::native`]). Panics if `b` is too
    /// short or the CPU cannot run the path.
    pub fn for_path(path: Path, k: usize, n: usize, b: &[f32], layout: MatLayout) -> PackedB {
        let path = path.native();
        assert!(
            path.available(),
            "PackedB: the {} path needs CPU features this machine lacks",
            path.name()
        );
        assert!(
            b.len() >= k * n,
            "PackedB: matrix has {} values, needs {k} x {n}",
            b.len()
        );
        let (nr, kc_max, simd) = match path {
            Path::Avx512 => (avx512::Avx512::NR, avx512::Avx512::KC, true),
            Path::Avx2 => (avx2::Avx2::NR, avx2::Avx2::KC, true),
            _ => (portable::Portable::NR, portable::Portable::KC, false),
        };
        let (blocks, kc) = k_blocks(k, kc_max);
        let panels = n.div_ceil(nr);
        let mut data = AlignedBuf::with_len(blocks * kc * panels * nr);
        let (rs, cs) = layout.strides(k, n);
        let mat = Mat {
            ptr: b.as_ptr(),
            rs,
            cs,
        };
        let dst = data.as_mut_slice().as_mut_ptr();
        if k > 0 && n > 0 {
            for blk in 0..blocks {
                let pc = blk * kc;
                // SAFETY: the block lies in `b` (checked length, strides of a
                // k x n layout); the buffer holds blocks·kc·panels·nr values.
                unsafe {
                    pack_b(
                        simd,
                        mat,
                        pc,
                        kc.min(k - pc),
                        0,
                        n,
                        nr,
                        dst.add(blk * kc * panels * nr),
                    )
                };
            }
        }
        PackedB {
            k,
            n,
            path,
            nr,
            k_blocks: blocks,
            kc,
            panels,
            data,
        }
    }

    /// Rows of the logical matrix.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of the logical matrix.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The kernels it was packed for.
    pub fn path(&self) -> Path {
        self.path
    }

    /// Start of panel `q` of k block `blk`.
    ///
    /// # Safety
    /// `blk < k_blocks`, `q < panels`.
    pub(crate) unsafe fn panel(&self, blk: usize, q: usize) -> *const f32 {
        let kc_blk = self.kc.min(self.k - blk * self.kc);
        self.data
            .as_ptr()
            .add(blk * self.kc * self.panels * self.nr + q * kc_blk * self.nr)
    }
}

/// `c = a·b` (or `c += a·b`) with `b` packed ahead: `a` is logically
/// `[m, b.k()]`, `c` is `[m, b.n()]` row-major.
pub fn matmul_prepacked(
    m: usize,
    a: &[f32],
    a_layout: MatLayout,
    b: &PackedB,
    c: &mut [f32],
    accumulate: bool,
) {
    let (k, n) = (b.k, b.n);
    super::check_lens(m, k, n, a.len(), None, c.len());
    if super::trivial(m, k, n, c, accumulate) {
        return;
    }
    let (rs, cs) = a_layout.strides(m, k);
    let p = Problem {
        m,
        k,
        n,
        a: Mat {
            ptr: a.as_ptr(),
            rs,
            cs,
        },
        b: Operand::Packed(b),
        c: c.as_mut_ptr(),
        accumulate,
        ldc: n,
    };
    // SAFETY: lengths checked above; `b` was packed on this machine for an
    // available path (checked in `for_path`); `c` is borrowed mutably.
    unsafe {
        match b.path {
            Path::Avx512 => threading::run::<avx512::Avx512>(&p),
            Path::Avx2 => threading::run::<avx2::Avx2>(&p),
            _ => threading::run::<portable::Portable>(&p),
        }
    }
}

/// `C (+)= A·B` on the calling thread alone, for callers that split their
/// work over threads themselves (the recurrent layers split the hidden
/// units). `A` is `[m, b.k()]` with rows `lda` apart, `C` is `[m, b.n()]`
/// with rows `ldc` apart; both may be blocks of wider matrices.
///
/// # Safety
/// `a[i·lda + p]` for `i < m`, `p < b.k()` and `c[i·ldc + j]` for `j < b.n()`
/// must be valid, `lda ≥ b.k()`, `ldc ≥ b.n()`, and no other thread may use
/// that part of `C` meanwhile.
pub(crate) unsafe fn matmul_prepacked_serial(
    m: usize,
    a: *const f32,
    lda: usize,
    b: &PackedB,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let (k, n) = (b.k, b.n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                std::slice::from_raw_parts_mut(c.add(i * ldc), n).fill(0.0);
            }
        }
        return;
    }
    let p = Problem {
        m,
        k,
        n,
        a: Mat {
            ptr: a,
            rs: lda as isize,
            cs: 1,
        },
        b: Operand::Packed(b),
        c,
        accumulate,
        ldc,
    };
    use super::driver::tile;
    use super::scratch::with_scratch;
    match b.path {
        Path::Avx512 => with_scratch(|s| tile::<avx512::Avx512>(&p, 0..m, 0..n, s)),
        Path::Avx2 => with_scratch(|s| tile::<avx2::Avx2>(&p, 0..m, 0..n, s)),
        _ => with_scratch(|s| tile::<portable::Portable>(&p, 0..m, 0..n, s)),
    }
}
