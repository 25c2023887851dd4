//! `nerve predict`.

use clap::Args;

use crate::error::Result;

#[derive(Args, Debug)]
pub struct PredictArgs {}

pub fn run(_args: PredictArgs) -> Result<()> {
    Err(crate::error::Error::new("not built yet"))
}
