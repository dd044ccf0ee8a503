//! The walled-garden verbs: `walled-garden list`, `add`, `remove`. Entries are checked
//! here first, so a typo is refused before anything is sent.

use netauth_common::api::{AdminClient, WalledList};

use super::{Failure, Outcome, print_json};
use crate::walled::Entry;

#[derive(clap::Subcommand)]
pub enum WalledAction {
    /// Show the entries and what their host names resolve to.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add an address, prefix or host name.
    Add { entry: String },
    /// Remove an entry added with `add`.
    Remove { entry: String },
}

pub async fn run(admin: &AdminClient, action: WalledAction) -> Outcome {
    match action {
        WalledAction::List { json } => list(admin, json).await,
        WalledAction::Add { entry } => add(admin, &entry).await,
        WalledAction::Remove { entry } => remove(admin, &entry).await,
    }
}

async fn list(admin: &AdminClient, json: bool) -> Outcome {
    let entries = admin.walled_garden().await?;
    if json {
        return print_json(&WalledList { entries });
    }
    for e in &entries {
        let addrs: Vec<String> = e.addresses.iter().map(ToString::to_string).collect();
        println!("{:<40} {:<7} {}", e.entry, e.source, addrs.join(" "));
    }
    Ok(())
}

async fn add(admin: &AdminClient, entry: &str) -> Outcome {
    Entry::parse(entry).map_err(Failure::BadInput)?;
    let canonical = admin.walled_add(entry).await?;
    println!("{canonical} is in the walled garden");
    Ok(())
}

async fn remove(admin: &AdminClient, entry: &str) -> Outcome {
    let entry = Entry::parse(entry).map_err(Failure::BadInput)?;
    admin.walled_remove(&entry.to_string()).await?;
    println!("{entry} removed from the walled garden");
    Ok(())
}
