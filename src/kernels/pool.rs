//! Pooling kernels, NCHW.
