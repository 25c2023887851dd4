//! Saving and loading weights: safetensors with PyTorch state_dict names.
