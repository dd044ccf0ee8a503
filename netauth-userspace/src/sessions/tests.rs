//! The table against real kernel maps (created for the test) and a real store.

use std::time::{Duration, SystemTime};

use super::*;
use crate::{
    accounting::Accounting,
    datapath::testing,
    model::{Acct, AcctStatus, Quota},
    store::{self, tempdir::Dir},
    vouchers,
};

pub(super) fn table(name: &str, max_clients: u32) -> (Arc<Sessions>, Store, Dir) {
    let (store, dir) = store::temp(name);
    let (clients, bindings) = testing::parts(max_clients);
    let sessions = Sessions::new(
        Parts {
            clients,
            bindings,
            store: store.clone(),
        },
        Defaults {
            session_timeout: Duration::from_secs(3600),
            idle_timeout: None,
            quota: Quota::default(),
            rate: crate::model::Rate::default(),
        },
        Accounting::new(),
        crate::clock::now(),
    )
    .expect("a session table");
    (sessions, store, dir)
}

pub(super) fn mac(n: u8) -> Mac {
    Mac([2, 0, 0, 0, 0, n])
}

fn one_voucher(store: &Store, devices: u32) -> String {
    let terms = vouchers::Terms {
        duration: Duration::from_secs(3600),
        quota: None,
        devices,
        rate: Default::default(),
    };
    vouchers::create(store, 1, terms, crate::clock::now()).unwrap()[0]
        .code
        .clone()
}

#[test]
fn a_session_extended_after_it_was_found_due_is_kept() {
    let (s, _store, _dir) = table("extend-race", 16);
    let now = crate::clock::now();
    let grant = Grant {
        duration: Some(Duration::from_secs(1)),
        ..Grant::by(Via::Admin)
    };
    s.authorize(mac(1), None, grant, now).unwrap();
    let later = now + Duration::from_secs(2);
    let due = s.due(later, true);
    assert_eq!(due, vec![(mac(1), EndReason::Expired)]);
    // The operator extends it between enforcement's pick and its end.
    s.extend(mac(1), Duration::from_secs(3600), later).unwrap();
    assert_eq!(s.end_due(due, later), 0);
    assert!(s.get(mac(1), later).is_some(), "the session is kept");
    assert!(s.is_authorized(mac(1)), "and the device still passes");
    // Without the extension it would have ended.
    assert_eq!(s.enforce(later + Duration::from_secs(7200), true), 1);
    assert!(!s.is_authorized(mac(1)));
}

#[test]
fn rate_limits_follow_the_session_into_the_datapath_and_out() {
    let (s, store, _dir) = table("rates", 16);
    let now = crate::clock::now();
    let grant = Grant {
        rate: crate::model::Rate {
            up: Some(2_000_000),
            down: Some(10_000_000),
        },
        ..Grant::by(Via::Admin)
    };
    let v = s.authorize(mac(1), None, grant, now).unwrap();
    assert_eq!(
        (v.rate_up_bps, v.rate_down_bps),
        (Some(2_000_000), Some(10_000_000))
    );
    s.authorize(mac(2), None, Grant::by(Via::Admin), now)
        .unwrap();
    assert_eq!(s.rate_stats().0, 1, "only the limited session");
    let stored = store.active().unwrap();
    let one = stored.iter().find(|x| x.mac == mac(1)).unwrap();
    assert_eq!(one.rate.down, Some(10_000_000), "stored with the session");
    // A change without an end; removing the last limit takes the map entry away.
    let c = crate::model::Change {
        rate_down: Some(None),
        rate_up: Some(None),
        ..Default::default()
    };
    let v = s.change(mac(1), c, now).unwrap();
    assert_eq!((v.rate_up_bps, v.rate_down_bps), (None, None));
    assert!(s.is_authorized(mac(1)), "still signed in");
    assert_eq!(s.rate_stats().0, 0);
    let c = crate::model::Change {
        rate_down: Some(Some(5_000_000)),
        ..Default::default()
    };
    s.change(mac(1), c, now).unwrap();
    assert_eq!(s.rate_stats().0, 1);
    s.end(mac(1), EndReason::Revoked, now).unwrap();
    assert_eq!(s.rate_stats().0, 0);
    assert!(!s.is_authorized(mac(1)));
}

