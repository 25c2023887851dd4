//! 2-D pooling kernels, NCHW, f32. Every `(n, c)` plane is pooled on its own,
//! and planes run in parallel on rayon when the tensor is large.
//!
//! Windows (no ceil mode, as PyTorch's default):
//!
//! ```text
//! oh = ⌊(h + 2·ph − kh) / sh⌋ + 1                      (ow likewise)
//! window(oy, ox) = rows [oy·sh − ph, oy·sh − ph + kh) × cols [ox·sw − pw, ox·sw − pw + kw)
//! ```
//!
//! - max pool: `y = max` over the window's in-bounds values (padding is −∞; a
//!   NaN wins, as in PyTorch); `argmax` records where it came from, and the
//!   backward pass routes `dy` to that one input: `dx[argmax] += dy`.
//! - average pool, `count_include_pad = true` (PyTorch's default): `y = Σ_window x / (kh·kw)`,
//!   padding counts as zeros; backward `dx[i] += dy / (kh·kw)` for each in-bounds `i` of the window.
//! - adaptive average pool to `(oh, ow)`: bin `i` covers rows
//!   `[⌊i·h/oh⌋, ⌈(i+1)·h/oh⌉)` (columns likewise); `y` is the bin's mean and
//!   backward spreads `dy / bin_size` over the bin.
//!
//! Gradients are written, not accumulated: every backward kernel overwrites
//! `grad_input`.

use rayon::prelude::*;

use super::PAR_THRESHOLD;

/// Output size of one pooled dimension, `⌊(size + 2·pad − k) / stride⌋ + 1`, or
/// `None` when the window does not fit in the padded input or `k`/`stride` is 0.
pub fn pool_out_size(size: usize, k: usize, stride: usize, pad: usize) -> Option<usize> {
    if k == 0 || stride == 0 || k > size + 2 * pad {
        return None;
    }
    Some((size + 2 * pad - k) / stride + 1)
}

