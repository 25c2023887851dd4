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
//!
//! glibc's `malloc` returns 16-byte aligned blocks (a large block starts 16
//! bytes into a page), so every other 32-byte AVX load of a tensor crosses a
//! cache line. [`AlignedAlloc`] gives large blocks 64-byte (cache-line)
//! alignment, as PyTorch's CPU allocator does for every tensor.

use std::alloc::{GlobalAlloc, Layout, System};

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

/// Hands the heap's free pages back to the kernel (glibc's `malloc_trim`):
/// a long-running server calls it after dropping large state, since
/// [`tune_allocator`] keeps freed blocks for reuse. Does nothing on other C
/// libraries.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only returns unused heap pages to the kernel;
        // glibc takes its own locks, so any thread may call it at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// The resident memory of this process in KiB (Linux; None elsewhere).
pub fn resident_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Blocks of at least this many bytes get cache-line alignment: tensors'
/// values and kernel scratch buffers, not shapes and strings.
pub const ALIGNED_MIN_BYTES: usize = 1024;

/// Alignment of large blocks under [`AlignedAlloc`]: one cache line.
pub const ALIGNMENT: usize = 64;

/// A global allocator that serves blocks of [`ALIGNED_MIN_BYTES`] or more at
/// 64-byte alignment and everything else as the system allocator does.
///
/// With `gemm`'s AVX2 kernels, 512x512x512 ran 3-8% faster on 64-byte aligned
/// operands than on glibc's 16-byte aligned ones (same process, interleaved).
/// The `nerve` binary installs it; a program using the library opts in with
///
/// ```ignore
/// #[global_allocator]
/// static ALLOC: nerve::kernels::memory::AlignedAlloc = nerve::kernels::memory::AlignedAlloc;
/// ```
pub struct AlignedAlloc;

impl AlignedAlloc {
    /// The layout actually requested from the system for `layout`.
    fn actual(layout: Layout) -> Layout {
        if layout.size() >= ALIGNED_MIN_BYTES && layout.align() < ALIGNMENT {
            // Cannot fail: the size is unchanged and 64 is a power of two;
            // a size that overflows when padded to 64 was never allocatable.
            Layout::from_size_align(layout.size(), ALIGNMENT).unwrap_or(layout)
        } else {
            layout
        }
    }
}

// SAFETY: every block is allocated and freed with the same `actual` layout
// (a pure function of the caller's layout), so `System` always sees matching
// alloc/dealloc pairs; `realloc` moves a block between the two classes by
// allocating, copying and freeing through those same paths.
unsafe impl GlobalAlloc for AlignedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(Self::actual(layout))
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(Self::actual(layout))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, Self::actual(layout))
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = Self::actual(layout);
        let Ok(requested) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new = Self::actual(requested);
        if old.align() == new.align() {
            return System.realloc(ptr, old, new_size);
        }
        let moved = System.alloc(new);
        if !moved.is_null() {
            std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
            System.dealloc(ptr, old);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_are_cache_line_aligned_and_keep_their_values() {
        let a = AlignedAlloc;
        // SAFETY: each block is used within its size and freed with the
        // layout it was allocated (or reallocated) with.
        unsafe {
            let small = Layout::from_size_align(100, 4).unwrap();
            let p = a.alloc(small);
            assert!(!p.is_null());
            for i in 0..100 {
                *p.add(i) = i as u8;
            }
            // small -> large: moves to an aligned block.
            let q = a.realloc(p, small, 4096);
            assert_eq!(q as usize % ALIGNMENT, 0);
            assert!((0..100).all(|i| *q.add(i) == i as u8));
            let large = Layout::from_size_align(4096, 4).unwrap();
            // large -> larger: stays aligned.
            let r = a.realloc(q, large, 1 << 20);
            assert_eq!(r as usize % ALIGNMENT, 0);
            assert!((0..100).all(|i| *r.add(i) == i as u8));
            // large -> small.
            let s = a.realloc(r, Layout::from_size_align(1 << 20, 4).unwrap(), 10);
            assert!((0..10).all(|i| *s.add(i) == i as u8));
            a.dealloc(s, Layout::from_size_align(10, 4).unwrap());

            let z = a.alloc_zeroed(large);
            assert_eq!(z as usize % ALIGNMENT, 0);
            assert!((0..4096).all(|i| *z.add(i) == 0));
            a.dealloc(z, large);
        }
    }
}
