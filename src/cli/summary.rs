//! `nerve summary`.

use clap::Args;

use crate::error::Result;

#[derive(Args, Debug)]
pub struct SummaryArgs {}

pub fn run(_args: SummaryArgs) -> Result<()> {
    Err(crate::error::Error::new("not built yet"))
}
