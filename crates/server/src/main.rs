//! The `convene` binary: parses the command line and runs the server or an admin command.

use clap::Parser;
use convene::config::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    return_large_allocations_to_the_system();
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
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning and takes glibc's own locks.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
