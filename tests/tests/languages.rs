//! Every visitor's language: each shipped catalogue chosen by Accept-Language (q-values
//! honoured) on the 511 page and the login page, the switcher's `?lang=` carried through
//! the login to the status page, garbage headers answered in English, and a real Chromium
//! signing in in German and in Arabic (right to left).
//!
//! Screenshots are kept under target/test-artifacts/languages/.

use std::{net::SocketAddr, time::Duration};

use netauth_lab::{
    Client, Lab, PORTAL_PORT, UPSTREAM_MARKER, WEB_V4, http, portal_addr, web_addr,
    webdriver::in_browser, workspace_root,
};

/// (tag, an Accept-Language that must choose it, the 511 page's heading, the login button)
const SHIPPED: [(&str, &str, &str, &str); 12] = [
    (
        "en",
        "en-GB,en;q=0.9",
        "Network Authentication Required",
        "Accept and connect",
    ),
    (
        "de",
        "de-AT, de;q=0.9, en;q=0.5",
        "Anmeldung am Netzwerk erforderlich",
        "Akzeptieren und verbinden",
    ),
    (
        "fr",
        "en;q=0.2, fr-CA;q=0.8",
        "Authentification réseau requise",
        "Accepter et se connecter",
    ),
    (
        "es",
        "es-MX",
        "Se requiere autenticación de red",
        "Aceptar y conectar",
    ),
    (
        "it",
        "sv, it;q=0.7",
        "Autenticazione di rete richiesta",
        "Accetta e connetti",
    ),
    (
        "pt",
        "pt-BR,pt;q=0.9",
        "Autenticação de rede necessária",
        "Aceitar e ligar",
    ),
    (
        "nl",
        "nl-BE",
        "Netwerkaanmelding vereist",
        "Accepteren en verbinden",
    ),
    (
        "pl",
        "pl",
        "Wymagane uwierzytelnienie w sieci",
        "Akceptuję i łączę",
    ),
    (
        "tr",
        "tr-TR",
        "Ağ kimlik doğrulaması gerekli",
        "Kabul et ve bağlan",
    ),
    (
        "ar",
        "ar-EG,ar;q=0.9,en;q=0.1",
        "يلزم تسجيل الدخول إلى الشبكة",
        "موافقة واتصال",
    ),
    ("zh-Hans", "zh-CN,zh;q=0.9", "需要网络认证", "接受并连接"),
    (
        "ja",
        "ja-JP,ja;q=0.9",
        "ネットワーク認証が必要です",
        "同意して接続",
    ),
];

