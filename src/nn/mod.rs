//! Neural-network building blocks: the `Module` trait, layers, activations,
//! weight initialisation and losses. Names follow PyTorch's `torch.nn`.

mod activation;
pub mod attention;
mod batchnorm;
pub mod conv;
mod dropout;
pub mod embedding;
mod flatten;
pub mod functional;
pub mod init;
mod linear;
mod loss;
mod module;
pub mod norm;
mod perceptron;
pub mod pool;
pub mod rnn;
mod sequential;
pub mod transformer;

pub use activation::{Identity, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Step, Tanh, GELU};
pub use attention::{CausalSelfAttention, KvCache, MultiheadAttention};
pub use batchnorm::{set_batch_norm_sync, BatchNorm1d, BatchNorm2d, CrossReplicaSum};
pub use conv::{Conv2d, Conv2dOptions, Size2};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use linear::Linear;
pub use loss::{
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, l1_penalty, l2_penalty,
    mse_loss, nll_loss, Reduction,
};
pub use module::Module;
pub use norm::{LayerNorm, RMSNorm};
pub use perceptron::Perceptron;
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
pub use rnn::{Recurrent, RnnOptions, RnnState, GRU, LSTM, RNN};
pub use sequential::Sequential;

crate::module_display!(
    Identity,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Step,
    Tanh,
    GELU,
    CausalSelfAttention,
    MultiheadAttention,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    Linear,
    LayerNorm,
    RMSNorm,
    AdaptiveAvgPool2d,
    AvgPool2d,
    MaxPool2d,
    Recurrent,
    GRU,
    LSTM,
    RNN,
    Sequential,
    transformer::Mlp,
    transformer::Block,
);
