use super::{packet::chilli, *};
use crate::model::{Acct, AcctRecord, AcctStatus, Usage, Via};

fn radius() -> Radius {
    Radius {
        settings: RadiusSettings {
            auth_servers: vec!["198.51.100.2:1812".parse().unwrap()],
            acct_servers: vec!["198.51.100.2:1813".parse().unwrap()],
            secret_file: "/nonexistent".into(),
            nas_identifier: "gw".into(),
            nas_ip: None,
            timeout: Duration::from_secs(1),
            retries: 1,
            interim: Duration::from_secs(60),
            mac_auth: false,
            mac_password_file: None,
        },
        called_station: "02-00-00-00-00-01:Guest".into(),
        secret: b"s3cret".to_vec(),
        mac_password: None,
        auth: Vec::new(),
        acct: Vec::new(),
        nas_ip: Some("198.51.100.1".parse().unwrap()),
        next_port: AtomicU32::new(1),
        stats: RadiusStats::default(),
    }
}

#[test]
fn accounting_splits_octets_into_gigawords_and_carries_the_cause() {
    let r = radius();
    let rec = AcctRecord {
        status: AcctStatus::Stop,
        mac: "02:00:5e:10:00:01".parse().unwrap(),
        ip: Some("192.0.2.10".parse().unwrap()),
        acct: Acct {
            username: "alice".into(),
            session_id: "ABCD".into(),
            class: vec![b"plan".to_vec()],
            interim_s: 60,
            nas_port: 7,
            radius_auth: true,
            ..Acct::default()
        },
        session_time_s: 3600,
        usage: Usage {
            up_bytes: (5u64 << 32) + 123,
            up_packets: 10,
            down_bytes: 77,
            down_packets: 3,
        },
        cause: Some(crate::model::EndReason::Idle.terminate_cause()),
        session_timeout_s: Some(600),
        quota: Some(crate::model::Quota {
            total: Some((3u64 << 32) + 9),
            ..crate::model::Quota::default()
        }),
        event_ms: 1_000_000,
    };
    let raw = r.accounting_packet(&rec, 9, 4_000_000);
    assert!(Packet::verify_hashed_request(&raw, b"s3cret"));
    let p = Packet::decode(&raw).unwrap();
    assert_eq!(p.get_u32(attr::ACCT_STATUS_TYPE), Some(2));
    assert_eq!(p.get_u32(attr::ACCT_INPUT_OCTETS), Some(123));
    assert_eq!(p.get_u32(attr::ACCT_INPUT_GIGAWORDS), Some(5));
    assert_eq!(p.get_u32(attr::ACCT_OUTPUT_OCTETS), Some(77));
    assert_eq!(p.get_u32(attr::ACCT_OUTPUT_GIGAWORDS), Some(0));
    assert_eq!(p.get_u32(attr::ACCT_INPUT_PACKETS), Some(10));
    assert_eq!(p.get_u32(attr::ACCT_TERMINATE_CAUSE), Some(4));
    assert_eq!(p.get_u32(attr::ACCT_DELAY_TIME), Some(3000));
    assert_eq!(p.get_u32(attr::EVENT_TIMESTAMP), Some(1000));
    assert_eq!(p.get_u32(attr::NAS_PORT), Some(7));
    assert_eq!(p.get(attr::CLASS), Some(&b"plan"[..]));
    // The limits as counted from the Start, for a server that tells other gateways.
    assert_eq!(p.get_u32(attr::SESSION_TIMEOUT), Some(600));
    assert_eq!(
        p.vendor_u32(chilli::VENDOR, chilli::MAX_TOTAL_OCTETS),
        Some(9)
    );
    assert_eq!(
        p.vendor_u32(chilli::VENDOR, chilli::MAX_TOTAL_GIGAWORDS),
        Some(3)
    );
    assert_eq!(p.vendor_u32(chilli::VENDOR, chilli::MAX_INPUT_OCTETS), None);
    assert_eq!(
        p.get_str(attr::CALLING_STATION_ID).unwrap(),
        "02-00-5E-10-00-01"
    );
    assert_eq!(p.get(attr::NAS_IP_ADDRESS), Some(&[198, 51, 100, 1][..]));
}

