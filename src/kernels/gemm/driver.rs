//! The BLIS loops around the micro-kernel, for one tile of `C` on one thread.
//!
//! ```text
//! for jc in cols step NC:                        (B block: KC x NC)
//!   for pc in 0..k in k_blocks:                   pack B (or read it in place)
//!     for ic in rows step MC:                     pack A (or read it in place)
//!       for jr in 0..nc step NR:                  B panel KC x NR: in L1
//!         for ir in 0..mc step MR:                A panel MR x KC: from L2
//!           kernel: C[ic+ir.., jc+jr..] (+)= A panel · B panel
//! ```
//!
//! The first `k` block overwrites `C` (unless accumulating) and the later ones
//! add to it, so `C` needs no zeroing.
//!
//! Packing pays when a block is read many times and its layout is bad for
//! the kernel. The kernel reads row-major `A` in place (MR rows are MR
//! streams) and row-major `B` in place for tiles of at most `MC` rows; it packs
//! a transposed `B` (a Linear layer's weight), a column-major `A` that is
//! read across many panels, and row-major `B` for taller tiles. Measured on
//! the Zen 5, one thread, against the `gemm` crate in one process: packing
//! `A` cost 9% at 128³ and 24% on `xᵀ[784x64]·dh[64x128]`; reading `B` in
//! place took `h[48x784]·W[784x128]` from 0.86x to 1.00x the crate and
//! `[24x512]·[512x2048]` from 0.66x to 1.07x.

use std::ops::Range;

use super::pack::{pack_a, pack_b};
use super::scratch::Scratch;
use super::{k_blocks, Kernel, Mat, Operand, Problem, Tile};

/// Packing choices for a tile of `rows x cols`: (pack A, pack B).
pub(crate) fn packs<K: Kernel>(p: &Problem, rows: usize, cols: usize) -> (bool, bool) {
    let pack_a = match p.a {
        // General strides: always.
        a if a.rs != 1 && a.cs != 1 => true,
        // Column-major A, read across many panels of B: each step of p
        // would otherwise touch a new cache line (and soon a new page).
        a if a.rs == 1 => a.cs >= 512 && cols >= 4 * K::NR,
        // Row-major A: MR rows are MR streams the prefetcher follows.
        _ => false,
    };
    let pack_b = match p.b {
        Operand::Packed(_) => false,
        // Row-major B in place when the tile has at most MC rows (each
        // panel is read by few micro-tiles, so copying it costs more than
        // it saves) or all of B fits in L1 (32 KiB).
        Operand::Strided(b) => !(b.cs == 1 && (rows <= K::MC || p.k * p.n <= 8192)),
    };
    (pack_a, pack_b)
}

/// `C[rows, cols] (+)= A[rows, :]·B[:, cols]` with kernel set `K`.
///
/// # Safety
/// `p` must satisfy [`Problem`]'s invariants, the ranges must lie inside
/// `m` and `n` (`cols.start` a multiple of `K::NR` when `B` is prepacked),
/// no other thread may write this tile of `C` meanwhile, and the CPU must
/// support `K`'s instruction set.
pub(crate) unsafe fn tile<K: Kernel>(
    p: &Problem,
    rows: Range<usize>,
    cols: Range<usize>,
    s: &mut Scratch,
) {
    let (mt, nt) = (rows.len(), cols.len());
    if mt == 0 || nt == 0 {
        return;
    }
    let (do_pack_a, do_pack_b) = packs::<K>(p, mt, nt);
    let (kb, kc_full) = match p.b {
        Operand::Packed(pb) => (pb.k_blocks, pb.kc),
        Operand::Strided(_) => k_blocks(p.k, K::KC),
    };
    let (mc_blk, nc_blk) = (K::MC, K::NC);
    let a_buf = if do_pack_a {
        s.a.reserve(mc_blk.min(mt).div_ceil(K::MR) * K::MR * kc_full)
    } else {
        std::ptr::null_mut()
    };
    let nc_max = nc_blk.min(nt);
    let b_buf = if do_pack_b {
        s.b.reserve(nc_max.div_ceil(K::NR) * K::NR * kc_full)
    } else {
        std::ptr::null_mut()
    };
    let ldc = p.ldc as isize;

    for jc in cols.clone().step_by(nc_blk) {
        let nc = nc_blk.min(cols.end - jc);
        for blk in 0..kb {
            let pc = blk * kc_full;
            let kc = kc_full.min(p.k - pc);
            // B block: where panel q starts and the stride between its rows.
            let (b0, b_panel, b_ks): (*const f32, usize, isize) = match p.b {
                Operand::Packed(pb) => (pb.panel(blk, jc / K::NR), kc * K::NR, K::NR as isize),
                Operand::Strided(b) if do_pack_b => {
                    pack_b(K::SIMD_PACK, b, pc, kc, jc, nc, K::NR, b_buf);
                    (b_buf, kc * K::NR, K::NR as isize)
                }
                Operand::Strided(b) => (b.at(pc, jc), K::NR, b.rs),
            };
            let overwrite = blk == 0 && !p.accumulate;
            for ic in rows.clone().step_by(mc_blk) {
                let mc = mc_blk.min(rows.end - ic);
                if do_pack_a {
                    pack_a(K::SIMD_PACK, p.a, ic, mc, pc, kc, K::MR, a_buf);
                }
                macro_kernel::<K>(MacroBlock {
                    a: p.a,
                    a_buf: do_pack_a.then_some(a_buf as *const f32),
                    ic,
                    mc,
                    pc,
                    kc,
                    b0,
                    b_panel,
                    b_ks,
                    nc,
                    c: p.c.offset(ic as isize * ldc + jc as isize),
                    ldc,
                    overwrite,
                });
            }
        }
    }
}

/// One block of `A` (`mc x kc`) against one block of `B` (`kc x nc`).
struct MacroBlock {
    a: Mat,
    /// The packed block, or `None` to read `a` in place.
    a_buf: Option<*const f32>,
    ic: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    /// Panel 0 of the `B` block, the distance between panels, the distance
    /// between rows within a panel.
    b0: *const f32,
    b_panel: usize,
    b_ks: isize,
    nc: usize,
    /// `C[ic, jc]`.
    c: *mut f32,
    ldc: isize,
    overwrite: bool,
}

/// # Safety
/// As [`tile`], for the block described.
unsafe fn macro_kernel<K: Kernel>(mb: MacroBlock) {
    for (q, jr) in (0..mb.nc).step_by(K::NR).enumerate() {
        let nr = K::NR.min(mb.nc - jr);
        let b = mb.b0.add(q * mb.b_panel);
        for (r, ir) in (0..mb.mc).step_by(K::MR).enumerate() {
            let mr = K::MR.min(mb.mc - ir);
            let (a, a_rs, a_ks, a_packed) = match mb.a_buf {
                Some(buf) => (buf.add(r * mb.kc * K::MR), 1, K::MR as isize, true),
                None => (mb.a.at(mb.ic + ir, mb.pc), mb.a.rs, mb.a.cs, false),
            };
            K::tile(&Tile {
                kc: mb.kc,
                a,
                a_rs,
                a_ks,
                a_packed,
                b,
                b_ks: mb.b_ks,
                c: mb.c.offset(ir as isize * mb.ldc + jr as isize),
                ldc: mb.ldc,
                mr,
                nr,
                overwrite: mb.overwrite,
            });
        }
    }
}
