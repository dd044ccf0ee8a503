//! `netauth allow --from FILE`: many devices in one request (the admin API's batch),
//! all of them or none.
//!
//! The file has one device a line, either as `allow` takes it on the command line
//! (`MAC [--for DUR] [--idle DUR] [--quota B] [--quota-up B] [--quota-down B]`) or as a
//! JSON object the API takes (`{"mac":"…","duration":"2h"}`, so NDJSON works as it is).
//! Blank lines and lines starting with `#` are skipped (a `#` after a device's words
//! starts a comment too). Options given on the command line apply to the lines that do
//! not set their own. Every line is checked before anything is sent; a bad one is named
//! (`FILE: line N: …`) and nothing changes.

use std::{io::Read as _, path::Path};

use clap::{CommandFactory as _, FromArgMatches as _};
use netauth_common::api::{AdminClient, AllowRequest, ClientError};

use super::{Failure, Outcome, sessions::GrantArgs};
use crate::model::Mac;

/// One line of the file in the command line's words.
#[derive(clap::Parser, Debug)]
#[command(name = "line", no_binary_name = true, disable_help_flag = true)]
struct Line {
    mac: Mac,
    #[command(flatten)]
    grant: GrantArgs,
}

/// A line's own limits where it sets them, else the command line's.
fn or_defaults(mut r: AllowRequest, d: &AllowRequest) -> AllowRequest {
    r.duration = r.duration.or_else(|| d.duration.clone());
    r.idle = r.idle.or_else(|| d.idle.clone());
    r.quota = r.quota.or_else(|| d.quota.clone());
    r.quota_up = r.quota_up.or_else(|| d.quota_up.clone());
    r.quota_down = r.quota_down.or_else(|| d.quota_down.clone());
    r
}

/// The first line of a clap error, without its "error: ".
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// The batch for the text of a `--from` file: NDJSON with one line for each line of the
/// file (blank for blank lines and comments, so the daemon's errors name the file's
/// lines), and how many devices it names. `Err`: the first bad line, named.
pub(super) fn batch_body(text: &str, defaults: &GrantArgs) -> Result<(Vec<u8>, usize), String> {
    // A dummy device: only the limits are taken from it.
    let defaults = defaults.request(Mac([2, 0, 0, 0, 0, 1]));
    let mut line_cmd = Line::command();
    let mut body = Vec::with_capacity(text.len() + text.len() / 2);
    let mut devices = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        let req = if line.starts_with('{') {
            serde_json::from_str::<AllowRequest>(line).map_err(|e| format!("line {n}: {e}"))?
        } else {
            let words: Vec<&str> = line
                .split('#')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            match words.as_slice() {
                [] => {
                    body.push(b'\n');
                    continue;
                }
                // The common case, without clap: a MAC alone.
                [mac] if !mac.starts_with('-') => {
                    let mac: Mac = mac.parse().map_err(|e| format!("line {n}: {e}"))?;
                    AllowRequest {
                        mac: mac.to_string(),
                        ..AllowRequest::default()
                    }
                }
                _ => {
                    let matches = line_cmd
                        .try_get_matches_from_mut(&words)
                        .map_err(|e| format!("line {n}: {}", clap_message(&e)))?;
                    let l = Line::from_arg_matches(&matches)
                        .map_err(|e| format!("line {n}: {}", clap_message(&e)))?;
                    l.grant.request(l.mac)
                }
            }
        };
        serde_json::to_writer(&mut body, &or_defaults(req, &defaults))
            .expect("plain data serializes");
        body.push(b'\n');
        devices += 1;
    }
    if devices == 0 {
        return Err("no devices in it".into());
    }
    Ok((body, devices))
}

/// `netauth allow --from FILE`.
pub async fn allow_from(admin: &AdminClient, file: &Path, defaults: &GrantArgs) -> Outcome {
    let name = file.display();
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::failed(format!("reading standard input: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| Failure::failed(format!("{name}: {e}")))?
    };
    let (body, devices) =
        batch_body(&text, defaults).map_err(|e| Failure::BadInput(format!("{name}: {e}")))?;
    let summary = admin.allow_ndjson(body).await.map_err(|e| match e {
        // The daemon names the line; say which file it is in.
        ClientError::Api {
            status: 400,
            message,
        } => Failure::BadInput(format!("{name}: {message}")),
        other => other.into(),
    })?;
    println!(
        "{} of {devices} devices authorized ({} new, {} renewed)",
        summary.authorized, summary.new, summary.renewed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn lines(body: &[u8]) -> Vec<serde_json::Value> {
        String::from_utf8(body.to_vec())
            .unwrap()
            .lines()
            .map(|l| {
                if l.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::from_str(l).unwrap()
                }
            })
            .collect()
    }

    #[test]
    fn lines_keep_their_numbers_and_take_the_defaults_they_do_not_set() {
        let text = "# guests of the day\n\
                    02:00:00:00:00:01\n\
                    \n\
                    02-00-00-00-00-02 --for 2h --quota 5G   # room 12\n\
                    {\"mac\":\"02:00:00:00:00:03\",\"idle\":\"10m\"}\n";
        let defaults = GrantArgs {
            duration: Some(Duration::from_secs(3600)),
            idle: Some(Duration::from_secs(1800)),
            ..GrantArgs::default()
        };
        let (body, devices) = batch_body(text, &defaults).unwrap();
        assert_eq!(devices, 3);
        let l = lines(&body);
        assert_eq!(l.len(), 5, "one line for each line of the file");
        assert!(l[0].is_null() && l[2].is_null());
        assert_eq!(l[1]["mac"], "02:00:00:00:00:01");
        assert_eq!(l[1]["duration"], "3600s");
        assert_eq!(l[1]["idle"], "1800s");
        assert_eq!(l[3]["mac"], "02:00:00:00:00:02");
        assert_eq!(l[3]["duration"], "7200s");
        assert_eq!(l[3]["quota"], 5_000_000_000u64);
        assert_eq!(l[3]["idle"], "1800s");
        assert_eq!(l[4]["mac"], "02:00:00:00:00:03");
        assert_eq!(
            l[4]["idle"], "10m",
            "a JSON line's own values are sent as given"
        );
        assert_eq!(l[4]["duration"], "3600s");
    }

    #[test]
    fn a_bad_line_is_named() {
        let d = GrantArgs::default();
        let bad = |text: &str| batch_body(text, &d).unwrap_err();
        let e = bad("02:00:00:00:00:01\n02:00:00:00:00:0z\n");
        assert!(e.starts_with("line 2: "), "{e}");
        assert!(e.contains("not a MAC address"), "{e}");
        let e = bad("02:00:00:00:00:01\n\n02:00:00:00:00:02 --for 500ms\n");
        assert!(e.starts_with("line 3: "), "{e}");
        assert!(e.contains("at least 1s"), "{e}");
        let e = bad("02:00:00:00:00:01 --quoat 5G\n");
        assert!(e.starts_with("line 1: "), "{e}");
        assert!(e.contains("--quoat"), "{e}");
        let e = bad("02:00:00:00:00:01 02:00:00:00:00:02\n");
        assert!(e.starts_with("line 1: "), "{e}");
        let e = bad("--for 2h\n");
        assert!(e.starts_with("line 1: "), "{e}");
        let e = bad("{\"mac\":\"02:00:00:00:00:01\",\"for\":\"2h\"}\n");
        assert!(e.starts_with("line 1: unknown field `for`"), "{e}");
        assert_eq!(bad("# nothing\n\n"), "no devices in it");
        assert_eq!(bad(""), "no devices in it");
    }
}