#[test]
fn accept_attributes_become_the_grant() {
    let r = radius();
    let mut a = Packet::new(packet::ACCESS_ACCEPT, 1);
    a.add_u32(attr::SESSION_TIMEOUT, 600);
    a.add_u32(attr::IDLE_TIMEOUT, 0);
    a.add_u32(attr::ACCT_INTERIM_INTERVAL, 5);
    a.add(attr::CLASS, b"one".to_vec());
    a.add(attr::CLASS, b"two".to_vec());
    let vsa = |t: u8, v: u32| {
        let mut b = chilli::VENDOR.to_be_bytes().to_vec();
        b.extend_from_slice(&[t, 6]);
        b.extend_from_slice(&v.to_be_bytes());
        b
    };
    a.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_TOTAL_OCTETS, 1000));
    a.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_TOTAL_GIGAWORDS, 2));
    a.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_OUTPUT_OCTETS, 500));
    let g = r
        .grant_from(&a, "alice", "S1".into(), 3, Via::Radius)
        .unwrap();
    assert_eq!(g.duration, Some(Duration::from_secs(600)));
    assert_eq!(g.idle, None, "Idle-Timeout 0 means none");
    assert_eq!(g.quota.total, Some((2u64 << 32) + 1000));
    assert_eq!(g.quota.down, Some(500));
    assert_eq!(g.quota.up, None);
    let acct = g.acct.unwrap();
    assert_eq!(acct.interim_s, MIN_SERVER_INTERIM, "clamped to 60 s");
    assert_eq!(acct.class, vec![b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(acct.username, "alice");
    assert_eq!(acct.nas_port, 3);
}
fn vsa(t: u8, v: u32) -> Vec<u8> {
    let mut b = chilli::VENDOR.to_be_bytes().to_vec();
    b.extend_from_slice(&[t, 6]);
    b.extend_from_slice(&v.to_be_bytes());
    b
}

#[test]
fn absurd_accept_values_are_clamped_to_the_limits() {
    let r = radius();
    let mut a = Packet::new(packet::ACCESS_ACCEPT, 1);
    a.add_u32(attr::SESSION_TIMEOUT, u32::MAX);
    a.add_u32(attr::IDLE_TIMEOUT, u32::MAX);
    a.add_u32(attr::ACCT_INTERIM_INTERVAL, u32::MAX);
    a.add(
        attr::VENDOR_SPECIFIC,
        vsa(chilli::MAX_TOTAL_OCTETS, u32::MAX),
    );
    a.add(
        attr::VENDOR_SPECIFIC,
        vsa(chilli::MAX_TOTAL_GIGAWORDS, u32::MAX),
    );
    a.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_INPUT_GIGAWORDS, 1));
    let g = r
        .grant_from(&a, "alice", "S1".into(), 3, Via::Radius)
        .unwrap();
    let max = crate::config::MAX_DURATION;
    assert_eq!(g.duration, Some(max));
    assert_eq!(g.idle, Some(max));
    assert_eq!(g.acct.unwrap().interim_s, max.as_secs());
    assert_eq!(g.quota.total, Some(crate::config::MAX_BYTES));
    assert_eq!(g.quota.up, Some(1 << 32), "within the limit: unchanged");
    assert_eq!(g.quota.down, None);
}

#[test]
fn an_accept_with_an_unreadable_limit_is_refused() {
    let r = radius();
    let mut a = Packet::new(packet::ACCESS_ACCEPT, 1);
    a.add(attr::SESSION_TIMEOUT, vec![0, 0, 1]);
    assert_eq!(
        r.grant_from(&a, "alice", "S1".into(), 3, Via::Radius)
            .unwrap_err(),
        LimitError::Malformed("Session-Timeout")
    );
    let mut a = Packet::new(packet::ACCESS_ACCEPT, 1);
    let mut short = vsa(chilli::MAX_TOTAL_OCTETS, 5);
    short.pop();
    a.add(attr::VENDOR_SPECIFIC, short);
    assert!(
        r.grant_from(&a, "alice", "S1".into(), 3, Via::Radius)
            .is_err()
    );
    // Other vendors' attributes and other ChilliSpot ones are not netauth's business.
    let mut a = Packet::new(packet::ACCESS_ACCEPT, 1);
    a.add(attr::VENDOR_SPECIFIC, vec![0, 0, 0, 9, 1, 3, 7]);
    a.add(attr::VENDOR_SPECIFIC, vsa(4, 1000));
    assert!(
        r.grant_from(&a, "alice", "S1".into(), 3, Via::Radius)
            .is_ok()
    );
}

#[test]
fn limits_check_refuses_what_clamped_lowers() {
    let mut p = Packet::new(packet::COA_REQUEST, 1);
    p.add(
        attr::VENDOR_SPECIFIC,
        vsa(chilli::MAX_OUTPUT_GIGAWORDS, 1 << 21),
    );
    let l = limits_from(&p).unwrap();
    assert_eq!(l.quota.unwrap().down, Some(1 << 53));
    assert_eq!(l.check(), Ok(l));
    let mut p = Packet::new(packet::COA_REQUEST, 1);
    p.add(
        attr::VENDOR_SPECIFIC,
        vsa(chilli::MAX_OUTPUT_GIGAWORDS, 1 << 21),
    );
    p.add(attr::VENDOR_SPECIFIC, vsa(chilli::MAX_OUTPUT_OCTETS, 1));
    let l = limits_from(&p).unwrap();
    assert_eq!(
        l.check(),
        Err(LimitError::TooLarge(
            "the download allowance",
            (1 << 53) + 1
        ))
    );
    let mut reported = Vec::new();
    let c = l.clamped(|e| reported.push(e));
    assert_eq!(c.quota.unwrap().down, Some(crate::config::MAX_BYTES));
    assert_eq!(reported.len(), 1);
    let mut p = Packet::new(packet::COA_REQUEST, 1);
    p.add_u32(attr::SESSION_TIMEOUT, 315_576_001);
    assert!(matches!(
        limits_from(&p).unwrap().check(),
        Err(LimitError::TooLong("Session-Timeout", 315_576_001))
    ));
}
