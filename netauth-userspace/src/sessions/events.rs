//! What the session table tells others when a session starts or ends. An [`Observer`]
//! records what follows (accounting requests) in the same transaction as the change, so
//! a session is never on disk without its accounting, nor the reverse.

use rusqlite::Transaction;

use crate::model::{Acct, EndReason, Session};

pub enum Event<'a> {
    /// A session started, or was renewed by a new login; `replaced` is the accounting of
    /// the session it renews, which ends with it.
    Started {
        session: &'a Session,
        replaced: Option<&'a Acct>,
    },
    /// A session ended.
    Ended {
        session: &'a Session,
        reason: EndReason,
    },
}

pub trait Observer: Send + Sync {
    /// Records what follows from `event` (at `now_ms`, session clock) in `tx`, the
    /// transaction that records the event itself.
    fn record(&self, tx: &Transaction<'_>, event: &Event<'_>, now_ms: u64) -> rusqlite::Result<()>;
}

/// Nobody listens.
pub struct Nobody;

impl Observer for Nobody {
    fn record(&self, _: &Transaction<'_>, _: &Event<'_>, _: u64) -> rusqlite::Result<()> {
        Ok(())
    }
}
