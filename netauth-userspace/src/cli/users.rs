//! The `user` verbs: edit the users file of `--auth-method local`, the very file the
//! daemon would read (resolved by the daemon's own rules). No daemon is involved.

use super::{Failure, Outcome};
use crate::{
    auth::{UsersFile, valid_username},
    config::{RunArgs, admin_users_file_path, users_file_path},
};

#[derive(clap::Subcommand)]
pub enum UserAction {
    /// Add a user or change a password.
    Add { name: String },
    /// Remove a user (sessions already open stay until they end).
    Remove { name: String },
    /// List the users' names.
    List,
}

/// `daemon`: the options that locate the file (users-file, state-dir, config).
pub fn run(daemon: &RunArgs, action: UserAction) -> Outcome {
    edit(&users_file_path(daemon)?, action)
}

/// The same verbs on the admin console's accounts (admin-users-file, state-dir, config).
pub fn run_admin(daemon: &RunArgs, action: UserAction) -> Outcome {
    edit(&admin_users_file_path(daemon)?, action)
}

fn edit(path: &std::path::Path, action: UserAction) -> Outcome {
    let path = path.to_path_buf();
    let mut users = UsersFile::load(&path)?;
    match action {
        UserAction::List => {
            for u in users.users.keys() {
                println!("{u}");
            }
        }
        UserAction::Remove { name } => {
            if users.users.remove(&name).is_none() {
                return Err(Failure::failed(format!("no user '{name}'")));
            }
            users.save()?;
            println!("{name} removed");
        }
        UserAction::Add { name } => {
            if !valid_username(&name) {
                return Err(Failure::BadInput(format!(
                    "'{name}' is not a valid user name (letters, digits, ._-@)"
                )));
            }
            let password = read_new_password()?;
            users
                .set_password(&name, &password)
                .map_err(|e| Failure::BadInput(e.to_string()))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            users.save()?;
            println!("{name} saved in {}", path.display());
        }
    }
    Ok(())
}

/// A new password: asked twice on a terminal (not echoed), else one line of stdin.
fn read_new_password() -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("New password: ")?;
        let b = rpassword::prompt_password("Again: ")?;
        if a != b {
            anyhow::bail!("the passwords differ");
        }
        Ok(a)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}
