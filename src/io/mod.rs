//! Saving and loading weights: safetensors with PyTorch state_dict names.
//!
//! - [`save_safetensors`] writes named f32 tensors (and optional string
//!   metadata) to a `.safetensors` file that `safetensors.torch.load_file`
//!   reads, atomically: a crash mid-write never leaves a half-written model.
//! - [`load_safetensors`] reads one back, checking every header field against
//!   the file before trusting it; a damaged or hostile file gives an error that
//!   names the file, the tensor and the problem, never a panic or a huge
//!   allocation.
//! - [`load_state_dict_into`] copies loaded tensors into a model's parameters
//!   like PyTorch's `load_state_dict(strict=True)`: all names and shapes are
//!   checked first, so a mismatch leaves the model untouched.
//! - [`write_atomic`] / [`write_atomic_with`] are the temp-file-and-rename
//!   writer the rest of nerve uses for checkpoints, logs and plots.

mod atomic;
pub mod gguf;
mod safetensors;

pub use self::atomic::{write_atomic, write_atomic_with};
pub use self::safetensors::{
    inspect_safetensors, load_safetensors, load_safetensors_bytes,
    load_safetensors_bytes_with_metadata, load_safetensors_with_metadata, load_state_dict_into,
    save_safetensors, serialize_safetensors, Metadata, StateDict, TensorInfo,
};
