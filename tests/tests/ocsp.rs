//! OCSP stapling on the HTTPS listener (`--api-tls-ocsp`): a certificate from a lab CA,
//! OCSP responses made by `openssl ocsp` from the CA's index (good, then revoked), and
//! `openssl s_client -status` in a client namespace reading what the portal staples.

use std::{path::Path, process::Command, time::Duration};

use netauth_lab::{Client, GW_LAN_V4, Lab, netauth_bin, wait_until};

const HOST: &str = "portal.lab.example";
const API_PORT: u16 = 8443;

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CA, a server certificate it signed, and OCSP responses saying "good" and "revoked".
fn pki(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=netauth lab CA",
            "-days",
            "2",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            &format!("/CN={HOST}"),
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        format!("subjectAltName=DNS:{HOST},IP:192.0.2.1\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.crt",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    let serial = openssl(dir, &["x509", "-in", "srv.crt", "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=");
    openssl(
        dir,
        &[
            "ocsp",
            "-issuer",
            "ca.crt",
            "-cert",
            "srv.crt",
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    );
    for (status, revoked_at, out) in [("V", "", "good.der"), ("R", "260101000000Z", "revoked.der")]
    {
        std::fs::write(
            dir.join("index.txt"),
            format!("{status}\t301231000000Z\t{revoked_at}\t{serial}\tunknown\t/CN={HOST}\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "ocsp",
                "-index",
                "index.txt",
                "-rsigner",
                "ca.crt",
                "-rkey",
                "ca.key",
                "-CA",
                "ca.crt",
                "-reqin",
                "req.der",
                "-respout",
                out,
                "-ndays",
                "1",
            ],
        );
    }
}

/// What `openssl s_client -status` shows of the stapled response.
fn stapled(c: &Client) -> String {
    let out =
        c.ns.command("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("{GW_LAN_V4}:{API_PORT}"),
                "-servername",
                HOST,
                "-status",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.contains("OCSP response: no response sent") {
        "none".into()
    } else if text.contains("Cert Status: good") {
        "good".into()
    } else if text.contains("Cert Status: revoked") {
        "revoked".into()
    } else {
        format!("unexpected: {text}")
    }
}

fn replace(path: &Path, from: &Path) {
    let tmp = path.with_extension("tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn the_https_listener_staples_the_ocsp_response_and_reloads_it() {
    let mut lab = Lab::new(1).unwrap();
    let pki_dir = lab.dir.join("pki");
    pki(&pki_dir);
    let (cert, key) = (pki_dir.join("srv.crt"), pki_dir.join("srv.key"));
    let resp = pki_dir.join("stapled.der");

    // A response file that is not one refuses the start, naming it.
    std::fs::write(&resp, b"not an OCSP response").unwrap();
    let out = lab
        .gw
        .command(netauth_bin())
        .args(["run", "--lan", "lan0", "--api-tls-cert"])
        .arg(&cert)
        .arg("--api-tls-key")
        .arg(&key)
        .arg("--api-tls-ocsp")
        .arg(&resp)
        .arg("--state-dir")
        .arg(lab.dir.join("bad-state"))
        .arg("--admin-socket")
        .arg(lab.dir.join("bad.sock"))
        .arg("--bpffs")
        .arg(lab.dir.join("bpf"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("stapled.der is not a DER OCSP response"),
        "{err}"
    );

    replace(&resp, &pki_dir.join("good.der"));
    let (c, k, r) = (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
        resp.to_string_lossy().into_owned(),
    );
    lab.start_netauth(&[
        "--api-tls-cert",
        &c,
        "--api-tls-key",
        &k,
        "--api-tls-ocsp",
        &r,
        "--api-hostname",
        HOST,
    ])
    .unwrap();
    let client = lab.clients[0].clone();
    assert_eq!(stapled(&client), "good");

    // A fresh response (here: the certificate was revoked) is picked up without a restart.
    replace(&resp, &pki_dir.join("revoked.der"));
    let mut last = String::new();
    assert!(
        wait_until(Duration::from_secs(15), || {
            last = stapled(&client);
            last == "revoked"
        }),
        "still stapling: {last}"
    );
    // A broken file keeps the last good response stapled.
    std::fs::write(&resp, b"truncated").unwrap();
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(stapled(&client), "revoked");
    assert!(
        lab.daemon()
            .log_text()
            .contains("the previous OCSP response stays stapled")
    );
}

#[test]
fn without_a_response_file_nothing_is_stapled() {
    let mut lab = Lab::new(1).unwrap();
    let pki_dir = lab.dir.join("pki");
    pki(&pki_dir);
    let c = pki_dir.join("srv.crt").to_string_lossy().into_owned();
    let k = pki_dir.join("srv.key").to_string_lossy().into_owned();
    lab.start_netauth(&["--api-tls-cert", &c, "--api-tls-key", &k])
        .unwrap();
    assert_eq!(stapled(&lab.clients[0].clone()), "none");
}