#[test]
fn a_login_that_fails_leaves_its_voucher_unused() {
    // Room for one device, taken by another.
    let (s, store, _dir) = table("voucher-full", 1);
    let now = crate::clock::now();
    s.authorize(mac(1), None, Grant::by(Via::Admin), now)
        .unwrap();
    let code = one_voucher(&store, 1);
    let grant = vouchers::check(&store, &code, mac(2), now, false)
        .unwrap()
        .unwrap();
    let err = s.authorize(mac(2), None, grant, now).unwrap_err();
    assert!(matches!(err, SessionError::Full), "{err}");
    let v = &store.vouchers().unwrap()[0];
    assert_eq!(v.devices_used, 0, "no device slot spent");
    assert_eq!(v.first_used_ms, None, "its clock has not started");
    assert!(!s.is_authorized(mac(2)));
    // Once there is room, the same code still works, and is spent with the session.
    s.end(mac(1), EndReason::Revoked, now).unwrap();
    let grant = vouchers::check(&store, &code, mac(2), now, false)
        .unwrap()
        .unwrap();
    s.authorize(mac(2), None, grant, now).unwrap();
    let v = &store.vouchers().unwrap()[0];
    assert_eq!(v.devices_used, 1);
    assert!(v.first_used_ms.is_some());
}

#[test]
fn the_last_device_slot_goes_to_one_device_only() {
    let (s, store, _dir) = table("voucher-slot", 16);
    let now = crate::clock::now();
    let code = one_voucher(&store, 1);
    // Both devices were told the code is good...
    let a = vouchers::check(&store, &code, mac(1), now, false)
        .unwrap()
        .unwrap();
    let b = vouchers::check(&store, &code, mac(2), now, false)
        .unwrap()
        .unwrap();
    // ...but only the first to be authorized gets the slot.
    s.authorize(mac(1), None, a, now).unwrap();
    let err = s.authorize(mac(2), None, b, now).unwrap_err();
    assert!(matches!(err, SessionError::VoucherSpent), "{err}");
    assert!(s.is_authorized(mac(1)));
    assert!(
        !s.is_authorized(mac(2)),
        "the refused device's map entry is taken back"
    );
    assert_eq!(store.vouchers().unwrap()[0].devices_used, 1);
}

/// A one-device voucher with a 1000-byte allowance, used by `mac(1)` (which sent 400
/// bytes); its code.
fn voucher_in_use(s: &Sessions, store: &Store, now: SystemTime) -> String {
    let terms = vouchers::Terms {
        duration: Duration::from_secs(3600),
        quota: Some(1000),
        devices: 1,
        rate: Default::default(),
    };
    let code = vouchers::create(store, 1, terms, now).unwrap()[0]
        .code
        .clone();
    let g = vouchers::check(store, &code, mac(1), now, true)
        .unwrap()
        .unwrap();
    assert!(g.moves_from.is_empty(), "a free slot is an ordinary login");
    s.authorize(mac(1), None, g, now).unwrap();
    s.lock().sessions.get_mut(&mac(1)).unwrap().base.up_bytes = 400;
    code
}

#[test]
fn a_voucher_session_moves_to_a_new_address_with_what_it_had_left() {
    let (s, store, _dir) = table("voucher-move", 16);
    let now = crate::clock::now();
    let code = voucher_in_use(&s, &store, now);
    let old = s.get(mac(1), now).unwrap();
    // Refused without `transfer`; with it, the grant names the slot's holder.
    assert!(
        vouchers::check(&store, &code, mac(2), now, false)
            .unwrap()
            .is_none()
    );
    let later = now + Duration::from_secs(10);
    let g = vouchers::check(&store, &code, mac(2), later, true)
        .unwrap()
        .unwrap();
    assert_eq!(g.moves_from, vec![mac(1)]);
    let moved = s.authorize(mac(2), None, g, later).unwrap();
    assert_eq!(moved.expires, old.expires, "the same end, not a fresh hour");
    assert_eq!(
        moved.quota_total,
        Some(600),
        "what was left of the allowance"
    );
    assert!(s.is_authorized(mac(2)));
    assert!(!s.is_authorized(mac(1)), "the old address is cut off");
    assert!(s.get(mac(1), later).is_none());
    assert_eq!(s.recent_end_reason(mac(1), later), Some(EndReason::Moved));
    assert_eq!(store.vouchers().unwrap()[0].devices_used, 1);
    // The old address has no slot of its own any more: it can only move the session
    // back, never start a fresh allowance.
    let back = vouchers::check(&store, &code, mac(1), later, true)
        .unwrap()
        .unwrap();
    assert_eq!(back.moves_from, vec![mac(2)]);
    // After a restart the store has the moved session only.
    drop(s);
    let (clients, bindings) = testing::parts(16);
    let parts = Parts {
        clients,
        bindings,
        store: store.clone(),
    };
    let defaults = Defaults {
        session_timeout: Duration::from_secs(3600),
        idle_timeout: None,
        quota: Quota::default(),
        rate: crate::model::Rate::default(),
    };
    let s = Sessions::new(parts, defaults, Accounting::new(), crate::clock::now()).unwrap();
    assert!(s.is_authorized(mac(2)));
    assert!(!s.is_authorized(mac(1)));
}

