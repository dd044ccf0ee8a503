//! `netauth generate`: man pages and shell completions from the command's own definition,
//! so they never drift from it (the package build writes them).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{CommandFactory as _, Subcommand};
use clap_complete::Shell;

use super::{Cli, Outcome};

#[derive(Subcommand)]
pub enum What {
    /// netauth.8 and one page per verb (netauth-run.8, ...) in DIR.
    Man {
        /// Where to write the pages.
        dir: PathBuf,
    },
    /// The completion script for SHELL, on standard output.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

pub fn run(what: What) -> Outcome {
    let cmd = Cli::command();
    match what {
        What::Man { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            // Section 8: netauth is run and managed by the system administrator.
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("writing man pages to {}", dir.display()))?;
            rename_to_section_8(&dir)?;
            Ok(())
        }
        What::Completions { shell } => {
            use std::io::Write as _;
            let mut cmd = cmd;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "netauth", &mut script);
            std::io::stdout()
                .write_all(&script)
                .context("writing the completion script")?;
            Ok(())
        }
    }
}

/// clap_mangen names every page section 1; netauth's belong in section 8 (system
/// administration), file name and `.TH` line both.
fn rename_to_section_8(dir: &std::path::Path) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        if path.extension().is_some_and(|x| x == "1") {
            let text = std::fs::read_to_string(&path)?;
            let text = text.replacen(" 1 ", " 8 ", 1);
            std::fs::write(path.with_extension("8"), text)?;
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
