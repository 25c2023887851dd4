//! `QuantTensor`: a weight matrix kept in a ggml block format (Q4_1, Q8_0,
//! ...), beside `Tensor` rather than inside it, with its own products.
//!
//! Its bytes are shared, not copied: usually a memory-mapped GGUF file, so a
//! model's weights stay quantised and on disk until the products read them.
//! `matmul` computes Y = X W^T for activation rows X quantised to 8 bits per
//! block (`kernels::quant`), the way llama.cpp does.

use std::sync::Arc;

use crate::kernels::quant::{
    dequantize_row, quant_matmul, quant_matmul_fused, simd_level, GgmlType, MatJob, Q8Activations,
};

/// A quantised matrix of `rows` x `cols` (row-major, ggml blocks per row).
#[derive(Clone)]
pub struct QuantTensor {
    dtype: GgmlType,
    rows: usize,
    cols: usize,
    bytes: Arc<dyn AsRef<[u8]> + Send + Sync>,
    start: usize,
}

impl QuantTensor {
    /// The matrix whose bytes start at `start` in `bytes`. Panics if they do
    /// not fit (the GGUF reader checks this for every tensor).
    pub fn new(
        dtype: GgmlType,
        rows: usize,
        cols: usize,
        bytes: Arc<dyn AsRef<[u8]> + Send + Sync>,
        start: usize,
    ) -> QuantTensor {
        let len = dtype.row_bytes(cols as u64).expect("whole blocks") as usize * rows;
        assert!(
            start + len <= (*bytes).as_ref().len(),
            "QuantTensor: bytes out of range"
        );
        QuantTensor {
            dtype,
            rows,
            cols,
            bytes,
            start,
        }
    }

    /// A matrix holding its own bytes.
    pub fn from_bytes(dtype: GgmlType, rows: usize, cols: usize, bytes: Vec<u8>) -> QuantTensor {
        QuantTensor::new(dtype, rows, cols, Arc::new(bytes), 0)
    }

    /// The block format (Q4_0, Q8_0, ...).
    pub fn dtype(&self) -> GgmlType {
        self.dtype
    }

    /// Rows of the matrix.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (values per row).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.dtype
            .row_bytes(self.cols as u64)
            .expect("whole blocks") as usize
    }

    /// All the matrix's bytes.
    pub fn bytes(&self) -> &[u8] {
        &(*self.bytes).as_ref()[self.start..self.start + self.rows * self.row_bytes()]
    }

    /// Row `r` dequantised to f32 (an embedding lookup).
    pub fn dequantize_row_into(&self, r: usize, out: &mut [f32]) {
        let rb = self.row_bytes();
        dequantize_row(self.dtype, &self.bytes()[r * rb..(r + 1) * rb], out);
    }

    /// Y = X W^T into `out` (x.rows x self.rows).
    pub fn matmul(&self, x: &Q8Activations, out: &mut [f32]) {
        assert_eq!(
            x.cols, self.cols,
            "QuantTensor::matmul: {} columns, matrix has {}",
            x.cols, self.cols
        );
        quant_matmul(simd_level(), self.dtype, self.bytes(), self.rows, x, out);
    }
}

impl QuantTensor {
    /// Y_i = X W_i^T into `out_i` for every pair, as one parallel job (the
    /// same values as one `matmul` each; one hand-off to the threads).
    pub fn matmul_fused(x: &Q8Activations, pairs: &mut [(&QuantTensor, &mut [f32])]) {
        let mut jobs: Vec<MatJob> = pairs
            .iter_mut()
            .map(|(w, out)| {
                assert_eq!(
                    x.cols, w.cols,
                    "QuantTensor::matmul_fused: {} columns, matrix has {}",
                    x.cols, w.cols
                );
                MatJob {
                    dtype: w.dtype,
                    w: w.bytes(),
                    rows: w.rows,
                    out,
                }
            })
            .collect();
        quant_matmul_fused(simd_level(), &mut jobs, x);
    }
}

impl std::fmt::Debug for QuantTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuantTensor({} {}x{})", self.dtype, self.rows, self.cols)
    }
}
