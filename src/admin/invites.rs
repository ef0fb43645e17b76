//! `securechat invite create [--uses N] [--days D] | list | revoke CODE`:
//! server invites, for `--registration invite`.

use super::{AdminError, Result, when};
use crate::auth::{Accounts, Operator};
use crate::util;

fn url(code: &str) -> String {
    format!("/register?invite={code}")
}

pub fn create(accounts: &Accounts, uses: Option<i64>, days: Option<i64>) -> Result<()> {
    let code = crate::chat::invites::new_code();
    let expires_at = days.map(|d| util::now_ms() + d * 86_400_000);
    let invite = accounts.create_server_invite(Operator::CommandLine, &code, uses, expires_at)?;
    println!("{}", url(&invite.code));
    let uses = invite
        .max_uses
        .map_or("unlimited".to_string(), |n| n.to_string());
    let until = invite.expires_at.map_or("no expiry".to_string(), |t| {
        format!("until {} UTC", when(t))
    });
    println!("(uses: {uses}; {until})");
    Ok(())
}

pub fn list(accounts: &Accounts) -> Result<()> {
    println!(
        "{:<32}  {:>9}  {:<16}  created (UTC)",
        "code", "uses", "expires (UTC)"
    );
    for i in accounts.server_invites(Operator::CommandLine)? {
        let uses = match i.max_uses {
            Some(max) => format!("{}/{max}", i.uses),
            None => i.uses.to_string(),
        };
        let expires = i.expires_at.map_or("never".to_string(), when);
        println!(
            "{:<32}  {uses:>9}  {expires:<16}  {}",
            i.code,
            when(i.created_at)
        );
    }
    Ok(())
}

pub fn revoke(accounts: &Accounts, code: &str) -> Result<()> {
    if accounts.revoke_server_invite(Operator::CommandLine, code)? {
        println!("revoked {code}");
        Ok(())
    } else {
        Err(AdminError::NoSuchInvite(code.to_string()))
    }
}
