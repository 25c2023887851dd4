//! Pictures: training curves, decision boundaries, several runs compared,
//! image grids, convolution filters and feature maps, attention maps (cargo
//! feature `viz`).

pub mod attention;
pub mod boundary;
pub mod chart;
pub mod compare;
pub mod pictures;
mod plot;

pub use plot::{ensure_font, plot_history, save_rgb_png};
