//! The pages, their scripts and the vendored charting library, compiled in.
//!
//! uPlot 1.6.32 (MIT licence, assets/web/vendor/uPlot.LICENSE), from the npm
//! package `uplot`: dist/uPlot.iife.min.js and dist/uPlot.min.css unchanged.

pub const PLAYGROUND_HTML: &str = include_str!("../../assets/web/playground.html");
pub const DASHBOARD_HTML: &str = include_str!("../../assets/web/dashboard.html");

const FILES: &[(&str, &str, &str)] = &[
    (
        "/assets/playground.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/playground.js"),
    ),
    (
        "/assets/dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/dashboard.js"),
    ),
    (
        "/assets/style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/web/style.css"),
    ),
    (
        "/assets/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/web/vendor/uPlot.iife.min.js"),
    ),
    (
        "/assets/uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/web/vendor/uPlot.min.css"),
    ),
    (
        "/assets/uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_str!("../../assets/web/vendor/uPlot.LICENSE"),
    ),
];

/// A static file by its path.
pub fn get(path: &str) -> Option<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, ct, body)| (*ct, body.as_bytes()))
}
