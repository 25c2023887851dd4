//! Writes the small generated image folder that examples/image-folder.toml
//! trains on: data/shapes/{circle,square,triangle}/*.png|jpg, 32x32 RGB.
//!
//!     cargo run --release --example make_shapes [-- DIR [PER_CLASS]]

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "data/shapes".into());
    let per_class: usize = args.next().map_or(80, |s| s.parse().expect("PER_CLASS"));
    if let Err(e) = nerve::data::image_folder::write_shapes_folder(dir.as_ref(), per_class, 32, 7) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    println!("wrote {per_class} images per class to {dir}");
}