/// Checks a pooling geometry like PyTorch does and returns `(oh, ow)`; the
/// message says what is wrong.
pub fn pool2d_out_hw(
    h: usize,
    w: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<(usize, usize), String> {
    if kernel.0 == 0 || kernel.1 == 0 {
        return Err(format!("pool2d: kernel size {kernel:?} must be positive"));
    }
    if stride.0 == 0 || stride.1 == 0 {
        return Err(format!("pool2d: stride {stride:?} must be positive"));
    }
    if 2 * padding.0 > kernel.0 || 2 * padding.1 > kernel.1 {
        return Err(format!(
            "pool2d: padding {padding:?} should be at most half of the kernel size {kernel:?}"
        ));
    }
    match (
        pool_out_size(h, kernel.0, stride.0, padding.0),
        pool_out_size(w, kernel.1, stride.1, padding.1),
    ) {
        (Some(oh), Some(ow)) => Ok((oh, ow)),
        _ => Err(format!(
            "pool2d: kernel {kernel:?} is larger than the padded input {}x{} (input {h}x{w}, padding {padding:?})",
            h + 2 * padding.0,
            w + 2 * padding.1
        )),
    }
}

fn checked_out_hw(
    h: usize,
    w: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> (usize, usize) {
    pool2d_out_hw(h, w, kernel, stride, padding).unwrap_or_else(|e| panic!("{e}"))
}

fn check_len(op: &str, what: &str, got: usize, want: usize) {
    assert!(
        got == want,
        "{op} kernel: {what} has {got} values, expected {want}"
    );
}

/// The in-bounds range `[start, end)` of a window starting at `o·s − p` of size `k`.
#[inline]
fn window(o: usize, s: usize, p: usize, k: usize, size: usize) -> (usize, usize) {
    let start = (o * s) as isize - p as isize;
    let end = (start + k as isize).min(size as isize);
    (start.max(0) as usize, end.max(0) as usize)
}

/// One step of the max scan: `v` at index `i` replaces the running max when
/// larger, or when it is NaN (as in PyTorch, so NaN propagates). Written as
/// selects, not branches: on real data the comparison is unpredictable.
#[inline(always)]
fn max_step(best: (f32, usize), v: f32, i: usize) -> (f32, usize) {
    let take = v > best.0 || v.is_nan();
    (if take { v } else { best.0 }, if take { i } else { best.1 })
}

/// The in-bounds window of every output position along one dimension.
fn windows(out: usize, s: usize, p: usize, k: usize, size: usize) -> Vec<(usize, usize)> {
    (0..out).map(|o| window(o, s, p, k, size)).collect()
}

/// The adaptive bin of every output position along one dimension.
fn bins(out: usize, size: usize) -> Vec<(usize, usize)> {
    (0..out).map(|o| adaptive_bin(o, size, out)).collect()
}

/// Whether the windows are exactly 2x2 tiles at stride 2 (2x2 pooling with
/// stride 2 and no padding, or an adaptive pool that halves the input).
fn is_k2s2(w: usize, rows: &[(usize, usize)], cols: &[(usize, usize)]) -> bool {
    let tiles = |b: &[(usize, usize)]| {
        b.iter()
            .enumerate()
            .all(|(i, &(s, e))| s == 2 * i && e == s + 2)
    };
    2 * cols.len() <= w && tiles(rows) && tiles(cols)
}

/// Mean (or sum times `scale`) of every window of one plane. `scale = None`
/// divides by each window's own area (adaptive pooling).
fn avg_plane(
    x: &[f32],
    w: usize,
    rows: &[(usize, usize)],
    cols: &[(usize, usize)],
    scale: Option<f32>,
    o: &mut [f32],
) {
    if is_k2s2(w, rows, cols) {
        // (The windows may be 2x2 tiles while the kernel is larger, clipped
        // by the border, so the divisor still comes from `scale`.)
        let k = scale.unwrap_or(0.25);
        for (oy, orow) in o.chunks_exact_mut(cols.len()).enumerate() {
            let i0 = 2 * oy * w;
            let (r0, r1) = (&x[i0..i0 + w], &x[i0 + w..i0 + 2 * w]);
            for (ox, y) in orow.iter_mut().enumerate() {
                let j = 2 * ox;
                *y = (r0[j] + r0[j + 1] + r1[j] + r1[j + 1]) * k;
            }
        }
        return;
    }
    for (orow, &(hs, he)) in o.chunks_exact_mut(cols.len()).zip(rows) {
        for (y, &(ws, we)) in orow.iter_mut().zip(cols) {
            let mut s = 0.0f32;
            for iy in hs..he {
                for &v in &x[iy * w + ws..iy * w + we] {
                    s += v;
                }
            }
            *y = s * scale.unwrap_or(1.0 / ((he - hs) * (we - ws)) as f32);
        }
    }
}

/// Adjoint of [`avg_plane`]: overwrites `dx` with the windows' spread gradients.
fn avg_plane_backward(
    dy: &[f32],
    w: usize,
    rows: &[(usize, usize)],
    cols: &[(usize, usize)],
    scale: Option<f32>,
    dx: &mut [f32],
) {
    dx.fill(0.0);
    if is_k2s2(w, rows, cols) {
        let k = scale.unwrap_or(0.25);
        for (oy, drow) in dy.chunks_exact(cols.len()).enumerate() {
            let i0 = 2 * oy * w;
            let (r0, r1) = dx[i0..i0 + 2 * w].split_at_mut(w);
            for (ox, &d) in drow.iter().enumerate() {
                let g = d * k;
                let j = 2 * ox;
                r0[j] = g;
                r0[j + 1] = g;
                r1[j] = g;
                r1[j + 1] = g;
            }
        }
        return;
    }
    for (drow, &(hs, he)) in dy.chunks_exact(cols.len()).zip(rows) {
        for (&d, &(ws, we)) in drow.iter().zip(cols) {
            let g = d * scale.unwrap_or(1.0 / ((he - hs) * (we - ws)) as f32);
            for iy in hs..he {
                for v in &mut dx[iy * w + ws..iy * w + we] {
                    *v += g;
                }
            }
        }
    }
}

/// Runs `f(plane_index, in_plane, out_plane)` for every plane, in parallel when
/// the input is large.
fn planes<T: Send, U: Sync>(
    input: &[U],
    in_plane: usize,
    out: &mut [T],
    out_plane: usize,
    f: impl Fn(usize, &[U], &mut [T]) + Sync,
) {
    if in_plane == 0 || out_plane == 0 {
        return;
    }
    if input.len().max(out.len()) >= PAR_THRESHOLD && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(out_plane)
            .zip(input.par_chunks(in_plane))
            .enumerate()
            .for_each(|(i, (o, x))| f(i, x, o));
    } else {
        out.chunks_mut(out_plane)
            .zip(input.chunks(in_plane))
            .enumerate()
            .for_each(|(i, (o, x))| f(i, x, o));
    }
}

/// Max pooling forward. `input[n, c, h, w]` → `out[n, c, oh, ow]`; `argmax`
/// (same length as `out`) receives, for each output, the flat index into
/// `input` of the value it took (the index within its plane is
/// `argmax % (h·w)`, which is what PyTorch's `return_indices` gives).
///
/// Panics on an invalid geometry (see [`pool2d_out_hw`]) or wrong slice lengths.
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d_forward(
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    input: &[f32],
    out: &mut [f32],
    argmax: &mut [u32],
) {
    let (oh, ow) = checked_out_hw(h, w, kernel, stride, padding);
    let op = "max_pool2d";
    check_len(op, "input", input.len(), n * c * h * w);
    check_len(op, "output", out.len(), n * c * oh * ow);
    check_len(op, "argmax", argmax.len(), n * c * oh * ow);
    assert!(
        input.len() <= u32::MAX as usize,
        "{op} kernel: input of {} values is too large for u32 indices",
        input.len()
    );
    let plane = h * w;
    let rows = windows(oh, stride.0, padding.0, kernel.0, h);
    let cols = windows(ow, stride.1, padding.1, kernel.1, w);
    let k2s2 = kernel == (2, 2) && stride == (2, 2) && padding == (0, 0);
    let pool_plane = |pi: usize, x: &[f32], o: &mut [f32], am: &mut [u32]| {
        let base = pi * plane;
        if k2s2 {
            // The common 2x2 / stride 2 case, straight-line and branch-free.
            for (oy, (orow, arow)) in o
                .chunks_exact_mut(ow)
                .zip(am.chunks_exact_mut(ow))
                .enumerate()
            {
                let i0 = 2 * oy * w;
                let (r0, r1) = (&x[i0..i0 + w], &x[i0 + w..i0 + 2 * w]);
                for (ox, (y, a)) in orow.iter_mut().zip(arow.iter_mut()).enumerate() {
                    let j = 2 * ox;
                    let (p, q, r, s) = (r0[j], r0[j + 1], r1[j], r1[j + 1]);
                    if p.is_nan() | q.is_nan() | r.is_nan() | s.is_nan() {
                        // Rare: the scan below lets a NaN win, as PyTorch does.
                        let mut best = (f32::NEG_INFINITY, i0 + j);
                        best = max_step(best, p, i0 + j);
                        best = max_step(best, q, i0 + j + 1);
                        best = max_step(best, r, i0 + w + j);
                        best = max_step(best, s, i0 + w + j + 1);
                        *y = best.0;
                        *a = (base + best.1) as u32;
                        continue;
                    }
                    // The max, then the first position holding it, as selects:
                    // on real data these comparisons are unpredictable, and a
                    // branch per comparison made this loop four times slower.
                    let m = p.max(q).max(r.max(s));
                    let mut k = i0 + w + j + 1;
                    k = if r == m { i0 + w + j } else { k };
                    k = if q == m { i0 + j + 1 } else { k };
                    k = if p == m { i0 + j } else { k };
                    *y = m;
                    *a = (base + k) as u32;
                }
            }
            return;
        }
        let out_rows = o.chunks_exact_mut(ow).zip(am.chunks_exact_mut(ow));
        for ((orow, arow), &(hs, he)) in out_rows.zip(&rows) {
            for ((y, a), &(ws, we)) in orow.iter_mut().zip(arow.iter_mut()).zip(&cols) {
                let mut best = (f32::NEG_INFINITY, hs * w + ws);
                for iy in hs..he {
                    let start = iy * w + ws;
                    for (j, &v) in x[start..iy * w + we].iter().enumerate() {
                        best = max_step(best, v, start + j);
                    }
                }
                *y = best.0;
                *a = (base + best.1) as u32;
            }
        }
    };
    let out_plane = oh * ow;
    if plane == 0 || out_plane == 0 {
        return;
    }
    if input.len() >= PAR_THRESHOLD && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(out_plane)
            .zip(argmax.par_chunks_mut(out_plane))
            .zip(input.par_chunks(plane))
            .enumerate()
            .for_each(|(pi, ((o, am), x))| pool_plane(pi, x, o, am));
    } else {
        out.chunks_mut(out_plane)
            .zip(argmax.chunks_mut(out_plane))
            .zip(input.chunks(plane))
            .enumerate()
            .for_each(|(pi, ((o, am), x))| pool_plane(pi, x, o, am));
    }
}

