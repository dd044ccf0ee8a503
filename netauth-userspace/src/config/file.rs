//! The config file (`--config`): read with a size limit, every key checked against the
//! options of `netauth run`, and every error naming the file, the line and the reason.
//!
//! Why not just `toml::from_str::<RunArgs>`: the sections are flattened into [`RunArgs`],
//! and serde's `flatten` buffers values before the section sees them, so a bad value's
//! error loses its line; it also cannot be combined with `deny_unknown_fields`. So the
//! document is parsed once with its spans; unknown keys are refused against the option
//! names clap knows, with the span of the key; and each section is read from the whole
//! document on its own (ignoring the other sections' keys), so toml reports a bad value
//! where it is.

use std::{fmt, path::Path};

use anyhow::{Context as _, bail};
use clap::{Args as _, Command};
use serde::{
    Deserialize,
    de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor},
};
use toml::{
    Spanned,
    de::{DeTable, Deserializer},
};

use super::{RunArgs, parse::MAX_FILE_BYTES};

/// Reads a text file of at most [`MAX_FILE_BYTES`]; `what` names it in errors.
pub fn read_text_file(path: &Path, what: &str) -> anyhow::Result<String> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).with_context(|| format!("reading {what} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {what} {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        bail!(
            "{what} {} is larger than {} KiB; is it the right file?",
            path.display(),
            MAX_FILE_BYTES / 1024
        );
    }
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{what} {} is not UTF-8 text", path.display()))
}

/// Reads a config file; errors name the file, the line and the reason.
pub fn read_config_file(path: &Path) -> anyhow::Result<RunArgs> {
    let text = read_text_file(path, "config file")?;
    parse_config(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

/// The keys a config file may have: the long names of `netauth run`'s options, but
/// `config` (a file does not name another).
pub fn config_keys() -> Vec<String> {
    RunArgs::augment_args(Command::new("run"))
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "config")
        .map(str::to_owned)
        .collect()
}

/// Parses a config file's text. Errors carry the line (toml's `Display` shows it).
pub fn parse_config(text: &str) -> Result<RunArgs, toml::de::Error> {
    let doc = DeTable::parse(text)?;
    let keys = config_keys();
    KnownKeys(&keys)
        .deserialize(Deserializer::from(doc.clone()))
        .map_err(|e| with_text(e, text))?;
    // Each section on its own, before RunArgs' own Deserialize, whose serde flatten would
    // report a bad value on line 1.
    Ok(RunArgs {
        network: read(&doc, text)?,
        walled: read(&doc, text)?,
        portal: read(&doc, text)?,
        limits: read(&doc, text)?,
        auth: read(&doc, text)?,
        radius: read(&doc, text)?,
        das: read(&doc, text)?,
        // The daemon's own options.
        ..read(&doc, text)?
    })
}

/// Reads one section (or RunArgs) from the whole document, ignoring other keys.
fn read<T: DeserializeOwned>(doc: &Spanned<DeTable>, text: &str) -> Result<T, toml::de::Error> {
    T::deserialize(Deserializer::from(doc.clone())).map_err(|e| with_text(e, text))
}

/// Errors from a parsed document know the span; with the text they show the line.
fn with_text(mut e: toml::de::Error, text: &str) -> toml::de::Error {
    e.set_input(Some(text));
    e
}

/// Visits the document's top-level keys and refuses the first that is not an option. The
/// error comes from the key's own deserializer, so toml gives it the key's line.
struct KnownKeys<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for KnownKeys<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KnownKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of `netauth run` options")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(KnownKey(self.0))?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

struct KnownKey<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for KnownKey<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let key = String::deserialize(d)?;
        if self.0.contains(&key) {
            return Ok(());
        }
        Err(de::Error::custom(match closest(&key, self.0) {
            Some(near) => format!("unknown field `{key}`, did you mean `{near}`?"),
            None => format!(
                "unknown field `{key}`: the keys are the long options of `netauth run --help`"
            ),
        }))
    }
}

/// The known key a typo most likely meant: at most two edits away.
fn closest<'k>(key: &str, known: &'k [String]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
