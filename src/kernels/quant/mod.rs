//! Quantised weights (ggml's block formats) and their kernels: types and
//! sizes, dequantisation, 8-bit activations, block-wise dot products
//! (scalar, AVX2, AVX-512 VNNI, chosen at run time) and the threaded
//! matrix products built from them.

mod activations;
mod dequant;
mod dot_avx2;
mod dot_avx512;
mod dot_scalar;
mod matmul;
mod simd;
mod types;

pub use activations::{ActRow, Q8Activations};
pub use dequant::{dequantize_row, f16_to_f32, f32_to_f16};
pub use matmul::{quant_matmul, quant_matmul_fused, MatJob, RowDot};
pub use simd::{simd_level, Simd};
pub use types::GgmlType;