fn get(c: &Client, addr: SocketAddr, path: &str, extra: &str) -> http::Response {
    let host = match addr {
        SocketAddr::V4(a) if a.port() == 80 => a.ip().to_string(),
        a => a.to_string(),
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    c.ns.run(move || http::raw(addr, req.as_bytes(), Duration::from_secs(3)))
        .unwrap()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn assert_captive(c: &Client) {
    let r = get(c, web_addr(false, 80), "/", "");
    assert_eq!(r.status, 511, "{r:?}");
    assert!(!r.body.contains(UPSTREAM_MARKER));
    assert!(!c.connects(web_addr(false, 443)), "TCP/443 while captive");
}

#[test]
fn each_shipped_language_is_chosen_by_accept_language_and_the_switcher_carries_through_login() {
    let mut lab = Lab::new(2).unwrap();
    lab.start_netauth(&[]).unwrap();
    let (c, never) = (lab.clients[0].clone(), lab.clients[1].clone());
    let portal = portal_addr(false);
    for (tag, accept, heading, button) in SHIPPED {
        let header = format!("Accept-Language: {accept}\r\n");
        let dir = if tag == "ar" { "rtl" } else { "ltr" };
        let html_tag = format!("<html lang=\"{tag}\" dir=\"{dir}\">");
        let r = get(&never, web_addr(false, 80), "/news", &header);
        assert_eq!(r.status, 511, "{tag}: {r:?}");
        assert!(r.body.contains(&html_tag), "{tag}: {}", r.body);
        assert!(r.body.contains(heading), "{tag}: {}", r.body);
        let r = get(&never, portal, "/login", &header);
        assert_eq!(r.status, 200, "{tag}: {r:?}");
        assert!(r.body.contains(&html_tag), "{tag}: {}", r.body);
        assert!(r.body.contains(button), "{tag}: {}", r.body);
        assert!(r.body.len() < 20_000, "{tag}: {} bytes", r.body.len());
        // The switcher links every other language, by its tag, and names the current one.
        for (other, ..) in SHIPPED {
            let want = if other == tag {
                format!("<strong lang=\"{other}\">")
            } else {
                format!("href=\"/login?lang={other}\"")
            };
            assert!(r.body.contains(&want), "{tag}: no {want} in the switcher");
        }
    }

    // Headers a browser would never send, or a flood, are answered in English.
    for accept in [
        "*",
        ";;;,,q=",
        "de;q=7",
        "de;q=0",
        "\u{7f}\u{7f}",
        &"x".repeat(4000),
        &"de-DE-x-y-z;q=0.001,".repeat(300),
    ] {
        let r = get(
            &never,
            web_addr(false, 80),
            "/",
            &format!("Accept-Language: {accept}\r\n"),
        );
        assert!(
            r.status == 511 || r.status == 431 || r.status == 400,
            "{accept:.40}: {r:?}"
        );
        if r.status == 511 {
            assert!(r.body.contains("lang=\"en\""), "{accept:.40}: {}", r.body);
        }
    }

    // ?lang= beats the browser, and the form carries it through the login to the status
    // page: a German browser choosing Japanese ends on a Japanese status page.
    let german = "Accept-Language: de\r\n";
    let r = get(&c, portal, "/login?lang=ja", german);
    assert!(
        r.body.contains("lang=\"ja\"") && r.body.contains("同意して接続"),
        "{}",
        r.body
    );
    let r =
        c.ns.run(|| {
            http::submit(
                portal_addr(false),
                "/login?lang=ja",
                "/login",
                "accept=1&lang=ja",
            )
        })
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/status?lang=ja"));
    let r = get(&c, portal, "/status?lang=ja", german);
    assert!(r.body.contains("オンラインです"), "{}", r.body);
    assert!(r.body.contains("name=\"lang\" value=\"ja\""), "{}", r.body);
    // An unknown ?lang= falls back to the browser's language.
    let r = get(&c, portal, "/status?lang=xx-%3Cscript%3E", german);
    assert!(r.body.contains("Sie sind online"), "{}", r.body);
    assert!(!r.body.contains("<script>"));

    assert_captive(&never);
}

#[test]
fn chromium_signs_in_in_german_and_in_arabic_right_to_left() {
    let mut lab = Lab::new(3).unwrap();
    lab.start_netauth(&["--venue-name", "Café Central"])
        .unwrap();
    let never = lab.clients[2].clone();
    let root = workspace_root().join("target/test-artifacts/languages");
    for (i, (tag, button, heading)) in [
        (
            "de",
            "Akzeptieren und verbinden",
            "Willkommen bei Café Central",
        ),
        ("ar", "موافقة واتصال", "مرحبًا بك في Café Central"),
    ]
    .into_iter()
    .enumerate()
    {
        let c = lab.clients[i].clone();
        let shots = root.join(tag);
        let start = format!("http://{WEB_V4}/some/page");
        let accept = format!("--accept-lang={tag}");
        let seen = {
            let (shots, start) = (shots.clone(), start.clone());
            in_browser(&c.ns, &lab.dir, &[&accept], &shots.clone(), move |wd| {
                wd.cmd(
                    "POST",
                    "/url",
                    Some(serde_json::json!({"url": start.clone()})),
                )?;
                let login = format!("http://192.0.2.1:{PORTAL_PORT}/login");
                wd.wait_for_url("the login page", |u| u.starts_with(&login))?;
                let got = (
                    wd.text("button[name=\"accept\"]")?,
                    wd.text("h1")?,
                    wd.attribute("html", "dir")?,
                    wd.attribute("html", "lang")?,
                );
                wd.screenshot(&shots.join("login.png"))?;
                wd.click("button[name=\"accept\"]")?;
                let fin = wd.wait_for_url("the original page", |u| u == start)?;
                Ok((got, fin, wd.source()?))
            })
        };
        let ((got_button, got_heading, dir, lang), fin, source) =
            seen.unwrap_or_else(|e| panic!("{tag}: {e:#}"));
        assert_eq!(got_button, button, "{tag}");
        assert_eq!(got_heading, heading, "{tag}");
        let want_dir = if tag == "ar" { "rtl" } else { "ltr" };
        assert_eq!(dir, serde_json::json!(want_dir), "{tag}");
        assert_eq!(lang, serde_json::json!(tag), "{tag}");
        assert_eq!(fin, start, "{tag}");
        assert!(source.contains(UPSTREAM_MARKER), "{tag}");
        let png = std::fs::read(shots.join("login.png")).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "{tag}");
    }
    assert_captive(&never);
}