/// Max pooling backward: `grad_input` is zeroed, then `grad_input[argmax[i]] += grad_out[i]`.
///
/// Panics if `argmax` and `grad_out` differ in length or an index is out of range.
pub fn max_pool2d_backward(argmax: &[u32], grad_out: &[f32], grad_input: &mut [f32]) {
    assert!(
        argmax.len() == grad_out.len(),
        "max_pool2d backward kernel: argmax has {} values but grad_out has {}",
        argmax.len(),
        grad_out.len()
    );
    grad_input.fill(0.0);
    for (&i, &g) in argmax.iter().zip(grad_out) {
        grad_input[i as usize] += g;
    }
}

/// Average pooling forward with `count_include_pad = true`:
/// `out[n, c, oy, ox] = Σ_window input / (kh·kw)`.
///
/// Panics on an invalid geometry (see [`pool2d_out_hw`]) or wrong slice lengths.
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d_forward(
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    input: &[f32],
    out: &mut [f32],
) {
    let (oh, ow) = checked_out_hw(h, w, kernel, stride, padding);
    let op = "avg_pool2d";
    check_len(op, "input", input.len(), n * c * h * w);
    check_len(op, "output", out.len(), n * c * oh * ow);
    let scale = 1.0 / (kernel.0 * kernel.1) as f32;
    let rows = windows(oh, stride.0, padding.0, kernel.0, h);
    let cols = windows(ow, stride.1, padding.1, kernel.1, w);
    planes(input, h * w, out, oh * ow, |_, x, o| {
        avg_plane(x, w, &rows, &cols, Some(scale), o)
    });
}

