//! Small vector helpers for the hand-written kernels (norms, attention, GELU)
//! and the macro that compiles a kernel for the CPU it runs on.
//!
//! The crate is built for plain x86-64, so a loop is only turned into AVX2 or
//! AVX-512 code inside a function compiled with those features. [`simd_dispatch!`]
//! writes a kernel once and compiles it three times: with AVX-512, with
//! AVX2 + FMA, and plain; the first the CPU has is called. The helpers here
//! are `#[inline(always)]` so that they take the features of the kernel they
//! are inlined into. Lane arrays (`[f32; 16]`) give the compiler independent
//! sums it can keep in vector registers.

/// `pub fn $name(args) -> ret` calling `$imp(args)` compiled with AVX-512F
/// (+ AVX2, FMA) when the CPU has it, else with AVX2 + FMA, else plain.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident = $imp:ident ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)?) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: `$imp` is a safe function; the variants only differ in
            // the instructions the compiler may use.
            unsafe { $crate::kernels::simd::simd_dispatch!(@body $imp ($($arg : $ty),*) $(-> $ret)?) }
        }
    };
    ($(#[$m:meta])* $vis:vis unsafe fn $name:ident = $imp:ident ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)?) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: the caller upholds `$imp`'s contract.
            unsafe { $crate::kernels::simd::simd_dispatch!(@body $imp ($($arg : $ty),*) $(-> $ret)?) }
        }
    };
    (@body $imp:ident ($($arg:ident : $ty:ty),*) $(-> $ret:ty)?) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx2,fma")]
            #[allow(clippy::too_many_arguments, unused_unsafe)]
            unsafe fn wide($($arg: $ty),*) $(-> $ret)? {
                unsafe { $imp($($arg),*) }
            }
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments, unused_unsafe)]
            unsafe fn narrow($($arg: $ty),*) $(-> $ret)? {
                unsafe { $imp($($arg),*) }
            }
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
                // The CPU has the features `wide` is compiled for.
                return wide($($arg),*);
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // The CPU has the features `narrow` is compiled for.
                return narrow($($arg),*);
            }
        }
        #[allow(unused_unsafe)]
        unsafe { $imp($($arg),*) }
    }};
}
pub(crate) use simd_dispatch;

/// Lanes of the partial sums.
pub(crate) const LANES: usize = 16;

/// Σ a_i b_i, in 16 partial sums added at the end.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail = x.mul_add(*y, tail);
    }
    hsum(&acc) + tail
}

/// Σ a_i.
#[inline(always)]
pub(crate) fn sum(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut c = a.chunks_exact(LANES);
    for x in &mut c {
        for l in 0..LANES {
            acc[l] += x[l];
        }
    }
    hsum(&acc) + c.remainder().iter().sum::<f32>()
}

/// The sum of the lanes, by halves.
#[inline(always)]
pub(crate) fn hsum(acc: &[f32; LANES]) -> f32 {
    let mut v = *acc;
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            v[l] += v[l + w];
        }
        w /= 2;
    }
    v[0]
}

/// y ← y + a·x.
#[inline(always)]
pub(crate) fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    for (yi, xi) in y[..n].iter_mut().zip(&x[..n]) {
        *yi = a.mul_add(*xi, *yi);
    }
}

/// The largest value (−∞ for none).
#[inline(always)]
pub(crate) fn max(a: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut c = a.chunks_exact(LANES);
    for x in &mut c {
        for l in 0..LANES {
            acc[l] = acc[l].max(x[l]);
        }
    }
    let m = acc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    c.remainder().iter().copied().fold(m, f32::max)
}

