//! Packing buffers: 64-byte aligned, one pair per thread, kept between calls
//! so that a product neither allocates nor page-faults its buffers again.

use std::cell::RefCell;

/// One cache line of f32s: the unit the buffers are allocated in.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line(pub [f32; 16]);

/// A growable, 64-byte aligned f32 buffer.
#[derive(Default)]
pub(crate) struct AlignedBuf {
    lines: Vec<Line>,
}

impl AlignedBuf {
    /// A buffer of at least `len` values (zeros).
    pub fn with_len(len: usize) -> AlignedBuf {
        let mut b = AlignedBuf::default();
        b.reserve(len);
        b
    }

    /// Makes room for `len` values; returns the start. Old contents are
    /// not kept when the buffer grows.
    pub fn reserve(&mut self, len: usize) -> *mut f32 {
        let lines = len.div_ceil(16);
        if self.lines.len() < lines {
            self.lines = vec![Line([0.0; 16]); lines];
        }
        self.lines.as_mut_ptr().cast()
    }

    /// The start of the buffer.
    pub fn as_ptr(&self) -> *const f32 {
        self.lines.as_ptr().cast()
    }

    /// The buffer as a slice of values.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        let len = self.lines.len() * 16;
        // SAFETY: `Line` is `repr(C)` of 16 f32s with no padding (64 bytes,
        // 64-aligned), so the lines are `len` contiguous, initialised f32s.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), len) }
    }
}

/// A thread's packing buffers: a block of `A` and a block of `B`.
#[derive(Default)]
pub(crate) struct Scratch {
    pub a: AlignedBuf,
    pub b: AlignedBuf,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's buffers (a fresh pair if they are in use,
/// which only a re-entrant call could cause).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}
