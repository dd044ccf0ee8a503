//! Operating-system connectivity probes. A request recognised here is answered with
//! `302 Found` to the login page instead of 511: Android treats a 511 on its probe as
//! "no internet" and ChromeOS only accepts 302/307 with a Location, while every platform
//! below opens its sign-in page on a 302 (see docs in README, "Portal detection").
//!
//! The table is data: add a row to support another probe.

/// One probe: a host, and the path it fetches (`None`: any path on that host).
pub struct Probe {
    pub platform: &'static str,
    pub host: &'static str,
    pub path: Option<&'static str>,
}

pub const PROBES: &[Probe] = &[
    // Android (AOSP NetworkMonitor) and Chrome browser.
    p(
        "android",
        "connectivitycheck.gstatic.com",
        Some("/generate_204"),
    ),
    p(
        "android",
        "connectivitycheck.android.com",
        Some("/generate_204"),
    ),
    p("android", "clients3.google.com", Some("/generate_204")),
    p("android", "clients1.google.com", Some("/generate_204")),
    p("android", "play.googleapis.com", Some("/generate_204")),
    p("android", "www.google.com", Some("/gen_204")),
    p("android", "www.google.com", Some("/generate_204")),
    // Android on Chinese SIMs (AOSP NetworkMonitor's config_captive_portal_http_url
    // overlays for mainland China, where the gstatic.com hosts are unreachable).
    p(
        "android",
        "connectivitycheck.gstatic.cn",
        Some("/generate_204"),
    ),
    p("android", "www.googleapis.cn", Some("/generate_204")),
    // GrapheneOS's own defaults (Settings > Network > Internet connectivity checks).
    p(
        "android",
        "connectivitycheck.grapheneos.network",
        Some("/generate_204"),
    ),
    p("android", "grapheneos.online", Some("/gen_204")),
    p("android", "grapheneos.online", Some("/generate_204")),
    // OEM builds' overlays: Xiaomi MIUI/HyperOS, Huawei EMUI, vivo OriginOS.
    p("android", "connect.rom.miui.com", Some("/generate_204")),
    p(
        "android",
        "connectivitycheck.platform.hicloud.com",
        Some("/generate_204"),
    ),
    p("android", "wifi.vivo.com.cn", Some("/generate_204")),
    // ChromeOS (shill) uses the same Google endpoints as Android.
    p("chromeos", "www.gstatic.com", Some("/generate_204")),
    // shill's fallback HTTP probe URLs (portal_detector.cc, kDefaultFallbackHttpUrls).
    p("chromeos", "www.play.googleapis.com", Some("/generate_204")),
    p("chromeos", "safebrowsing.google.com", Some("/generate_204")),
    p("chromeos", "www.googleapis.com", Some("/generate_204")),
    // Apple iOS / macOS captive network assistant.
    p("apple", "captive.apple.com", None),
    p("apple", "www.apple.com", Some("/library/test/success.html")),
    p("apple", "www.appleiphonecell.com", None),
    p("apple", "www.itools.info", None),
    p("apple", "www.ibook.info", None),
    p("apple", "www.airport.us", None),
    p("apple", "www.thinkdifferent.us", None),
    // Windows NCSI.
    p(
        "windows",
        "www.msftconnecttest.com",
        Some("/connecttest.txt"),
    ),
    p("windows", "www.msftconnecttest.com", Some("/redirect")),
    p("windows", "www.msftncsi.com", Some("/ncsi.txt")),
    // NCSI over IPv6 on older builds (Windows 7 to 10 1511).
    p("windows", "ipv6.msftncsi.com", Some("/ncsi.txt")),
    p(
        "windows",
        "ipv6.msftconnecttest.com",
        Some("/connecttest.txt"),
    ),
    // Firefox.
    p("firefox", "detectportal.firefox.com", None),
    // NetworkManager on common desktops.
    p(
        "networkmanager",
        "nmcheck.gnome.org",
        Some("/check_network_status.txt"),
    ),
    p("networkmanager", "connectivity-check.ubuntu.com", None),
    p("networkmanager", "network-test.debian.org", Some("/nm")),
    p(
        "networkmanager",
        "fedoraproject.org",
        Some("/static/hotspot.txt"),
    ),
    p("networkmanager", "networkcheck.kde.org", None),
    p("networkmanager", "conncheck.opensuse.org", None),
    p(
        "networkmanager",
        "ping.archlinux.org",
        Some("/nm-check.txt"),
    ),
];

/// Any other host's `/generate_204` or `/gen_204`: the path is the Android/ChromeOS probe
/// convention, so a host nobody listed (another OEM's, a custom ROM's) is almost certainly
/// probing too, and reads a 511 as "no internet". Answered 302 like the listed ones; a web
/// page of that name would be captive anyway, and the 302 leads to the same login.
pub const ANY_HOST_204: Probe = Probe {
    platform: "generate_204 on an unlisted host",
    host: "*",
    path: None,
};

const fn p(platform: &'static str, host: &'static str, path: Option<&'static str>) -> Probe {
    Probe {
        platform,
        host,
        path,
    }
}

/// The probe a request matches, given its Host (any case, optional port) and path.
pub fn match_probe(host: &str, path: &str) -> Option<&'static Probe> {
    let host = strip_port(host).trim_end_matches('.');
    let path = path.split('?').next().unwrap_or(path);
    PROBES
        .iter()
        .find(|p| p.host.eq_ignore_ascii_case(host) && p.path.is_none_or(|want| want == path))
        .or_else(|| matches!(path, "/generate_204" | "/gen_204").then_some(&ANY_HOST_204))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host;
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_platforms_probe() {
        for (host, path, platform) in [
            ("connectivitycheck.gstatic.com", "/generate_204", "android"),
            ("captive.apple.com", "/hotspot-detect.html", "apple"),
            ("www.msftconnecttest.com", "/connecttest.txt", "windows"),
            ("detectportal.firefox.com", "/canonical.html", "firefox"),
            (
                "nmcheck.gnome.org",
                "/check_network_status.txt",
                "networkmanager",
            ),
            ("www.gstatic.com", "/generate_204", "chromeos"),
        ] {
            assert_eq!(
                match_probe(host, path).map(|p| p.platform),
                Some(platform),
                "{host}{path}"
            );
        }
    }

    #[test]
    fn tolerates_case_port_and_query() {
        assert!(match_probe("ConnectivityCheck.GStatic.com:80", "/generate_204?x=1").is_some());
        assert!(match_probe("captive.apple.com.", "/").is_some());
    }

    #[test]
    fn unlisted_hosts_probing_generate_204_are_probes() {
        for (host, path) in [
            ("example.com", "/generate_204"),
            ("connectivitycheck.someoem.example", "/gen_204?x=1"),
            ("", "/generate_204"),
        ] {
            assert_eq!(
                match_probe(host, path).map(|p| p.host),
                Some("*"),
                "{host}{path}"
            );
        }
        // Listed hosts still name their platform.
        assert_eq!(
            match_probe("connect.rom.miui.com", "/generate_204").map(|p| p.platform),
            Some("android")
        );
        assert_eq!(
            match_probe("ipv6.msftncsi.com", "/ncsi.txt").map(|p| p.platform),
            Some("windows")
        );
    }

    #[test]
    fn ordinary_requests_are_not_probes() {
        assert!(match_probe("example.com", "/generate_2040").is_none());
        assert!(match_probe("example.com", "/x/generate_204").is_none());
        assert!(match_probe("connectivitycheck.gstatic.com", "/other").is_none());
        assert!(match_probe("www.google.com", "/").is_none());
    }
}
