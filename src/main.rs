//! The `nerve` command line: train, eval, predict, summary, explain, bench.

use std::process::ExitCode;

use clap::Parser;

/// Tensors' values at cache-line alignment, as PyTorch allocates them.
#[global_allocator]
static ALLOC: nerve::kernels::memory::AlignedAlloc = nerve::kernels::memory::AlignedAlloc;

fn main() -> ExitCode {
    // A closed pipe (`nerve eval RUN | head`) ends nerve quietly, as it ends
    // `cat`: the default action of SIGPIPE, which Rust's runtime ignores.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default before any
    // thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // A panic is a bug in nerve, never the user's fault: say so plainly.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error in nerve{at}: {msg}\nThis is a bug; please report it with the command you ran.");
    }));
    let cli = nerve::cli::Cli::parse();
    match std::panic::catch_unwind(|| nerve::cli::run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            // An error every rank of a distributed run holds: rank 0 says it
            // and fails the job; the others end quietly (failing first would
            // make mpirun end rank 0 before it could say why).
            if e.is_shared() && nerve::dist::is_secondary_rank() {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(_) => ExitCode::from(2),
    }
}
