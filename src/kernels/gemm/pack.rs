//! Packing: copying a block of `A` or `B` into the order the micro-kernel
//! reads it, so that its loads are contiguous and stay in cache.
//!
//! ```text
//! A block [mc, kc] -> panels of MR rows:    panel q, (i, p) at q·kc·MR + p·MR + i
//! B block [kc, nc] -> panels of NR columns: panel q, (p, j) at q·kc·NR + p·NR + j
//! ```
//!
//! The last panel of a block may be narrower; its unused lanes are left as
//! they are and never read (the kernel masks its last vector of `B` and
//! runs with fewer rows of `A`).
//! A contiguous run (a row of row-major `B`, a column of column-major `A`) is
//! copied as it is; the other orientation is a transpose, done in squares of
//! 8 x 8 so that both the reads and the writes run along cache lines, with
//! AVX shuffles when `simd` (the AVX2 and AVX-512 paths): 24 shuffles per 64
//! values, about 4x faster than element by element, which is what packing a
//! row-major `A` (or a transposed `B`, a Linear layer's weight) costs.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use super::Mat;

/// Side of the squares the transposing copies work in.
const SQ: usize = 8;

/// Packs `A[i0..i0+mc, p0..p0+kc]` into panels of `mr` rows at `dst`.
///
/// # Safety
/// The block must lie inside `a`; `dst` must hold `mc.div_ceil(mr)·kc·mr`
/// values and not overlap `a`; `simd` only where the CPU has AVX.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn pack_a(
    simd: bool,
    a: Mat,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
    mr: usize,
    dst: *mut f32,
) {
    for (q, r0) in (0..mc).step_by(mr).enumerate() {
        let rows = mr.min(mc - r0);
        let panel = dst.add(q * kc * mr);
        let src = a.at(i0 + r0, p0);
        if a.rs == 1 {
            // Column-major A: each p is `rows` contiguous values.
            for p in 0..kc {
                std::ptr::copy_nonoverlapping(
                    src.offset(p as isize * a.cs),
                    panel.add(p * mr),
                    rows,
                );
            }
        } else {
            // panel[p·mr + i] = A[r0 + i, p0 + p]
            transpose(simd, src, a.rs, a.cs, rows, kc, panel, mr);
        }
    }
}

/// Packs `B[p0..p0+kc, j0..j0+nc]` into panels of `nr` columns at `dst`.
///
/// # Safety
/// The block must lie inside `b`; `dst` must hold `nc.div_ceil(nr)·kc·nr`
/// values and not overlap `b`; `simd` only where the CPU has AVX.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn pack_b(
    simd: bool,
    b: Mat,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    nr: usize,
    dst: *mut f32,
) {
    if b.cs == 1 {
        // Row-major B: row by row, each row's `nc` values front to back (a
        // stream the hardware prefetcher follows; panel by panel would
        // cross a page per row when B is wide), dealt into the panels.
        for p in 0..kc {
            let src = b.at(p0 + p, j0);
            for (q, c0) in (0..nc).step_by(nr).enumerate() {
                let cols = nr.min(nc - c0);
                std::ptr::copy_nonoverlapping(src.add(c0), dst.add(q * kc * nr + p * nr), cols);
            }
        }
        return;
    }
    for (q, c0) in (0..nc).step_by(nr).enumerate() {
        let cols = nr.min(nc - c0);
        let panel = dst.add(q * kc * nr);
        // panel[p·nr + j] = B[p0 + p, c0 + j]: the transpose of the
        // `cols x kc` block whose rows are B's columns.
        transpose(simd, b.at(p0, j0 + c0), b.cs, b.rs, cols, kc, panel, nr);
    }
}

/// `dst[p·ld + i] = src[i·s_i + p·s_p]` for `i < rows`, `p < len`, in
/// squares of `SQ x SQ` (partial squares at the edges).
///
/// # Safety
/// Every `src` element addressed must be valid, and `dst[p·ld + i]`
/// writable; `simd` only where the CPU has AVX.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn transpose(
    simd: bool,
    src: *const f32,
    s_i: isize,
    s_p: isize,
    rows: usize,
    len: usize,
    dst: *mut f32,
    ld: usize,
) {
    let mut i = 0;
    while i < rows {
        let ri = SQ.min(rows - i);
        let mut p = 0;
        while p < len {
            let rp = SQ.min(len - p);
            let s = src.offset(i as isize * s_i + p as isize * s_p);
            let d = dst.add(p * ld + i);
            #[cfg(target_arch = "x86_64")]
            if simd && s_p == 1 && rp == SQ {
                transpose8_avx(s, s_i, ri, d, ld);
                p += rp;
                continue;
            }
            let _ = simd;
            if ri == SQ && rp == SQ {
                let mut t = [[0.0f32; SQ]; SQ];
                for (ii, row) in t.iter_mut().enumerate() {
                    let s = s.offset(ii as isize * s_i);
                    for (pp, v) in row.iter_mut().enumerate() {
                        *v = *s.offset(pp as isize * s_p);
                    }
                }
                for pp in 0..SQ {
                    let d = d.add(pp * ld);
                    for (ii, row) in t.iter().enumerate() {
                        *d.add(ii) = row[pp];
                    }
                }
            } else {
                for ii in 0..ri {
                    let s = s.offset(ii as isize * s_i);
                    for pp in 0..rp {
                        *d.add(pp * ld + ii) = *s.offset(pp as isize * s_p);
                    }
                }
            }
            p += rp;
        }
        i += ri;
    }
}

