//! `nerve explain`.

use clap::Args;

use crate::error::Result;

#[derive(Args, Debug)]
pub struct ExplainArgs {}

pub fn run(_args: ExplainArgs) -> Result<()> {
    Err(crate::error::Error::new("not built yet"))
}
