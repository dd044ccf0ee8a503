//! A RADIUS user who comes back with a new MAC, and a device that walks to another
//! gateway, against a real FreeRADIUS. Within one gateway: an account at its device limit
//! (the Access-Accept's Port-Limit) signed in again from a new MAC continues its session
//! there, and FreeRADIUS receives a Stop for the old address and a Start for the new one
//! with the same User-Name and Class. Between gateways: FreeRADIUS runs netauth's shipped
//! `examples/freeradius/` configuration, and the second gateway's MAC authentication is
//! answered from the first one's accounting with what is left of the session.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use netauth_common::api::Via;
use netauth_lab::{
    Lab, TempNs,
    radius::{self, FreeRadius, FreeRadiusConfig, RadiusClientDef, is_acct, secret_file, station},
    wait_until,
};

const SECRET: &str = "r0aming-shared";

/// The address the first device comes back with.
const Y: &str = "06:00:00:00:01:99";

/// erin may use one device at a time (Port-Limit 1), 10 minutes, 5 MB.
const ERIN: &str = "erin Cleartext-Password := \"erin-pass\"\n\
\tSession-Timeout = 600, Port-Limit = 1, Class = \"plan-e\", ChilliSpot-Max-Total-Octets = 5000000\n";

/// A gateway with a FreeRADIUS (the harness's own site) in its upstream namespace.
fn radius_lab(extra: &[&str]) -> (Lab, FreeRadius) {
    let mut lab = Lab::new(2).unwrap();
    let fr = FreeRadius::start(
        &lab.up,
        &lab.dir.join("radius"),
        &FreeRadiusConfig {
            listen: IpAddr::V4(netauth_lab::UPSTREAM_V4),
            clients: vec![RadiusClientDef::new(
                "gw",
                IpAddr::V4("198.51.100.1".parse().unwrap()),
                SECRET,
            )],
            users: ERIN.into(),
            ..FreeRadiusConfig::default()
        },
    )
    .unwrap();
    let secret = secret_file(&lab.dir, SECRET);
    let mut args = vec![
        "--auth-method",
        "radius",
        "--radius-server",
        "198.51.100.2",
        "--radius-secret-file",
        &secret,
        "--radius-nas-identifier",
        "gw-one",
    ];
    args.extend_from_slice(extra);
    lab.start_netauth(&args).unwrap();
    (lab, fr)
}

