//! The command line: `convene [serve options]`, `convene admin …`; the serve options are
//! [`ServeArgs`].

use clap::{Parser, Subcommand};

use super::ServeArgs;

/// Convene: self-hosted video meetings.
#[derive(Debug, Parser)]
#[command(name = "convene", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server and storage options; they apply to every subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default when no subcommand is given).
    Serve,
    /// Administer accounts directly in the database the server uses.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an administrator account.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// The password; prefer --password-stdin or CONVENE_ADMIN_PASSWORD so it stays out of
        /// shell history.
        #[arg(long, env = "CONVENE_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Make an existing account (by username or e-mail) an administrator.
    Promote { account: String },
    /// Mark an account's (by username or e-mail) address as verified, vouching for it.
    Verify { account: String },
    /// List accounts.
    List,
}
