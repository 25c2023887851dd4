//! Ready architectures built from `nn`, and the builder that turns a config's
//! list of layers into a network, inferring each layer's input size from the
//! data (like PyTorch's LazyLinear).

mod builder;
mod conv_layers;
pub mod llama;

pub use builder::{build_sequential, LayerInfo, LayerSpec};
pub use conv_layers::SizeSpec;

/// The layer types a config may use.
pub fn builder_layer_types() -> &'static [&'static str] {
    builder::LAYER_TYPES
}

/// The keys a layer type accepts besides `type` (None for an unknown type).
pub fn builder_layer_keys(kind: &str) -> Option<&'static [&'static str]> {
    builder::layer_keys(kind)
}
