//! The README's option table (section "`netauth run` options") must say what the
//! definitions say: a row for every option, no row for anything else, and the default each
//! option's help states (or "none" / "(required ...)" for options without one).

use std::{collections::BTreeMap, path::Path};

use clap::{Args as _, Command};

use super::RunArgs;

/// The README's `netauth run` table as (flag, default cell), a row with "`--a X` / `--b
/// Y`" giving one entry per flag (the default split the same way, or shared).
fn readme_rows(readme: &str) -> Vec<(String, String)> {
    let section = readme
        .split("\n## `netauth run` options\n")
        .nth(1)
        .expect("README has a `netauth run` options section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `--")) {
        // `\|` separates values inside a cell, `|` separates cells.
        let cells: Vec<String> = line
            .replace("\\|", "\u{0}")
            .trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().replace('\u{0}', "|"))
            .collect();
        assert_eq!(cells.len(), 3, "not a table row: {line}");
        let flags: Vec<&str> = cells[0].split(" / ").collect();
        let defaults: Vec<&str> = cells[1].split(" / ").collect();
        for (i, flag) in flags.iter().enumerate() {
            let flag = flag
                .trim_matches('`')
                .split_whitespace()
                .next()
                .unwrap_or("");
            let default = if defaults.len() == flags.len() {
                defaults[i]
            } else {
                &cells[1]
            };
            rows.push((flag.to_string(), default.replace('`', "")));
        }
    }
    rows
}

#[test]
fn readme_option_table_matches_the_run_options() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let mut rows = BTreeMap::new();
    for (flag, default) in readme_rows(&readme) {
        assert!(
            rows.insert(flag.clone(), default).is_none(),
            "README names {flag} twice"
        );
    }
    let mut drift = Vec::new();
    for arg in RunArgs::augment_args(Command::new("run")).get_arguments() {
        let flag = format!("--{}", arg.get_long().expect("every option is long"));
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let stated = help
            .rsplit_once(" [default: ")
            .and_then(|(_, d)| d.strip_suffix(']'));
        let Some(cell) = rows.remove(&flag) else {
            drift.push(format!("{flag} has no row in the README's option table"));
            continue;
        };
        let agrees = match stated {
            Some(d) => cell == d,
            // No default: nothing, or the value must be given.
            None => cell == "none" || cell.starts_with("(required"),
        };
        if !agrees {
            drift.push(format!(
                "{flag}: the README's default is {cell:?}, the option's {}",
                stated.map_or("none".to_string(), |d| format!("{d:?}"))
            ));
        }
    }
    for flag in rows.keys() {
        drift.push(format!(
            "the README's row {flag} is no option of `netauth run`"
        ));
    }
    assert!(drift.is_empty(), "\n{}", drift.join("\n"));
}
