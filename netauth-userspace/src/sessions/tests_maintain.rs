//! The enforcement tick and checkpoints against the table's index (`active`): what is due
//! is found without a walk of every session, and what changed is written.

use std::time::Duration;

use super::tests::{mac, table};
use super::*;
use crate::model::{Change, Quota};

#[test]
fn the_tick_finds_what_is_due_through_the_index_after_every_change() {
    let (s, _store, _dir) = table("index", 16);
    let now = crate::clock::now();
    let secs = |n| Some(Duration::from_secs(n));
    let grant = |duration, idle, quota| Grant {
        duration,
        idle,
        quota,
        ..Grant::by(Via::Admin)
    };
    let over = Quota {
        total: Some(100),
        ..Quota::default()
    };
    s.authorize(mac(1), None, grant(secs(1), None, Quota::default()), now)
        .unwrap();
    s.authorize(
        mac(2),
        None,
        grant(secs(3600), secs(1), Quota::default()),
        now,
    )
    .unwrap();
    s.authorize(mac(3), None, grant(secs(3600), None, over), now)
        .unwrap();
    s.authorize(mac(4), None, grant(secs(3600), None, Quota::default()), now)
        .unwrap();
    assert!(s.lock().sessions.index_is_true());
    let later = now + Duration::from_secs(2);
    let mut due = s.due(later, true);
    due.sort_by_key(|(m, _)| *m);
    assert_eq!(
        due,
        vec![(mac(1), EndReason::Expired), (mac(2), EndReason::Idle)]
    );
    // Idle limits are read once a second, not at every tick.
    assert_eq!(s.due(later, false), vec![(mac(1), EndReason::Expired)]);

    // An extension, a CoA's new time and counters past a quota all move the answer.
    s.extend(mac(1), Duration::from_secs(3600), later).unwrap();
    let coa = Change {
        session_timeout_s: Some(1),
        ..Change::default()
    };
    s.change(mac(4), coa, later).unwrap();
    s.lock().sessions.get_mut(&mac(3)).unwrap().base.up_bytes = 400;
    assert!(s.lock().sessions.index_is_true());
    let mut due = s.due(later, false);
    due.sort_by_key(|(m, _)| *m);
    assert_eq!(
        due,
        vec![(mac(3), EndReason::Quota), (mac(4), EndReason::Expired)]
    );

    // A quota taken away by a CoA leaves the counted set; an ended session leaves all.
    let unlimited = Change {
        quota: Some(Quota::default()),
        ..Change::default()
    };
    s.change(mac(3), unlimited, later).unwrap();
    assert_eq!(s.enforce(later, false), 1, "mac 4's time is up");
    assert!(!s.is_authorized(mac(4)) && s.is_authorized(mac(3)));
    assert!(s.lock().sessions.index_is_true());
    assert_eq!(s.lock().sessions.quota_len(), 0);

    // A change made in place, and a batch renewal, keep the index true as well.
    s.lock().sessions.get_mut(&mac(3)).unwrap().ends_ms = 0;
    assert!(s.lock().sessions.index_is_true());
    assert_eq!(s.due(later, false), vec![(mac(3), EndReason::Expired)]);
    let batch = [mac(1), mac(5)].map(|m| (m, grant(secs(1), secs(60), over)));
    s.authorize_many(&batch, later).unwrap();
    assert!(s.lock().sessions.index_is_true());
    assert_eq!(s.lock().sessions.quota_len(), 2);
    let end = later + Duration::from_secs(2);
    let mut due = s.due(end, false);
    due.sort_by_key(|(m, _)| *m);
    assert_eq!(
        due,
        vec![
            (mac(1), EndReason::Expired),
            (mac(3), EndReason::Expired),
            (mac(5), EndReason::Expired)
        ]
    );
}

#[test]
fn idle_limits_are_read_only_once_they_can_have_run_out_and_activity_files_them_later() {
    let (s, _store, _dir) = table("idle-index", 16);
    let now = crate::clock::now();
    let idle = |secs| Grant {
        duration: Some(Duration::from_secs(3600)),
        idle: Some(Duration::from_secs(secs)),
        ..Grant::by(Via::Admin)
    };
    s.authorize(mac(1), None, idle(60), now).unwrap();
    s.authorize(mac(2), None, idle(120), now).unwrap();
    s.authorize(mac(3), None, Grant::by(Via::Admin), now)
        .unwrap();
    let at = |secs| now + Duration::from_secs(secs);
    let idle_due = |secs| -> Vec<Mac> {
        s.lock()
            .sessions
            .idle_due_by(crate::model::unix_ms(at(secs)))
            .copied()
            .collect()
    };
    // Nobody can have gone idle before their limit has passed since the last activity:
    // no counters are read for them.
    assert!(idle_due(59).is_empty());
    assert_eq!(idle_due(60), vec![mac(1)]);
    // Activity at 50 s (what a counter read records) files the session under 110 s.
    s.lock().sessions.get_mut(&mac(1)).unwrap().last_active_ms = crate::model::unix_ms(at(50));
    assert!(s.lock().sessions.index_is_true());
    assert!(idle_due(109).is_empty());
    assert!(
        s.due(at(100), true).is_empty(),
        "active at 50 s, limit 60 s"
    );
    assert_eq!(idle_due(120), vec![mac(1), mac(2)]);
    let mut due = s.due(at(121), true);
    due.sort_by_key(|(m, _)| *m);
    assert_eq!(
        due,
        vec![(mac(1), EndReason::Idle), (mac(2), EndReason::Idle)]
    );
    assert_eq!(s.enforce(at(121), true), 2);
    assert!(!s.is_authorized(mac(1)) && !s.is_authorized(mac(2)));
    assert!(s.is_authorized(mac(3)), "no idle limit: never read for one");
    assert!(!s.is_authorized(mac(9)), "never signed in: captive");
    assert!(s.lock().sessions.index_is_true());
    assert!(
        idle_due(10_000).is_empty(),
        "ended sessions leave the index"
    );
}

#[test]
fn a_checkpoint_writes_every_change_of_counters_and_only_changes() {
    let (s, store, _dir) = table("checkpoint", 16);
    let now = crate::clock::now();
    for n in [1, 2] {
        s.authorize(mac(n), None, Grant::by(Via::Admin), now)
            .unwrap();
    }
    s.checkpoint(now);
    let stored = |m: Mac| {
        store
            .active()
            .unwrap()
            .into_iter()
            .find(|x| x.mac == m)
            .unwrap()
            .usage
    };
    assert_eq!(stored(mac(1)).up_bytes, 0);
    s.lock().sessions.get_mut(&mac(1)).unwrap().base.up_bytes = 500;
    s.checkpoint(now + Duration::from_secs(10));
    assert_eq!(
        stored(mac(1)).up_bytes,
        500,
        "a change since the last one is written"
    );
    assert_eq!(stored(mac(2)).up_bytes, 0);
    // A session that ended and came back is a new row: its counters are written even if
    // they equal the old session's.
    s.end(mac(1), EndReason::Revoked, now + Duration::from_secs(11))
        .unwrap();
    let back = now + Duration::from_secs(12);
    s.authorize(mac(1), None, Grant::by(Via::Admin), back)
        .unwrap();
    s.lock().sessions.get_mut(&mac(1)).unwrap().base.up_bytes = 500;
    s.checkpoint(back);
    assert_eq!(stored(mac(1)).up_bytes, 500);
}
