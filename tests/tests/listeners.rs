//! The portal serves the LAN only: nothing on the uplink answers with a portal (HTTP,
//! HTTPS, the port-80 listener), and plain HTTP to the gateway itself gets a 302 to the
//! login page rather than a 511 (RFC 6585: an origin server should not send 511).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use netauth_lab::{GW_LAN_V4, Lab, PORTAL_PORT, http};

/// The gateway's address on the uplink.
const GW_UP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const API_PORT: u16 = 8443;

fn start_with_tls(lab: &mut Lab) {
    let (cert, key) = netauth_lab::make_cert(&lab.dir, "portal.lab.example", "192.0.2.1");
    lab.start_netauth(&[
        "--api-tls-cert",
        cert.to_str().unwrap(),
        "--api-tls-key",
        key.to_str().unwrap(),
    ])
    .unwrap();
}

#[test]
fn nothing_on_the_uplink_answers_with_the_portal() {
    let mut lab = Lab::new(1).unwrap();
    start_with_tls(&mut lab);
    let c = lab.clients[0].clone();
    // The LAN has its portal (HTTP and HTTPS)...
    assert_eq!(c.status_of(), Some(511));
    assert!(c.connects(SocketAddr::new(IpAddr::V4(GW_LAN_V4), API_PORT)));
    // ...the uplink has none, on either of the gateway's addresses.
    for ip in [IpAddr::V4(GW_UP), IpAddr::V4(GW_LAN_V4)] {
        for port in [PORTAL_PORT, 80, API_PORT] {
            let addr = SocketAddr::new(ip, port);
            let r = lab.up.run(move || {
                http::raw(
                    addr,
                    b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    Duration::from_secs(2),
                )
            });
            let r = r.unwrap();
            assert!(r.is_err(), "{addr} answered the uplink: {r:?}");
        }
    }
    // And the LAN still has it.
    assert_eq!(c.status_of(), Some(511));
}

#[test]
fn plain_http_to_the_gateway_itself_gets_a_redirect_not_511() {
    let mut lab = Lab::new(1).unwrap();
    lab.start_netauth(&[]).unwrap();
    let c = lab.clients[0].clone();
    let gw80 = SocketAddr::new(IpAddr::V4(GW_LAN_V4), 80);
    let r = c.get(gw80, None, "/admin").unwrap();
    assert_eq!(r.status, 302, "{r:?}");
    assert!(
        r.header("location")
            .is_some_and(|l| l.starts_with(&format!("http://192.0.2.1:{PORTAL_PORT}/login"))),
        "{r:?}"
    );
    // Anywhere else, plain HTTP is still answered 511.
    assert_eq!(c.status_of(), Some(511));
}
