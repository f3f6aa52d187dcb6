//! The `convene` binary: parses the command line and runs the server or an admin command.

use clap::Parser;
use convene::config::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
