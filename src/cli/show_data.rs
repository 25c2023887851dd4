//! `nerve show-data CONFIG --out grid.png`: a grid of training samples with
//! their labels, augmented exactly as the first training batch is.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::data::{Augmenter, DataLoader, Dataset, Targets};
use crate::error::{Error, Result};
use crate::train::load_splits;
use crate::viz::pictures::draw_image_grid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Split {
    Train,
    Val,
    Test,
}

#[derive(Args, Debug)]
pub struct ShowDataArgs {
    /// The TOML config whose data to show.
    pub config: PathBuf,
    /// The PNG to write.
    #[arg(long, default_value = "samples.png")]
    pub out: PathBuf,
    /// How many samples to draw.
    #[arg(long, default_value_t = 36, allow_negative_numbers = true)]
    pub count: usize,
    /// Which split: train (augmented, in the order of the first epoch), val or test.
    #[arg(long, value_enum, default_value_t = Split::Train)]
    pub split: Split,
    /// Show the training samples without [data.augment].
    #[arg(long)]
    pub no_augment: bool,
    /// The epoch whose order and augmentation to show (training split).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub epoch: usize,
}

pub fn run(args: ShowDataArgs) -> Result<()> {
    super::check_png_out(&args.out)?;
    if args.count == 0 || args.count > 400 {
        return Err(Error::new(format!(
            "--count must be between 1 and 400, found {}",
            args.count
        )));
    }
    if args.epoch == 0 {
        return Err(Error::new("--epoch counts from 1"));
    }
    let cfg = Config::load(&args.config)?;
    let dir = args
        .config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let splits = load_splits(&cfg, &dir)?;
    let (data, name): (&Dataset, &str) = match args.split {
        Split::Train => (&splits.train, "training"),
        Split::Val => (
            splits.val.as_ref().ok_or_else(|| {
                Error::new(
                    "--split val: this config holds out no validation set (data.val_fraction = 0)",
                )
            })?,
            "validation",
        ),
        Split::Test => (
            splits
                .test
                .as_ref()
                .ok_or_else(|| Error::new("--split test: this config has no test set"))?,
            "test",
        ),
    };
    if data.sample_shape.len() != 3 {
        return Err(Error::new(format!(
            "show-data draws images, but the {} dataset's samples have shape {:?} (not [channels, height, width])",
            cfg.data.dataset, data.sample_shape
        )));
    }
    let t = &cfg.train;
    let augment = match (&cfg.data.augment, args.split, args.no_augment) {
        (Some(a), Split::Train, false) => Some(Augmenter::new(a, &data.sample_shape, t.seed)?),
        _ => None,
    };
    // The first batches of the epoch, in the trainer's order, augmented batch by batch
    // as the trainer does: the picture shows exactly what training sees.
    let count = args.count.min(data.len());
    let idx: Vec<Vec<usize>> = if args.split == Split::Train {
        DataLoader::new(data.len(), t.batch_size)?
            .shuffle(t.shuffle)
            .seed(t.seed)
            .epoch(args.epoch)
            .take(count.div_ceil(t.batch_size))
            .collect()
    } else {
        vec![(0..count).collect()]
    };
    let mut images = Vec::new();
    for (bi, batch) in idx.iter().enumerate() {
        let (mut x, _) = data.batch(batch);
        if let Some(a) = &augment {
            x = a.apply_batch(&x, args.epoch, bi);
        }
        let per = data.num_features();
        let xv = x.to_vec();
        for (j, &i) in batch.iter().enumerate() {
            if images.len() == count {
                break;
            }
            let label = match &data.targets {
                Targets::Classes(c) => data
                    .class_names
                    .get(c[i])
                    .cloned()
                    .unwrap_or_else(|| c[i].to_string()),
                Targets::Values { values, dim } => format!("{:.3}", values[i * dim]),
            };
            images.push((xv[j * per..(j + 1) * per].to_vec(), label));
        }
    }
    let title = format!(
        "{}: {} {name} samples{}",
        args.config.display(),
        images.len(),
        match (&augment, args.split) {
            (Some(a), _) => format!(
                " (epoch {}, augmented: {})",
                args.epoch,
                a.config().describe()
            ),
            (None, Split::Train) => format!(" (epoch {}, not augmented)", args.epoch),
            _ => String::new(),
        }
    );
    draw_image_grid(&images, &data.sample_shape, &title, &args.out)?;
    println!("wrote {} ({} samples)", args.out.display(), images.len());
    Ok(())
}
