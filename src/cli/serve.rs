//! `nerve playground [--port 8080]` and `nerve dashboard [RUNS_DIR]`: the
//! local web pages (src/serve).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::{Error, Result};
use crate::serve::{serve, Home, ServeOptions};

#[derive(Args, Debug)]
pub struct PlaygroundArgs {
    /// The port to listen on (0: any free port).
    #[arg(long, default_value_t = 8080, allow_negative_numbers = true)]
    pub port: u16,
    /// The address to listen on; 127.0.0.1 keeps the page on this machine.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The runs folder the dashboard page (/dashboard) lists.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Seconds without a request after which a tab's session is stopped and dropped.
    #[arg(long, default_value_t = 15, allow_negative_numbers = true)]
    pub session_timeout: u64,
    /// The most sessions (tabs) at once.
    #[arg(long, default_value_t = 64, allow_negative_numbers = true)]
    pub max_sessions: usize,
}

#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// The folder of run directories (default: runs).
    #[arg(default_value = "runs")]
    pub runs: PathBuf,
    /// The port to listen on (0: any free port).
    #[arg(long, default_value_t = 8080, allow_negative_numbers = true)]
    pub port: u16,
    /// The address to listen on; 127.0.0.1 keeps the page on this machine.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
}

fn options(host: String, port: u16, runs: PathBuf, home: Home) -> ServeOptions {
    ServeOptions {
        host,
        port,
        runs_dir: runs,
        home,
        ..ServeOptions::default()
    }
}

pub fn playground(a: PlaygroundArgs) -> Result<()> {
    if a.session_timeout == 0 {
        return Err(Error::new("--session-timeout must be at least 1 second"));
    }
    if a.max_sessions == 0 {
        return Err(Error::new("--max-sessions must be at least 1"));
    }
    let mut o = options(a.host, a.port, a.runs, Home::Playground);
    o.session_timeout = Duration::from_secs(a.session_timeout);
    o.max_sessions = a.max_sessions;
    serve(&o)
}

pub fn dashboard(a: DashboardArgs) -> Result<()> {
    if !a.runs.is_dir() {
        return Err(Error::new(format!(
            "{} is not a folder of runs (it does not exist or is not a directory); train one with `nerve train CONFIG` (runs go to runs/NAME) or name the folder: nerve dashboard PATH",
            a.runs.display()
        )));
    }
    serve(&options(a.host, a.port, a.runs, Home::Dashboard))
}
