//! The numeric loops: matrix products, element-wise maps, reductions, softmax.
//!
//! Plain slices in, plain slices out: nothing here knows about `Tensor` or
//! autograd. This is the seam where another backend (a GPU) would plug in.

pub mod batchnorm;
pub mod conv;
mod elementwise;
mod matmul;
pub mod memory;
pub mod pool;
pub mod quant;
pub mod rnn;
mod softmax;
pub mod spin_pool;
#[cfg(test)]
mod test_values;
pub mod transformer;

pub use elementwise::{
    map_collect, map_inplace, map_inplace_zip, map_into, zip3_map_into, zip_map_into, PAR_THRESHOLD,
};
pub use matmul::{matmul, MatLayout};
pub use rnn::{gru_backward, gru_forward, lstm_backward, lstm_forward, rnn_backward, rnn_forward};
pub use softmax::{log_softmax_rows, softmax_rows};