/// Average pooling backward (`count_include_pad = true`): `grad_input` is
/// overwritten with `Σ_{windows containing i} grad_out / (kh·kw)`.
///
/// Panics on an invalid geometry or wrong slice lengths.
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d_backward(
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    grad_out: &[f32],
    grad_input: &mut [f32],
) {
    let (oh, ow) = checked_out_hw(h, w, kernel, stride, padding);
    let op = "avg_pool2d backward";
    check_len(op, "grad_out", grad_out.len(), n * c * oh * ow);
    check_len(op, "grad_input", grad_input.len(), n * c * h * w);
    let scale = 1.0 / (kernel.0 * kernel.1) as f32;
    let rows = windows(oh, stride.0, padding.0, kernel.0, h);
    let cols = windows(ow, stride.1, padding.1, kernel.1, w);
    planes(grad_out, oh * ow, grad_input, h * w, |_, dy, dx| {
        avg_plane_backward(dy, w, &rows, &cols, Some(scale), dx)
    });
}

/// PyTorch's adaptive bin `[⌊i·size/out⌋, ⌈(i+1)·size/out⌉)`.
#[inline]
fn adaptive_bin(i: usize, size: usize, out: usize) -> (usize, usize) {
    let start = i * size / out;
    let end = ((i + 1) * size).div_ceil(out);
    (start, end)
}

fn check_adaptive(op: &str, h: usize, w: usize, oh: usize, ow: usize) {
    assert!(
        oh > 0 && ow > 0,
        "{op} kernel: output size {oh}x{ow} must be positive"
    );
    assert!(
        h > 0 && w > 0,
        "{op} kernel: input size {h}x{w} must be positive"
    );
}

/// Adaptive average pooling forward: `input[n, c, h, w]` → `out[n, c, oh, ow]`,
/// each output the mean of its bin.
///
/// Panics on zero sizes or wrong slice lengths.
#[allow(clippy::too_many_arguments)]
pub fn adaptive_avg_pool2d_forward(
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    input: &[f32],
    out: &mut [f32],
) {
    let op = "adaptive_avg_pool2d";
    check_adaptive(op, h, w, oh, ow);
    check_len(op, "input", input.len(), n * c * h * w);
    check_len(op, "output", out.len(), n * c * oh * ow);
    let (rows, cols) = (bins(oh, h), bins(ow, w));
    planes(input, h * w, out, oh * ow, |_, x, o| {
        avg_plane(x, w, &rows, &cols, None, o)
    });
}

