//! The `convene` binary: parses the command line and runs the server or an admin command.

use clap::Parser;
use convene::config::{Cli, Command};

fn main() -> std::process::ExitCode {
    // Allocator tuning first: it must precede the runtime's threads.
    return_large_allocations_to_the_system();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("convene: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match cli.serve.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("convene: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    convene::server::init_logging(config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => convene::server::run(config).await,
        Command::Admin { action } => convene::admin::run(config, action).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("convene: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc raises its mmap threshold to the size of the largest block freed (up to 32 MiB), so
/// after the first password hash (argon2id: 19 MiB) every later one comes from the heap and
/// stays resident: two logins left a 20–40 MB larger server for good. A fixed 1 MiB
/// threshold hands such blocks back to the kernel when freed; smaller ones are unaffected.
///
/// glibc also gives every thread that allocates an arena of its own, up to eight per core,
/// and memory freed in one arena is not reused by another: a ten-person meeting cost each
/// participant ~1.25 MB. One arena per core (no more threads than that run at once, so they
/// rarely wait on each other's lock) brought it to ~1.0 MB at the same CPU per forwarded
/// packet (bench/RESULTS.md, ninth pass).
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes allocator tuning and takes glibc's own locks.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