#[test]
fn a_radius_account_at_its_device_limit_moves_its_session_and_accounting_to_a_new_mac() {
    let (mut lab, fr) = radius_lab(&[]);
    let (x, never) = (lab.clients[0].clone(), lab.clients[1].clone());
    assert_eq!(x.login_as("erin", "erin-pass").status, 303);
    assert_eq!(x.status_of(), Some(200));
    let first = lab.daemon().session(&x.mac).expect("X's session");
    let sid_x = first.acct_session_id.clone().unwrap();
    let start_x = fr
        .wait_accounting(|r| is_acct(r, "Start", &sid_x), Duration::from_secs(5))
        .expect("no Start for X");
    // The Start carries the session's limits counted from it.
    assert!(
        start_x
            .get_u64("Session-Timeout")
            .is_some_and(|t| (595..=600).contains(&t)),
        "{start_x:?}"
    );
    assert_eq!(
        start_x.get_u64("ChilliSpot-Max-Total-Octets"),
        Some(5_000_000)
    );
    assert!(x.echo(256 * 1024, 16 * 1024) > 0, "X reached nothing");
    x.wait_quiet();
    std::thread::sleep(Duration::from_secs(2));
    let before = lab.daemon().session(&x.mac).unwrap();
    let left = before.bytes_remaining.unwrap();
    assert!(left < 5_000_000 - 256 * 1024, "{before:?}");

    // The phone comes back with a randomised MAC: captive until erin signs in again,
    // which moves the session (erin may have one device).
    let y = x.readdress(Y, 99).unwrap();
    lab.gw.ip(&["neigh", "flush", "dev", "lan0"]).unwrap();
    assert_eq!(y.status_of(), Some(511));
    assert_eq!(y.login_as("erin", "erin-pass").status, 303);
    assert_eq!(y.status_of(), Some(200));
    let moved = lab.daemon().session(Y).expect("Y's session");
    assert_eq!(moved.via, Via::Radius);
    assert_eq!(moved.username.as_deref(), Some("erin"));
    assert!(
        moved.seconds_remaining <= before.seconds_remaining
            && moved.seconds_remaining + 10 >= before.seconds_remaining,
        "Y has {} s, X had {} s: not the rest of the session",
        moved.seconds_remaining,
        before.seconds_remaining
    );
    let y_quota = moved.quota_total.expect("Y's allowance");
    assert!(
        y_quota <= left && y_quota + 4096 >= left,
        "Y's allowance is {y_quota} B, X had {left} B left"
    );
    assert!(lab.daemon().session(&x.mac).is_none(), "X is still online");
    let sid_y = moved.acct_session_id.clone().unwrap();
    assert_ne!(sid_x, sid_y, "a new accounting session");

    // FreeRADIUS saw X's session stop and Y's start, as the same user with the same Class.
    let stop_x = fr
        .wait_accounting(|r| is_acct(r, "Stop", &sid_x), Duration::from_secs(5))
        .expect("no Stop for X");
    assert_eq!(stop_x.get("Acct-Terminate-Cause"), Some("NAS-Request"));
    assert_eq!(
        stop_x.get("Calling-Station-Id"),
        Some(station(&x.mac).as_str())
    );
    assert!(
        stop_x.input_octets().is_some_and(|o| o >= 256 * 1024),
        "{stop_x:?}"
    );
    let start_y = fr
        .wait_accounting(|r| is_acct(r, "Start", &sid_y), Duration::from_secs(5))
        .expect("no Start for Y");
    assert_eq!(start_y.get("Calling-Station-Id"), Some(station(Y).as_str()));
    assert_eq!(start_y.get("User-Name"), Some("erin"));
    assert_eq!(start_y.get("User-Name"), start_x.get("User-Name"));
    assert_eq!(start_y.get("Class"), Some("0x706c616e2d65"));
    assert_eq!(start_y.get("Class"), start_x.get("Class"));
    assert!(
        start_y
            .get_u64("Session-Timeout")
            .is_some_and(|t| t <= before.seconds_remaining + 1),
        "Y's Start reports the rest of the session: {start_y:?}"
    );
    let acct = fr.accounting();
    let (i_stop, i_start) = (
        acct.iter()
            .position(|r| is_acct(r, "Stop", &sid_x))
            .unwrap(),
        acct.iter()
            .position(|r| is_acct(r, "Start", &sid_y))
            .unwrap(),
    );
    assert!(i_stop < i_start, "the Stop for X comes first");
    assert!(lab.daemon().log_text().contains("moved"));
    assert_eq!(
        never.status_of(),
        Some(511),
        "a device that never signed in"
    );

    // X's MAC comes back: captive (its session is Y's now); Y's session goes on.
    let x = y.readdress(&x.mac, 10).unwrap();
    lab.gw.ip(&["neigh", "flush", "dev", "lan0"]).unwrap();
    assert_eq!(x.status_of(), Some(511));
    assert!(lab.daemon().session(Y).is_some());
    assert_eq!(
        never.status_of(),
        Some(511),
        "a device that never signed in"
    );
}

#[test]
fn with_refuse_a_radius_account_at_its_device_limit_is_told_and_keeps_its_session() {
    let (mut lab, fr) = radius_lab(&["--on-new-mac", "refuse"]);
    let (x, never) = (lab.clients[0].clone(), lab.clients[1].clone());
    assert_eq!(x.login_as("erin", "erin-pass").status, 303);
    let sid_x = lab
        .daemon()
        .session(&x.mac)
        .unwrap()
        .acct_session_id
        .unwrap();
    let y = x.readdress(Y, 99).unwrap();
    lab.gw.ip(&["neigh", "flush", "dev", "lan0"]).unwrap();
    let r = y.login_as("erin", "erin-pass");
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body.contains("as many devices"), "{}", r.body);
    assert_eq!(y.status_of(), Some(511));
    assert!(lab.daemon().session(Y).is_none());
    assert!(lab.daemon().session(&x.mac).is_some(), "X lost its session");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !fr.accounting().iter().any(|r| is_acct(r, "Stop", &sid_x)),
        "X's session was stopped"
    );
    let x = y.readdress(&x.mac, 10).unwrap();
    lab.gw.ip(&["neigh", "flush", "dev", "lan0"]).unwrap();
    assert_eq!(x.status_of(), Some(200));
    assert_eq!(
        never.status_of(),
        Some(511),
        "a device that never signed in"
    );
}

