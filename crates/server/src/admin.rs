//! `convene admin …`: account administration straight against the database.

use std::io::BufRead;

use crate::auth::password;
use crate::config::{AdminAction, Config};
use crate::state::AppState;

/// Runs one admin action and prints what it did.
pub async fn run(config: Config, action: AdminAction) -> anyhow::Result<()> {
    let state = AppState::without_media(config).await?;
    let result = act(&state, action).await;
    state.store.close().await;
    result
}

async fn act(state: &AppState, action: AdminAction) -> anyhow::Result<()> {
    match action {
        AdminAction::Create { username, email, password, password_stdin } => {
            let password = match (password, password_stdin) {
                (_, true) => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
                (Some(p), false) => p,
                (None, false) => anyhow::bail!("give --password-stdin or set CONVENE_ADMIN_PASSWORD"),
            };
            let username = username.trim().to_lowercase();
            let email = email.trim().to_lowercase();
            password::check_policy(&password, &username, &email).map_err(|e| anyhow::anyhow!("{e}"))?;
            let hash = password::hash(&password).await?;
            let new = crate::account::NewAccount {
                username: &username,
                email: &email,
                password_hash: &hash,
                display_name: &username,
                role: Some("admin"),
                email_verified: true,
                now_ms: state.clock.now_ms(),
            };
            let user = crate::account::create(&state.store, new).await?;
            println!("created administrator {} <{}> (id {})", user.username, user.email, user.id);
        }
        AdminAction::Promote { account } => {
            let user = find(state, &account).await?;
            state.store.set_role(&user.id, "admin", state.clock.now_ms()).await?;
            println!("{} <{}> is now an administrator", user.username, user.email);
        }
        AdminAction::Verify { account } => {
            let user = find(state, &account).await?;
            state.store.mark_email_verified(&user.id, &user.email, state.clock.now_ms()).await?;
            println!("{} <{}> has a verified address", user.username, user.email);
        }
        AdminAction::List => {
            let (users, total) = state.store.list_users(None, 10_000, 0).await?;
            println!("{total} account(s)");
            for u in users {
                let state = if u.disabled { "disabled" } else { "active" };
                let verified = if u.email_verified() { "verified" } else { "unverified" };
                println!("{}\t{}\t{}\t{}\t{state}\t{verified}", u.id, u.username, u.email, u.role);
            }
        }
    }
    Ok(())
}

/// An account by username or e-mail address.
async fn find(state: &AppState, account: &str) -> anyhow::Result<crate::store::UserRow> {
    let user = if account.contains('@') {
        state.store.user_by_email(account).await?
    } else {
        state.store.user_by_username(account).await?
    };
    user.ok_or_else(|| anyhow::anyhow!("no account {account:?}"))
}
