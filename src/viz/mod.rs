//! Pictures: training curves, decision boundaries, several runs compared,
//! image grids, convolution filters and feature maps, attention maps,
//! network diagrams (neurons and weights, or blocks) (cargo feature `viz`).

pub mod attention;
pub mod blocks;
pub mod boundary;
pub mod chart;
pub mod compare;
pub mod network;
pub mod pictures;
mod plot;
pub mod scene;

pub use blocks::thousands;
pub use plot::{ensure_font, plot_history, save_rgb_png};
