//! Allocator settings for training loops.
//!
//! Every op returns a fresh buffer, and a training step allocates and frees
//! the same large buffers (activations, gradients, im2col columns) again and
//! again. glibc's malloc serves blocks above a (dynamic) threshold with fresh
//! `mmap`s and returns freed memory above 128 KiB at the top of the heap to
//! the kernel, so the next step page-faults every buffer back in and the
//! kernel zeroes each page: on LeNet-5 at batch 64 that was about 650 page
//! faults per step and a quarter of the training time.
//! [`tune_allocator`] keeps such blocks in the heap for reuse instead.

/// Raises glibc's mmap threshold to 32 MiB (its dynamic maximum) and its trim
/// threshold to 256 MiB, so buffers freed in one training step are reused by
/// the next instead of being returned to the kernel and faulted back in.
/// Does nothing on other C libraries. Called once by the `nerve` command line;
/// library users may call it at the start of their program.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::sync::Once;
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            extern "C" {
                fn mallopt(param: i32, value: i32) -> i32;
            }
            const M_TRIM_THRESHOLD: i32 = -1;
            const M_MMAP_THRESHOLD: i32 = -3;
            // SAFETY: mallopt only changes glibc's allocation policy; it is safe to
            // call at any time and from any thread (glibc takes its own locks).
            unsafe {
                mallopt(M_MMAP_THRESHOLD, 32 << 20);
                mallopt(M_TRIM_THRESHOLD, 256 << 20);
            }
        });
    }
}
