//! `nerve bench`.

use clap::Args;

use crate::error::Result;

#[derive(Args, Debug)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs) -> Result<()> {
    Err(crate::error::Error::new("not built yet"))
}