/// Adaptive average pooling backward: `grad_input` is overwritten with
/// `Σ_{bins containing i} grad_out / bin_size`.
///
/// Panics on zero sizes or wrong slice lengths.
#[allow(clippy::too_many_arguments)]
pub fn adaptive_avg_pool2d_backward(
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    grad_out: &[f32],
    grad_input: &mut [f32],
) {
    let op = "adaptive_avg_pool2d backward";
    check_adaptive(op, h, w, oh, ow);
    check_len(op, "grad_out", grad_out.len(), n * c * oh * ow);
    check_len(op, "grad_input", grad_input.len(), n * c * h * w);
    let (rows, cols) = (bins(oh, h), bins(ow, w));
    planes(grad_out, oh * ow, grad_input, h * w, |_, dy, dx| {
        avg_plane_backward(dy, w, &rows, &cols, None, dx)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_values::values;

    fn assert_close(what: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-3 * b.abs().max(1e-2),
                "{what}[{i}]: got {a}, want {b}"
            );
        }
    }

    /// (n, c, h, w, kernel, stride, padding)
    type Case = (
        usize,
        usize,
        usize,
        usize,
        (usize, usize),
        (usize, usize),
        (usize, usize),
    );

    fn cases() -> Vec<Case> {
        vec![
            (2, 3, 6, 6, (2, 2), (2, 2), (0, 0)),
            (1, 2, 7, 5, (3, 3), (2, 2), (1, 1)),
            (2, 2, 5, 8, (3, 2), (1, 2), (1, 1)),
            (1, 1, 9, 9, (4, 4), (3, 3), (2, 2)),
            (3, 2, 7, 7, (3, 3), (1, 1), (0, 1)),
            (1, 1, 4, 4, (4, 4), (1, 1), (0, 0)),
            // 3x3 windows clipped to 2x2 tiles by the border: divisor stays 9
            (1, 2, 2, 2, (3, 3), (2, 2), (1, 1)),
            (2, 1, 5, 4, (2, 2), (2, 2), (0, 0)),
            // large enough to take the parallel path
            (16, 8, 32, 32, (2, 2), (2, 2), (0, 0)),
        ]
    }

    /// Direct loops over padded coordinates: max, its plane index, and the average.
    fn naive(c: &Case, x: &[f32]) -> (Vec<f32>, Vec<u32>, Vec<f32>) {
        let &(n, ch, h, w, k, s, p) = c;
        let oh = (h + 2 * p.0 - k.0) / s.0 + 1;
        let ow = (w + 2 * p.1 - k.1) / s.1 + 1;
        let (mut mx, mut am, mut av) = (vec![], vec![], vec![]);
        for plane in 0..n * ch {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (mut best, mut bi, mut sum) = (f32::NEG_INFINITY, u32::MAX, 0.0f64);
                    for i in 0..k.0 {
                        for j in 0..k.1 {
                            let iy = (oy * s.0 + i) as isize - p.0 as isize;
                            let ix = (ox * s.1 + j) as isize - p.1 as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let idx = plane * h * w + iy as usize * w + ix as usize;
                            sum += x[idx] as f64;
                            if x[idx] > best {
                                best = x[idx];
                                bi = idx as u32;
                            }
                        }
                    }
                    mx.push(best);
                    am.push(bi);
                    av.push((sum / (k.0 * k.1) as f64) as f32);
                }
            }
        }
        (mx, am, av)
    }

    #[test]
    fn out_size_rule_and_validation() {
        assert_eq!(pool_out_size(28, 2, 2, 0), Some(14));
        assert_eq!(pool_out_size(7, 3, 2, 1), Some(4));
        assert_eq!(pool_out_size(5, 2, 2, 0), Some(2)); // floor, no ceil mode
        assert_eq!(pool_out_size(2, 3, 1, 0), None);
        assert!(pool2d_out_hw(8, 8, (2, 2), (2, 2), (2, 2))
            .unwrap_err()
            .contains("half"));
        assert!(pool2d_out_hw(8, 8, (2, 2), (0, 2), (0, 0)).is_err());
        assert!(pool2d_out_hw(2, 8, (3, 3), (1, 1), (0, 0))
            .unwrap_err()
            .contains("larger"));
    }

    #[test]
    fn max_pool_hand_worked() {
        // 1x1x4x4, 2x2 windows, stride 2.
        #[rustfmt::skip]
        let x = [
            1.0, 2.0, 5.0, 0.0,
            3.0, 4.0, 1.0, 7.0,
            -1.0, -2.0, 0.5, 0.5,
            -3.0, -0.5, 0.25, 0.0,
        ];
        let mut y = [0.0; 4];
        let mut am = [0u32; 4];
        max_pool2d_forward(1, 1, 4, 4, (2, 2), (2, 2), (0, 0), &x, &mut y, &mut am);
        assert_eq!(y, [4.0, 7.0, -0.5, 0.5]);
        assert_eq!(am, [5, 7, 13, 10]); // ties keep the first
        let mut dx = [9.0; 16];
        max_pool2d_backward(&am, &[1.0, 2.0, 3.0, 4.0], &mut dx);
        let mut want = [0.0; 16];
        want[5] = 1.0;
        want[7] = 2.0;
        want[13] = 3.0;
        want[10] = 4.0;
        assert_eq!(dx, want);
        // Overlapping windows (3x3 stride 1 on 1x1x3x4): both outputs pick 9,
        // whose gradient sums.
        let x = [0.0, 1.0, 2.0, 3.0, 4.0, 9.0, 5.0, 6.0, 7.0, 8.0, 1.0, 0.0];
        let mut y = [0.0; 2];
        let mut am = [0u32; 2];
        max_pool2d_forward(1, 1, 3, 4, (3, 3), (1, 1), (0, 0), &x, &mut y, &mut am);
        assert_eq!((y, am), ([9.0, 9.0], [5, 5]));
        let mut dx = [0.0; 12];
        max_pool2d_backward(&am, &[0.5, 0.25], &mut dx);
        assert_eq!(dx[5], 0.75);
        assert_eq!(dx.iter().sum::<f32>(), 0.75);
    }

    #[test]
    fn max_pool_padding_is_minus_infinity_and_nan_wins() {
        // All-negative input with padding 1: padded zeros must not win.
        let x = [-1.0, -2.0, -3.0, -4.0];
        let (oh, ow) = pool2d_out_hw(2, 2, (2, 2), (1, 1), (1, 1)).unwrap();
        assert_eq!((oh, ow), (3, 3));
        let mut y = [0.0; 9];
        let mut am = [0u32; 9];
        max_pool2d_forward(1, 1, 2, 2, (2, 2), (1, 1), (1, 1), &x, &mut y, &mut am);
        assert_eq!(y, [-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -3.0, -3.0, -4.0]);
        let x = [1.0, f32::NAN, 3.0, 4.0];
        let mut y = [0.0; 1];
        let mut am = [0u32; 1];
        max_pool2d_forward(1, 1, 2, 2, (2, 2), (2, 2), (0, 0), &x, &mut y, &mut am);
        assert!(y[0].is_nan());
        assert_eq!(am[0], 1);
        // With two NaNs PyTorch keeps the last one it scanned.
        let x = [1.0, f32::NAN, f32::NAN, 4.0];
        max_pool2d_forward(1, 1, 2, 2, (2, 2), (2, 2), (0, 0), &x, &mut y, &mut am);
        assert!(y[0].is_nan());
        assert_eq!(am[0], 2);
        // The backward pass of the padded case routes to real inputs only.
        let mut am = [0u32; 9];
        let mut y = [0.0; 9];
        max_pool2d_forward(
            1,
            1,
            2,
            2,
            (2, 2),
            (1, 1),
            (1, 1),
            &[-1.0, -2.0, -3.0, -4.0],
            &mut y,
            &mut am,
        );
        let mut dx = [0.0; 4];
        max_pool2d_backward(&am, &[1.0; 9], &mut dx);
        assert_eq!(dx, [4.0, 2.0, 2.0, 1.0]);
    }

    #[test]
    fn avg_pool_hand_worked() {
        // 1x1x3x3 = 1..9, 2x2 kernel, stride 1, padding 1, count_include_pad:
        // the corner window holds only x[0][0] = 1, so 1/4.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut y = vec![0.0; 16];
        avg_pool2d_forward(1, 1, 3, 3, (2, 2), (1, 1), (1, 1), &x, &mut y);
        assert_eq!(y[0], 0.25);
        assert_eq!(y[5], (1.0 + 2.0 + 4.0 + 5.0) / 4.0);
        assert_eq!(y[15], 9.0 / 4.0);
        assert_eq!(y[1], (1.0 + 2.0) / 4.0);
        // Backward: each input is in 4 windows -> 4 · g/4 = g with g = 1.
        let mut dx = vec![0.0; 9];
        avg_pool2d_backward(1, 1, 3, 3, (2, 2), (1, 1), (1, 1), &[1.0; 16], &mut dx);
        assert_eq!(dx, vec![1.0; 9]);
    }

    #[test]
    fn max_and_avg_match_naive_loops() {
        for (ci, c) in cases().iter().enumerate() {
            let &(n, ch, h, w, k, s, p) = c;
            let x = values(n * ch * h * w, ci as u64 + 1);
            let (mx, am, av) = naive(c, &x);
            let mut y = vec![f32::NAN; mx.len()];
            let mut a = vec![0u32; mx.len()];
            max_pool2d_forward(n, ch, h, w, k, s, p, &x, &mut y, &mut a);
            assert_eq!(y, mx, "case {c:?} max");
            assert_eq!(a, am, "case {c:?} argmax");
            avg_pool2d_forward(n, ch, h, w, k, s, p, &x, &mut y);
            assert_close(&format!("case {c:?} avg"), &y, &av);
        }
    }

    #[test]
    fn backward_matches_naive_adjoint() {
        // For a linear map y = A x, <dy, A dx_probe> = <A^T dy, dx_probe>:
        // check avg pool backward entry by entry via unit vectors, and max pool
        // backward (linear in dy for fixed argmax) against the naive scatter.
        for (ci, c) in cases()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.0 * c.1 * c.2 * c.3 < 1000)
        {
            let &(n, ch, h, w, k, s, p) = c;
            let len = n * ch * h * w;
            let x = values(len, ci as u64 + 10);
            let (oh, ow) = pool2d_out_hw(h, w, k, s, p).unwrap();
            let dy = values(n * ch * oh * ow, ci as u64 + 20);
            let mut dx = vec![f32::NAN; len];
            avg_pool2d_backward(n, ch, h, w, k, s, p, &dy, &mut dx);
            let mut want = vec![0.0; len];
            let mut e = vec![0.0; len];
            let mut y = vec![0.0; dy.len()];
            for i in 0..len {
                e[i] = 1.0;
                avg_pool2d_forward(n, ch, h, w, k, s, p, &e, &mut y);
                want[i] = y.iter().zip(&dy).map(|(a, b)| a * b).sum();
                e[i] = 0.0;
            }
            assert_close(&format!("case {c:?} avg backward"), &dx, &want);

            let (_, am, _) = naive(c, &x);
            let mut want = vec![0.0; len];
            for (&i, &g) in am.iter().zip(&dy) {
                want[i as usize] += g;
            }
            let mut a = vec![0u32; dy.len()];
            max_pool2d_forward(n, ch, h, w, k, s, p, &x, &mut y, &mut a);
            max_pool2d_backward(&a, &dy, &mut dx);
            assert_close(&format!("case {c:?} max backward"), &dx, &want);
        }
    }

    #[test]
    fn avg_backward_matches_finite_differences() {
        let (n, ch, h, w, k, s, p) = (1, 2, 5, 6, (3, 2), (2, 1), (1, 1));
        let x = values(n * ch * h * w, 3);
        let (oh, ow) = pool2d_out_hw(h, w, k, s, p).unwrap();
        let r = values(n * ch * oh * ow, 4);
        let loss = |x: &[f32]| -> f64 {
            let mut y = vec![0.0; r.len()];
            avg_pool2d_forward(n, ch, h, w, k, s, p, x, &mut y);
            y.iter()
                .zip(&r)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum()
        };
        let mut dx = vec![0.0; x.len()];
        avg_pool2d_backward(n, ch, h, w, k, s, p, &r, &mut dx);
        for i in 0..x.len() {
            let mut xp = x.clone();
            xp[i] += 1e-2;
            let lp = loss(&xp);
            xp[i] -= 2e-2;
            let fd = ((lp - loss(&xp)) / 2e-2) as f32;
            assert!(
                (dx[i] - fd).abs() <= 1e-3 * fd.abs().max(1.0),
                "dx[{i}] {} vs {fd}",
                dx[i]
            );
        }
    }

    #[test]
    fn adaptive_bins_follow_pytorch() {
        // h = 5 -> 3 bins: [0, 2), [1, 4), [3, 5)
        assert_eq!(adaptive_bin(0, 5, 3), (0, 2));
        assert_eq!(adaptive_bin(1, 5, 3), (1, 4));
        assert_eq!(adaptive_bin(2, 5, 3), (3, 5));
        // Upsampling: h = 2 -> 3 bins: [0, 1), [0, 2), [1, 2)
        assert_eq!(adaptive_bin(0, 2, 3), (0, 1));
        assert_eq!(adaptive_bin(1, 2, 3), (0, 2));
        assert_eq!(adaptive_bin(2, 2, 3), (1, 2));
        // Exact division is plain average pooling: 4 -> 2 gives [0, 2), [2, 4).
        assert_eq!(adaptive_bin(1, 4, 2), (2, 4));
    }

    #[test]
    fn adaptive_hand_worked_and_global() {
        // 1x1x2x3 -> 1x1: global mean.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut y = [0.0];
        adaptive_avg_pool2d_forward(1, 1, 2, 3, 1, 1, &x, &mut y);
        assert_eq!(y[0], 3.5);
        let mut dx = [0.0; 6];
        adaptive_avg_pool2d_backward(1, 1, 2, 3, 1, 1, &[6.0], &mut dx);
        assert_eq!(dx, [1.0; 6]);
        // 1x1x1x5 -> 1x3: bins [0,2), [1,4), [3,5)
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let mut y = [0.0; 3];
        adaptive_avg_pool2d_forward(1, 1, 1, 5, 1, 3, &x, &mut y);
        assert_eq!(y, [1.5, 3.0, 4.5]);
        let mut dx = [0.0; 5];
        adaptive_avg_pool2d_backward(1, 1, 1, 5, 1, 3, &[2.0, 3.0, 4.0], &mut dx);
        assert_eq!(dx, [1.0, 2.0, 1.0, 3.0, 2.0]);
    }

    #[test]
    fn adaptive_matches_naive_and_adjoint() {
        for &(n, ch, h, w, oh, ow) in &[
            (2, 3, 7, 5, 3, 2),
            (1, 2, 4, 4, 4, 4),
            (1, 1, 3, 5, 5, 7),
            (8, 16, 20, 20, 7, 7),
        ] {
            let x = values(n * ch * h * w, 5);
            let mut y = vec![0.0; n * ch * oh * ow];
            adaptive_avg_pool2d_forward(n, ch, h, w, oh, ow, &x, &mut y);
            let mut want = vec![];
            for plane in 0..n * ch {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let hs = (oy as f64 * h as f64 / oh as f64).floor() as usize;
                        let he = ((oy + 1) as f64 * h as f64 / oh as f64).ceil() as usize;
                        let ws = (ox as f64 * w as f64 / ow as f64).floor() as usize;
                        let we = ((ox + 1) as f64 * w as f64 / ow as f64).ceil() as usize;
                        let mut s = 0.0f64;
                        for iy in hs..he {
                            for ix in ws..we {
                                s += x[plane * h * w + iy * w + ix] as f64;
                            }
                        }
                        want.push((s / ((he - hs) * (we - ws)) as f64) as f32);
                    }
                }
            }
            assert_close("adaptive forward", &y, &want);
            // Adjoint check: <dy, A x> = <A^T dy, x>.
            let dy = values(y.len(), 6);
            let mut dx = vec![0.0; x.len()];
            adaptive_avg_pool2d_backward(n, ch, h, w, oh, ow, &dy, &mut dx);
            let lhs: f64 = dy
                .iter()
                .zip(&y)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            let rhs: f64 = dx
                .iter()
                .zip(&x)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            assert!(
                (lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0),
                "{lhs} vs {rhs}"
            );
        }
    }
}