#[test]
fn a_move_the_store_refuses_leaves_the_old_session_online() {
    let (s, store, _dir) = table("voucher-move-refused", 16);
    let now = crate::clock::now();
    let code = voucher_in_use(&s, &store, now);
    let g = vouchers::check(&store, &code, mac(2), now, true)
        .unwrap()
        .unwrap();
    // Revoked in the store between the check and the move: the transaction refuses it.
    store.voucher_revoke(&code).unwrap();
    let err = s.authorize(mac(2), None, g, now).unwrap_err();
    assert!(matches!(err, SessionError::VoucherSpent), "{err}");
    assert!(s.is_authorized(mac(1)), "the old address is put back");
    assert!(!s.is_authorized(mac(2)));
    let old = s.get(mac(1), now).unwrap();
    assert_eq!(old.up_bytes, 400, "with its counters");
    assert_eq!(s.recent_end_reason(mac(1), now), None);
    // A device that never signed in stays out.
    assert!(!s.is_authorized(mac(3)));
}

#[test]
fn a_session_another_voucher_may_have_paid_for_is_not_moved() {
    let (s, store, _dir) = table("voucher-move-other", 16);
    let now = crate::clock::now();
    let code = voucher_in_use(&s, &store, now);
    // The same device then signs in with a second voucher: its session may be that one's.
    let other = one_voucher(&store, 1);
    let g = vouchers::check(&store, &other, mac(1), now, true)
        .unwrap()
        .unwrap();
    s.authorize(mac(1), None, g, now).unwrap();
    let g = vouchers::check(&store, &code, mac(2), now, true)
        .unwrap()
        .unwrap();
    let err = s.authorize(mac(2), None, g, now).unwrap_err();
    assert!(matches!(err, SessionError::VoucherSpent), "{err}");
    assert!(s.is_authorized(mac(1)));
    assert!(!s.is_authorized(mac(2)));
}

#[test]
fn accounting_start_and_stop_are_recorded_with_the_session() {
    let (s, store, _dir) = table("acct-events", 16);
    let now = crate::clock::now();
    let acct = Acct {
        username: "alice".into(),
        session_id: "S1".into(),
        interim_s: 60,
        ..Acct::default()
    };
    let grant = Grant {
        acct: Some(acct.clone()),
        ..Grant::by(Via::Radius)
    };
    s.authorize(mac(1), None, grant.clone(), now).unwrap();
    // A new login of the same device: the old accounting session stops, a new starts.
    let renewed = Grant {
        acct: Some(Acct {
            session_id: "S2".into(),
            ..acct
        }),
        ..grant
    };
    s.authorize(mac(1), None, renewed, now).unwrap();
    s.end(mac(1), EndReason::Idle, now).unwrap();
    let q: Vec<_> = store
        .acct_head(10)
        .unwrap()
        .into_iter()
        .map(|(_, r)| (r.acct.session_id, r.status, r.cause))
        .collect();
    assert_eq!(
        q,
        vec![
            ("S1".to_string(), AcctStatus::Start, None),
            ("S1".to_string(), AcctStatus::Stop, Some(10)),
            ("S2".to_string(), AcctStatus::Start, None),
            ("S2".to_string(), AcctStatus::Stop, Some(4)),
        ]
    );
}

#[test]
fn sessions_and_their_addresses_survive_a_restart_of_the_table() {
    let (store, _dir) = store::temp("restore");
    let (clients, bindings) = testing::parts(16);
    let defaults = Defaults {
        session_timeout: Duration::from_secs(3600),
        idle_timeout: None,
        quota: Quota::default(),
        rate: crate::model::Rate::default(),
    };
    let now = crate::clock::now();
    let parts = Parts {
        clients,
        bindings,
        store: store.clone(),
    };
    let s = Sessions::new(parts, defaults, Accounting::new(), now).unwrap();
    let ip: std::net::IpAddr = "192.0.2.10".parse().unwrap();
    s.authorize(mac(1), Some(ip), Grant::by(Via::Admin), now)
        .unwrap();
    drop(s);
    // A reboot: fresh (empty) kernel maps, the same store.
    let (clients, bindings) = testing::parts(16);
    let parts = Parts {
        clients,
        bindings,
        store,
    };
    let s = Sessions::new(parts, defaults, Accounting::new(), SystemTime::now()).unwrap();
    assert!(s.is_authorized(mac(1)), "restored into the map");
    assert!(
        !s.is_authorized(mac(2)),
        "a device that never signed in stays out"
    );
    assert_eq!(s.get(mac(1), crate::clock::now()).unwrap().ips, vec![ip]);
}

