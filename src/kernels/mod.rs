//! The numeric loops: matrix products, element-wise maps, reductions, softmax,
//! normalisation, attention.
//!
//! Plain slices in, plain slices out: nothing here knows about `Tensor` or
//! autograd. This is the seam where another backend (a GPU) would plug in.

pub mod attention;
pub mod batchnorm;
pub mod conv;
mod elementwise;
pub mod gelu;
pub mod gemm;
pub mod memory;
pub mod norm;
pub mod pool;
pub mod quant;
pub mod rnn;
pub(crate) mod simd;
mod softmax;
pub mod spin_pool;
#[cfg(test)]
mod test_values;
pub mod transformer;

pub use elementwise::{
    map_collect, map_inplace, map_inplace_zip, map_into, zip3_map_into, zip_map_into, PAR_THRESHOLD,
};
pub use gemm::{matmul, MatLayout};
pub use rnn::{gru_backward, gru_forward, lstm_backward, lstm_forward, rnn_backward, rnn_forward};
pub use softmax::{log_softmax_rows, softmax_rows};