/// The roaming device's address (unlike any lab's own clients').
const ROAMER: &str = "02:00:00:00:02:32";
const ROAMER_HOST: u8 = 50;
/// frank's session: 25 s and 20 MB.
const FRANK_TIME: u64 = 25;
const FRANK_BYTES: u64 = 20_000_000;

/// Asks `fr` about `mac` as gateway A's MAC authentication would.
fn mac_auth(aaa: &TempNs, fr: &FreeRadius, mac: &str) -> String {
    let m = station(mac);
    radius::radclient(
        &aaa.ns,
        fr.auth_addr(),
        "auth",
        SECRET,
        &[
            ("User-Name", &m),
            ("User-Password", &m),
            ("Service-Type", "Call-Check"),
            ("Calling-Station-Id", &m),
            ("NAS-Identifier", "gw-a"),
            ("Message-Authenticator", "0x00"),
        ],
    )
    .unwrap()
    .0
}

#[test]
fn a_device_signed_in_at_one_gateway_passes_at_another_with_the_rest_of_its_session() {
    let aaa = TempNs::new("aaa").unwrap();
    let mut labs = [Lab::new(1).unwrap(), Lab::new(1).unwrap()];
    let links: Vec<_> = labs
        .iter()
        .enumerate()
        .map(|(i, lab)| radius::link_to_aaa(&aaa, &lab.gw, i as u8).unwrap())
        .collect();
    let users = format!(
        "frank Cleartext-Password := \"frank-pass\"\n\tSession-Timeout = {FRANK_TIME}, \
         Class = \"roam-plan\", ChilliSpot-Max-Total-Octets = {FRANK_BYTES}\n"
    );
    let fr = FreeRadius::start(
        &aaa,
        &labs[0].dir.join("aaa-radius"),
        &FreeRadiusConfig {
            clients: vec![
                RadiusClientDef::new("gw-a", links[0].0, SECRET),
                RadiusClientDef::new("gw-b", links[1].0, SECRET),
                // radclient below, asking as a gateway would.
                RadiusClientDef::new("local", IpAddr::V4(Ipv4Addr::LOCALHOST), SECRET),
            ],
            users,
            shipped: true,
            ..FreeRadiusConfig::default()
        },
    )
    .unwrap();
    // The roaming device gets an address of its own first (lab B's client has lab A's).
    let x = labs[0].clients[0].readdress(ROAMER, ROAMER_HOST).unwrap();
    let never = labs[1].clients[0].clone();
    for (i, lab) in labs.iter_mut().enumerate() {
        let secret = secret_file(&lab.dir, SECRET);
        let server = links[i].1.to_string();
        lab.start_netauth(&[
            "--auth-method",
            "radius",
            "--radius-server",
            &server,
            "--radius-secret-file",
            &secret,
            "--radius-nas-identifier",
            ["gw-a", "gw-b"][i],
            "--radius-mac-auth",
            "--radius-interim-interval",
            "2s",
        ])
        .unwrap();
    }

    // Unknown to RADIUS before it signs in: captive, and MAC authentication says no.
    assert_eq!(x.status_of(), Some(511));
    assert_eq!(mac_auth(&aaa, &fr, ROAMER), "Access-Reject");
    // frank signs in at A and uses some of his allowance; A reports it.
    assert_eq!(x.login_as("frank", "frank-pass").status, 303);
    let t0 = Instant::now();
    assert_eq!(x.status_of(), Some(200));
    let at_a = labs[0].daemon().session(ROAMER).unwrap();
    assert!(at_a.seconds_remaining <= FRANK_TIME, "{at_a:?}");
    assert_eq!(x.echo(1 << 20, 32 * 1024), 1 << 20);
    let reported = |fr: &FreeRadius| {
        fr.roaming_sessions("nasidentifier, callingstationid, octetsin + octetsout")
            .into_iter()
            .any(|r| {
                let f: Vec<&str> = r.split('|').collect();
                f[0] == "gw-a"
                    && f[1] == station(ROAMER)
                    && f[2].parse::<u64>().is_ok_and(|o| o > 2 << 20)
            })
    };
    assert!(
        wait_until(Duration::from_secs(8), || reported(&fr)),
        "A's accounting did not reach the session table: {:?}\n{}",
        fr.roaming_sessions("*"),
        fr.log_text()
    );

    // The device walks to gateway B's LAN (same MAC, a lease there): B's MAC
    // authentication lets it through without the portal, for what is left.
    let port = labs[0].hand_over(0, &labs[1]).unwrap();
    let x = x.readdress(ROAMER, ROAMER_HOST).unwrap();
    assert!(
        wait_until(Duration::from_secs(8), || x.status_of() == Some(200)),
        "B did not let the roaming device through:\n{}",
        labs[1].daemon().log_text()
    );
    let elapsed = t0.elapsed().as_secs();
    let at_b = labs[1].daemon().session(ROAMER).expect("B's session");
    assert_eq!(at_b.via, Via::RadiusMac);
    assert_eq!(at_b.username.as_deref(), Some("frank"));
    assert!(
        at_b.seconds_remaining > 0 && at_b.seconds_remaining <= FRANK_TIME - elapsed,
        "B grants {} s, {elapsed} s after a {FRANK_TIME} s session started",
        at_b.seconds_remaining
    );
    let quota = at_b.quota_total.expect("B's allowance");
    assert!(
        quota <= FRANK_BYTES - (2 << 20),
        "B grants {quota} B of {FRANK_BYTES} B after 2 MiB at A"
    );
    assert!(x.connects(SocketAddr::new(IpAddr::V4(netauth_lab::WEB_V4), 443)));
    // B's accounting is frank's, with his Class, in the same table.
    assert!(
        wait_until(Duration::from_secs(5), || {
            fr.roaming_sessions("nasidentifier, username, class, stopped IS NULL")
                .contains(&"gw-b|frank|0x726f616d2d706c616e|1".to_string())
        }),
        "{:?}",
        fr.roaming_sessions("*")
    );
    assert_eq!(
        never.status_of(),
        Some(511),
        "a device that never signed in"
    );

    // An operator ends the session at B: captive there, and the server does not let the
    // device in elsewhere for what is left at A, although A's session (which cannot know
    // the device left) is still open.
    let out = labs[1].daemon().cli(&["revoke", ROAMER]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(x.status_of(), Some(511));
    let rows = |fr: &FreeRadius| fr.roaming_sessions("nasidentifier, stopped IS NULL");
    assert!(
        wait_until(Duration::from_secs(5), || rows(&fr)
            .contains(&"gw-b|0".to_string())),
        "no Stop from B: {:?}",
        fr.roaming_sessions("*")
    );
    assert!(rows(&fr).contains(&"gw-a|1".to_string()), "{:?}", rows(&fr));
    assert!(
        t0.elapsed() < Duration::from_secs(FRANK_TIME),
        "the test ran too slowly"
    );
    assert_eq!(mac_auth(&aaa, &fr, ROAMER), "Access-Reject");

    // A's session ends when its time is up: every session is stopped, the server refuses
    // the device, and back on A's LAN it is captive there too.
    let end = Duration::from_secs(FRANK_TIME + 3);
    assert!(
        wait_until(end.saturating_sub(t0.elapsed()), || {
            rows(&fr).contains(&"gw-a|0".to_string())
        }),
        "A's session did not stop: {:?}",
        fr.roaming_sessions("*")
    );
    assert!(labs[0].daemon().session(ROAMER).is_none());
    assert_eq!(mac_auth(&aaa, &fr, ROAMER), "Access-Reject");
    labs[1].move_port(&port, &labs[0]).unwrap();
    let x = x.readdress(ROAMER, ROAMER_HOST).unwrap();
    assert_eq!(x.status_of(), Some(511));
    assert_eq!(
        never.status_of(),
        Some(511),
        "a device that never signed in"
    );
}
