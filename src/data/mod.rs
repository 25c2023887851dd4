//! Datasets, data loaders and file formats (IDX, CSV, text).