#[test]
fn a_batch_that_does_not_fit_in_the_map_changes_nothing() {
    let (s, store, _dir) = table("batch-full", 8);
    let now = crate::clock::now();
    s.authorize(mac(1), None, Grant::by(Via::Admin), now)
        .unwrap();
    // Ten new devices, room for seven: refused whole, with how far it got.
    let grants: Vec<(Mac, Grant)> = (10..20).map(|n| (mac(n), Grant::by(Via::Admin))).collect();
    match s.authorize_many(&grants, now) {
        Err(SessionError::BatchFull { fitted: 7, new: 10 }) => {}
        other => panic!("expected a full map, got {other:?}"),
    }
    assert_eq!(s.count(), 1);
    assert!(
        (10..20).all(|n| !s.is_authorized(mac(n))),
        "a map entry stayed"
    );
    assert_eq!(store.active().unwrap().len(), 1, "a session was stored");
    // One that fits (a renewal and seven new devices) is taken whole.
    let mut grants: Vec<(Mac, Grant)> = (10..17).map(|n| (mac(n), Grant::by(Via::Admin))).collect();
    grants.push((mac(1), Grant::by(Via::Admin)));
    let done = s.authorize_many(&grants, now).unwrap();
    assert_eq!((done.new, done.renewed), (7, 1));
    assert_eq!(s.count(), 8);
    assert_eq!(store.active().unwrap().len(), 8);
    // A device named twice is refused before anything changes.
    let twice = vec![
        (mac(30), Grant::by(Via::Admin)),
        (mac(30), Grant::by(Via::Admin)),
    ];
    assert!(matches!(
        s.authorize_many(&twice, now),
        Err(SessionError::Repeated(m)) if m == mac(30)
    ));
    assert!(!s.is_authorized(mac(30)));
}

#[test]
fn a_radius_account_at_its_device_limit_moves_its_session_and_accounting() {
    let (s, store, _dir) = table("radius-move", 16);
    let now = crate::clock::now();
    let login = |sid: &str, transfer: bool| Grant {
        duration: Some(Duration::from_secs(600)),
        quota: Quota {
            total: Some(1000),
            ..Quota::default()
        },
        acct: Some(Acct {
            username: "erin".into(),
            session_id: sid.into(),
            class: vec![b"plan-e".to_vec()],
            interim_s: 60,
            radius_auth: true,
            ..Acct::default()
        }),
        devices: Some(1),
        transfer,
        ..Grant::by(Via::Radius)
    };
    s.authorize(mac(1), None, login("S1", true), now).unwrap();
    s.lock().sessions.get_mut(&mac(1)).unwrap().base.down_bytes = 300;
    let later = now + Duration::from_secs(10);
    // With `refuse`, the limit holds and nothing changes.
    let err = s
        .authorize(mac(2), None, login("S2", false), later)
        .unwrap_err();
    assert!(matches!(err, SessionError::DeviceLimit), "{err}");
    assert!(s.is_authorized(mac(1)) && !s.is_authorized(mac(2)));
    // With `transfer`, the new address continues the session: its end, what was left.
    let mut other = login("S3", true);
    if let Some(a) = other.acct.as_mut() {
        a.class = vec![b"another".to_vec()];
    }
    let moved = s.authorize(mac(2), None, other, later).unwrap();
    let old_end = now + Duration::from_secs(600);
    assert_eq!(moved.expires, unix_ms(old_end).div_ceil(1000));
    assert_eq!(moved.quota_total, Some(700));
    assert_eq!(moved.username.as_deref(), Some("erin"));
    assert!(!s.is_authorized(mac(1)) && s.is_authorized(mac(2)));
    assert_eq!(s.recent_end_reason(mac(1), later), Some(EndReason::Moved));
    let q: Vec<_> = store
        .acct_head(10)
        .unwrap()
        .into_iter()
        .map(|(_, r)| {
            let class = r.acct.class.first().cloned().unwrap_or_default();
            let t = r.session_timeout_s;
            (r.acct.session_id, r.mac, r.status, r.cause, class, t)
        })
        .collect();
    let plan = b"plan-e".to_vec();
    assert_eq!(
        q,
        vec![
            (
                "S1".into(),
                mac(1),
                AcctStatus::Start,
                None,
                plan.clone(),
                Some(600)
            ),
            (
                "S1".into(),
                mac(1),
                AcctStatus::Stop,
                Some(10),
                plan.clone(),
                Some(600)
            ),
            // The old session's Class; Session-Timeout counted from this Start.
            (
                "S3".into(),
                mac(2),
                AcctStatus::Start,
                None,
                plan,
                Some(590)
            ),
        ]
    );
    // A device of another account is not a holder of erin's slot.
    let mut bob = login("S4", true);
    if let Some(a) = bob.acct.as_mut() {
        a.username = "bob".into();
    }
    s.authorize(mac(3), None, bob, later).unwrap();
    assert!(s.is_authorized(mac(2)) && s.is_authorized(mac(3)));
}