/// `dst[p·ld + i] = src[i·s_i + p]` for `i < rows <= 8`, `p < 8`: eight
/// contiguous values from each of `rows` rows, transposed with AVX shuffles
/// (`unpack`, `shuffle`, `permute2f128`) and stored `rows` lanes at a time.
///
/// # Safety
/// `src[i·s_i + p]` readable and `dst[p·ld + i]` writable for those `i`,
/// `p`; the CPU must support AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose8_avx(src: *const f32, s_i: isize, rows: usize, dst: *mut f32, ld: usize) {
    let mut r = [_mm256_setzero_ps(); 8];
    for (i, x) in r.iter_mut().enumerate().take(rows) {
        *x = _mm256_loadu_ps(src.offset(i as isize * s_i));
    }
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    let out = [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ];
    if rows == 8 {
        for (p, &x) in out.iter().enumerate() {
            _mm256_storeu_ps(dst.add(p * ld), x);
        }
    } else {
        let mask = _mm256_setr_epi32(
            -((rows > 0) as i32),
            -((rows > 1) as i32),
            -((rows > 2) as i32),
            -((rows > 3) as i32),
            -((rows > 4) as i32),
            -((rows > 5) as i32),
            -((rows > 6) as i32),
            0,
        );
        for (p, &x) in out.iter().enumerate() {
            _mm256_maskstore_ps(dst.add(p * ld), mask, x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat(v: &[f32], rs: isize, cs: isize) -> Mat {
        Mat {
            ptr: v.as_ptr(),
            rs,
            cs,
        }
    }

    /// Both matrices, each with and without the AVX transposes (where the
    /// CPU has AVX).
    fn cases(x: Mat, y: Mat) -> Vec<(Mat, bool)> {
        let avx = super::super::Path::Avx2.available();
        let mut v = vec![(x, false), (y, false)];
        if avx {
            v.extend([(x, true), (y, true)]);
        }
        v
    }

    #[test]
    fn packs_a_in_both_orientations() {
        // A is 11 x 13; pack rows 2..11, columns 1..11 into panels of 4.
        let (m, k) = (11, 13);
        let rm: Vec<f32> = (0..m * k).map(|x| x as f32).collect();
        let cm: Vec<f32> = (0..m * k).map(|x| ((x % m) * k + x / m) as f32).collect();
        for (a, simd) in cases(mat(&rm, k as isize, 1), mat(&cm, 1, m as isize)) {
            let (i0, mc, p0, kc, mr) = (2usize, 9usize, 1usize, 10usize, 4usize);
            let mut dst = vec![-1.0f32; mc.div_ceil(mr) * kc * mr];
            // SAFETY: the block lies inside the 11 x 13 matrix; `dst` holds
            // every panel; `simd` only where AVX is available (`cases`).
            unsafe { pack_a(simd, a, i0, mc, p0, kc, mr, dst.as_mut_ptr()) };
            for i in 0..mc {
                for p in 0..kc {
                    let (q, r) = (i / mr, i % mr);
                    let want = ((i0 + i) * k + p0 + p) as f32;
                    assert_eq!(dst[q * kc * mr + p * mr + r], want, "i {i} p {p}");
                }
            }
        }
    }

    #[test]
    fn packs_b_in_both_orientations() {
        // B is 19 x 21; pack rows 3..19, columns 2..21 into panels of 8.
        let (k, n) = (19, 21);
        let rm: Vec<f32> = (0..k * n).map(|x| x as f32 + 1.0).collect();
        let cm: Vec<f32> = (0..k * n)
            .map(|x| ((x % k) * n + x / k) as f32 + 1.0)
            .collect();
        for (b, simd) in cases(mat(&rm, n as isize, 1), mat(&cm, 1, k as isize)) {
            let (p0, kc, j0, nc, nr) = (3usize, 16usize, 2usize, 19usize, 8usize);
            let mut dst = vec![-1.0f32; nc.div_ceil(nr) * kc * nr];
            // SAFETY: as above, for the 19 x 21 matrix.
            unsafe { pack_b(simd, b, p0, kc, j0, nc, nr, dst.as_mut_ptr()) };
            for q in 0..nc.div_ceil(nr) {
                for p in 0..kc {
                    for j in 0..nr {
                        let col = q * nr + j;
                        let want = if col < nc {
                            ((p0 + p) * n + j0 + col) as f32 + 1.0
                        } else {
                            -1.0 // untouched
                        };
                        assert_eq!(dst[q * kc * nr + p * nr + j], want, "q {q} p {p} j {j}");
                    }
                }
            }
        }
    }
}
