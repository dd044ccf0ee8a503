//! A venue's own theme (`--theme DIR`): its templates and strings on the portal's pages,
//! its static files served to captive devices from the portal itself (with validators,
//! and on intercepted hosts too), and a broken theme refused at start with the file and
//! line while the LAN stays gated.
//!
//! Screenshots are kept under target/test-artifacts/themes/.

use std::{net::SocketAddr, path::Path, time::Duration};

use netauth_lab::{
    Client, Lab, PORTAL_PORT, UPSTREAM_MARKER, WEB_V4, http, portal_addr, web_addr,
    webdriver::in_browser, workspace_root,
};

const VENUE: &str = "Harbour Hotel";
const LOGO: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"240\" height=\"60\">\
<rect width=\"240\" height=\"60\" rx=\"8\" fill=\"#0b3d5c\"/>\
<text x=\"20\" y=\"40\" font-size=\"28\" font-family=\"sans-serif\" fill=\"#fff\">HARBOUR</text></svg>\n";

/// A theme as an operator writes one: a layout of its own with a logo and a stylesheet,
/// and two of the English strings replaced (the rest stay built-in).
fn write_theme(dir: &Path) {
    for sub in ["templates", "locales", "static/img"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("templates/base.html"),
        "<!doctype html>\n<html lang=\"{{ lang }}\" dir=\"{{ dir }}\"><head><meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n\
<title>{% block title %}{% endblock %}</title>{% block head %}{% endblock %}\n\
<link rel=\"stylesheet\" href=\"/_netauth/theme/harbour.css\"></head>\n\
<body><header><img id=\"logo\" src=\"/_netauth/theme/img/logo.svg\" alt=\"{{ venue }} logo\" width=\"240\" height=\"60\">\n\
<p id=\"tagline\">{{ t(\"tagline\") }}</p></header><main>{% block body %}{% endblock %}</main></body></html>\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("locales/en.ftl"),
        "tagline = Sail into the web from the harbour\naccept-connect = Come aboard\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("static/harbour.css"),
        "body{font-family:serif;background:#e8f1f5;color:#0b3d5c;margin:2rem}\
button{background:#0b3d5c;color:#fff;font-size:1.2rem;padding:.8rem 2rem;border:0;border-radius:6px}\n",
    )
    .unwrap();
    std::fs::write(dir.join("static/img/logo.svg"), LOGO).unwrap();
}

fn get(c: &Client, addr: SocketAddr, path: &str, extra: &str) -> http::Response {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n{extra}Connection: close\r\n\r\n",
        match addr {
            SocketAddr::V4(a) if a.port() == 80 => a.ip().to_string(),
            a => a.to_string(),
        }
    );
    c.ns.run(move || http::raw(addr, req.as_bytes(), Duration::from_secs(3)))
        .unwrap()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// A device that never signed in: its web request is answered 511 by the portal, and
/// nothing else of it gets through.
fn assert_captive(c: &Client) {
    let r = get(c, web_addr(false, 80), "/", "");
    assert_eq!(r.status, 511, "{r:?}");
    assert!(!r.body.contains(UPSTREAM_MARKER));
    assert!(!c.connects(web_addr(false, 443)), "TCP/443 while captive");
}