/// e^x in f32 without a call or a branch, so a loop of it vectorises: x is
/// clamped to [−87.3, 88.3] (e^x below 1.2e-38 is taken as e^−87.3, which a
/// softmax adds as nothing), x = n·ln2 + r with |r| ≤ ln2/2 (ln2 in two parts),
/// e^r by its degree-7 Taylor polynomial (truncation error below 1e-8 on
/// that range), times 2^n built from the exponent bits. −∞ gives 0.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let neg_inf = x == f32::NEG_INFINITY;
    let x = x.clamp(-87.3, 88.3);
    // Adding 1.5·2^23 rounds to a whole number n (to nearest), which then
    // sits in the low bits of the sum's mantissa; subtracting it gives n back
    // as a float. (The integer is read from the bits: Rust's saturating
    // float-to-int conversion would not vectorise.)
    const SHIFT: f32 = 12_582_912.0;
    let z = x.mul_add(LOG2E, SHIFT);
    let n = z - SHIFT;
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    let p = (1.0 / 5040.0f32)
        .mul_add(r, 1.0 / 720.0)
        .mul_add(r, 1.0 / 120.0)
        .mul_add(r, 1.0 / 24.0)
        .mul_add(r, 1.0 / 6.0)
        .mul_add(r, 0.5)
        .mul_add(r, 1.0)
        .mul_add(r, 1.0);
    let ni = (z.to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32);
    let pow2 = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    if neg_inf {
        0.0
    } else {
        p * pow2
    }
}

/// σ(x) = 1 / (1 + e^−x) with [`exp`]: branch-free, so a loop of it
/// vectorises; relative error a few 1e-7 (e^−x is clamped like [`exp`]'s
/// argument, which leaves σ exact to f32 at both ends).
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh(x), branch-free so that a loop of it vectorises. For |x| < 0.4 its
/// odd Taylor series to x¹³ (the next term is below 2e-9·|x|); above,
/// 1 − 2 / (e^{2|x|} + 1) with [`exp`], whose rounding is then small beside
/// tanh(0.4) = 0.38; the sign put back. Relative error below 3e-7.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let big = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let s = a * a;
    // tanh x = x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835 − 1382x¹¹/155925
    //          + 21844x¹³/6081075 − …
    let p = (21844.0 / 6081075.0f32)
        .mul_add(s, -1382.0 / 155925.0)
        .mul_add(s, 62.0 / 2835.0)
        .mul_add(s, -17.0 / 315.0)
        .mul_add(s, 2.0 / 15.0)
        .mul_add(s, -1.0 / 3.0);
    let small = (p * s).mul_add(a, a);
    let t = if a < 0.4 { small } else { big };
    t.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_close_to_the_library_exp() {
        let mut worst = 0.0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp(x), x.exp());
            worst = worst.max((a - b).abs() / b);
            x += 0.0137;
        }
        assert!(worst < 4e-7, "relative error {worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(-1000.0) < 1e-37);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn sigmoid_and_tanh_are_close_to_float64() {
        let (mut ws, mut wt) = (0.0f64, 0.0f64);
        let mut x = -30.0f32;
        while x < 30.0 {
            let xd = x as f64;
            let s = 1.0 / (1.0 + (-xd).exp());
            ws = ws.max((sigmoid(x) as f64 - s).abs() / s);
            let t = xd.tanh();
            if t != 0.0 {
                wt = wt.max((tanh(x) as f64 - t).abs() / t.abs());
            }
            x += if x.abs() < 1.0 { 0.000_37 } else { 0.0113 };
        }
        assert!(ws < 5e-7, "sigmoid relative error {ws}");
        assert!(wt < 5e-7, "tanh relative error {wt}");
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert!(sigmoid(-200.0) < 1e-30);
        assert_eq!(sigmoid(200.0), 1.0);
        assert!(tanh(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan());
        assert!(tanh(1e-30) == 1e-30);
    }

    #[test]
    fn sums_and_dots() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..37).map(|i| (i % 5) as f32 - 2.0).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - want).abs() < 1e-4);
        assert!((sum(&a) - a.iter().sum::<f32>()).abs() < 1e-4);
        assert_eq!(max(&a), 15.0);
        let mut y = b.clone();
        axpy(&mut y, 2.0, &a);
        assert_eq!(y[3], b[3] + 2.0 * a[3]);
    }
}
