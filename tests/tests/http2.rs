//! HTTP/2 with prior knowledge (h2c) from a captive client: the portal answers over
//! HTTP/2 exactly as over HTTP/1 (511, or 302 for a probe), instead of closing the
//! connection with no answer. curl (with nghttp2) is the client.

use netauth_lab::{Client, Lab};

/// `curl --http2-prior-knowledge`: "HTTP-VERSION STATUS LOCATION", and the body.
fn h2c(c: &Client, url: &str, connect_to: Option<&str>) -> (String, String) {
    let body = c.ns.command("mktemp").output().unwrap();
    let body = String::from_utf8(body.stdout).unwrap().trim().to_string();
    let mut cmd = c.ns.command("curl");
    cmd.args([
        "-s",
        "--http2-prior-knowledge",
        "--max-time",
        "5",
        "-o",
        &body,
        "-w",
        "%{http_version} %{http_code} %{redirect_url}",
    ]);
    if let Some(to) = connect_to {
        cmd.args(["--connect-to", to]);
    }
    let out = cmd.arg(url).output().unwrap();
    let text = std::fs::read_to_string(&body).unwrap_or_default();
    let _ = std::fs::remove_file(&body);
    (String::from_utf8_lossy(&out.stdout).into_owned(), text)
}

#[test]
fn h2c_prior_knowledge_gets_the_portal_over_http2() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (c, other) = (lab.clients[0].clone(), lab.clients[1].clone());

    let (w, body) = h2c(&c, "http://203.0.113.80/page", None);
    assert!(w.starts_with("2 511"), "{w}");
    assert!(
        body.contains("http://192.0.2.1:8080/login?redirect=http%3A%2F%2F203.0.113.80%2Fpage"),
        "{body}"
    );
    // A probe over h2c gets its 302.
    let (w, _) = h2c(
        &c,
        "http://connectivitycheck.gstatic.com/generate_204",
        Some("connectivitycheck.gstatic.com:80:203.0.113.80:80"),
    );
    assert!(
        w.starts_with("2 302 http://192.0.2.1:8080/login?redirect="),
        "{w}"
    );
    // Nothing of this let anyone through.
    assert_eq!(c.status_of(), Some(511));
    assert_eq!(other.status_of(), Some(511));
}