#[test]
fn chromium_signs_in_through_a_custom_theme_whose_files_the_portal_serves() {
    let mut lab = Lab::new(2).unwrap();
    let theme = lab.dir.join("theme");
    write_theme(&theme);
    lab.start_netauth(&["--venue-name", VENUE, "--theme", theme.to_str().unwrap()])
        .unwrap();
    let (c, never) = (lab.clients[0].clone(), lab.clients[1].clone());
    let shots = workspace_root().join("target/test-artifacts/themes");
    let start = format!("http://{WEB_V4}/some/page");
    let seen = {
        let (shots, start) = (shots.clone(), start.clone());
        in_browser(&c.ns, &lab.dir, &[], &shots.clone(), move |wd| {
            wd.cmd(
                "POST",
                "/url",
                Some(serde_json::json!({"url": start.clone()})),
            )?;
            let login = format!("http://192.0.2.1:{PORTAL_PORT}/login");
            wd.wait_for_url("the themed login page", |u| u.starts_with(&login))?;
            let tagline = wd.text("#tagline")?;
            let button = wd.text("button[name=\"accept\"]")?;
            let logo_width = wd.attribute("#logo", "naturalWidth")?;
            let logo_alt = wd.attribute("#logo", "alt")?;
            let heading = wd.text("h1")?;
            wd.screenshot(&shots.join("1-themed-login.png"))?;
            let (responses, _) = wd.network_log()?;
            wd.click("button[name=\"accept\"]")?;
            let fin = wd.wait_for_url("the original page", |u| u == start)?;
            let source = wd.source()?;
            wd.screenshot(&shots.join("2-online.png"))?;
            Ok((
                tagline, button, logo_width, logo_alt, heading, responses, fin, source,
            ))
        })
    };
    let (tagline, button, logo_width, logo_alt, heading, responses, fin, source) =
        seen.unwrap_or_else(|e| panic!("{e:#}"));

    // The theme's words, and the built-in ones it did not replace.
    assert_eq!(tagline, "Sail into the web from the harbour");
    assert_eq!(button, "Come aboard");
    assert_eq!(heading, format!("Welcome to {VENUE}"));
    assert_eq!(logo_alt, serde_json::json!(format!("{VENUE} logo")));
    // The logo and the stylesheet came from the portal, and the logo was drawn.
    for file in ["img/logo.svg", "harbour.css"] {
        let url = format!("http://192.0.2.1:{PORTAL_PORT}/_netauth/theme/{file}");
        assert!(
            responses.contains(&(url.clone(), 200)),
            "{url} not loaded: {responses:?}"
        );
    }
    assert_eq!(
        logo_width,
        serde_json::json!(240),
        "the logo did not render"
    );
    assert_eq!(fin, start);
    assert!(source.contains(UPSTREAM_MARKER));
    for shot in ["1-themed-login.png", "2-online.png"] {
        let png = std::fs::read(shots.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "{shot}");
    }

    // The static files carry validators; a browser that has the file gets 304.
    let portal = portal_addr(false);
    let r = get(&never, portal, "/_netauth/theme/img/logo.svg", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, LOGO);
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    let etag = r.header("etag").expect("an ETag").to_string();
    let again = get(
        &never,
        portal,
        "/_netauth/theme/img/logo.svg",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(again.status, 304, "{again:?}");
    assert!(again.body.is_empty());
    // A captive device gets them on any host (a 511 page elsewhere can show the logo),
    // from the portal, not from that host.
    let r = get(
        &never,
        web_addr(false, 80),
        "/_netauth/theme/harbour.css",
        "",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("#0b3d5c") && !r.body.contains(UPSTREAM_MARKER));
    // Only files of the theme: no way out of it, and nothing else answered.
    for path in [
        "/_netauth/theme/../../../etc/passwd",
        "/_netauth/theme/%2e%2e/%2e%2e/etc/passwd",
        "/_netauth/theme/img/../../theme/templates/base.html",
        "/_netauth/theme//etc/passwd",
        "/_netauth/theme/img",
        "/_netauth/theme/",
    ] {
        let r = get(&never, portal, path, "");
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert!(!r.body.contains("root:"), "{path}");
        let r = get(&never, web_addr(false, 80), path, "");
        assert_eq!(r.status, 511, "{path} on an intercepted host: {r:?}");
    }
    assert_captive(&never);
}

#[test]
fn a_broken_theme_refuses_to_start_naming_the_file_and_line_and_the_lan_stays_gated() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    assert_captive(&c);
    // Stopped, the pinned datapath keeps the LAN gated; a restart with a broken theme must
    // fail at once and say where.
    lab.daemon().stop().unwrap();

    // (file, its text, the line the error must name, what it must say)
    let cases: [(&str, &str, Option<u32>, &str); 4] = [
        (
            "templates/login.html",
            "{% extends \"base.html\" %}\n{% block body %}\n<p>{{ t(\"welcome\", venue=venue) }</p>\n{% endblock %}\n",
            Some(3),
            "syntax error",
        ),
        (
            "templates/status.html",
            "{% extends \"base.html\" %}\n{% block body %}{{ venue|no_such_filter }}{% endblock %}\n",
            Some(2),
            "no_such_filter",
        ),
        (
            "locales/de.ftl",
            "sign-in = Rein\nlog-out = { $\n",
            Some(2),
            "does not parse",
        ),
        ("static/passwd", "", None, "points outside"),
    ];
    for (i, (file, text, line, why)) in cases.into_iter().enumerate() {
        let theme = lab.dir.join(format!("bad-theme-{i}"));
        let path = theme.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if file.starts_with("static/") {
            std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
        } else {
            std::fs::write(&path, text).unwrap();
        }
        let e = lab
            .start_netauth(&["--theme", theme.to_str().unwrap()])
            .err()
            .unwrap_or_else(|| panic!("netauth started with a broken {file}"));
        let e = format!("{e:#}");
        let place = match line {
            Some(l) => format!("{}:{l}:", path.display()),
            None => path.display().to_string(),
        };
        assert!(
            e.contains(&place),
            "{file}: the error does not name {place}: {e}"
        );
        assert!(e.contains(why), "{file}: no {why:?} in: {e}");
        // Nothing of the device got out meanwhile.
        assert_ne!(c.status_of(), Some(200), "{file}: the LAN opened");
        assert!(!c.connects(web_addr(false, 443)), "{file}: TCP/443 passed");
    }
    // A daemon with a good theme takes over the gated LAN: the device gets its 511.
    lab.start_netauth(&[]).unwrap();
    assert_captive(&c);
}
