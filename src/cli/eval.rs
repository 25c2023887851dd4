//! `nerve eval`.

use clap::Args;

use crate::error::Result;

#[derive(Args, Debug)]
pub struct EvalArgs {}

pub fn run(_args: EvalArgs) -> Result<()> {
    Err(crate::error::Error::new("not built yet"))
}
