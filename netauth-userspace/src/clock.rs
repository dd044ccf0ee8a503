//! Time that does not jump. Gateways often boot without a real-time clock and have their
//! wall clock stepped by NTP minutes or days later; session lengths and idle limits must
//! not follow such steps.
//!
//! The daemon works in one "session clock": CLOCK_BOOTTIME (monotonic, counts suspend)
//! plus the wall-clock offset seen when the process started. It never steps. Wall time
//! only matters for what people and other systems read (the API's `started`/`expires`,
//! RADIUS Event-Timestamp, the rows of the store): [`to_wall_ms`] maps session-clock
//! times to the wall clock as it is now, following every step [`detect_step`] saw.
//!
//! Across restarts the store keeps a [`Mark`] (boot id, boot time and wall time at the
//! last save): within the same boot the time that passed is known exactly; after a
//! reboot it is taken from the wall clock only when that clock is trustworthy (the
//! kernel says it is synchronised, or the operator says so), else no time is assumed to
//! have passed (see `Sessions::new`).

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicI64, AtomicU8, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Deserialize;

/// A step of the wall clock smaller than this is noise (slewing, scheduling), not a step.
const STEP_THRESHOLD_MS: i64 = 1000;

/// Whether to believe the wall clock after a reboot (`--trust-wall-clock`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// When the kernel says the clock is synchronised (an NTP client cleared STA_UNSYNC).
    #[default]
    Auto,
    /// Always (a gateway with a battery-backed clock).
    Always,
    /// Never: time spent switched off is not counted.
    Never,
}

struct Clock {
    /// Wall clock minus boot clock when the process started (ms).
    offset0: i64,
    /// How far the wall clock has stepped since (ms).
    drift: AtomicI64,
}

static CLOCK: OnceLock<Clock> = OnceLock::new();
static TRUST: AtomicU8 = AtomicU8::new(0);

fn clock() -> &'static Clock {
    CLOCK.get_or_init(|| Clock {
        offset0: real_wall_ms() - boot_ms() as i64,
        drift: AtomicI64::new(0),
    })
}

/// CLOCK_BOOTTIME in ms: monotonic, and counts time the machine was suspended.
pub fn boot_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// The wall clock as the kernel reports it now (ms since the Unix epoch).
pub fn real_wall_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// The session clock now, in ms (close to Unix ms; never steps).
pub fn now_ms() -> u64 {
    (boot_ms() as i64 + clock().offset0).max(0) as u64
}

/// The session clock now, as a `SystemTime` for the interfaces that take one.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(now_ms())
}

/// The wall-clock time (Unix ms) of a session-clock time, as the wall clock reads now.
pub fn to_wall_ms(t: u64) -> u64 {
    (t as i64 + clock().drift.load(Ordering::Relaxed)).max(0) as u64
}

/// The session-clock time of a wall-clock time (Unix ms) as the wall clock reads now.
pub fn from_wall_ms(w: u64) -> u64 {
    (w as i64 - clock().drift.load(Ordering::Relaxed)).max(0) as u64
}

/// Whether the wall clock has stepped since the last look; if so, by how many ms (the
/// step is absorbed: [`to_wall_ms`] follows it from now on). Call it from one place only.
pub fn detect_step() -> Option<i64> {
    let c = clock();
    let expected = boot_ms() as i64 + c.offset0 + c.drift.load(Ordering::Relaxed);
    let step = real_wall_ms() - expected;
    if step.abs() < STEP_THRESHOLD_MS {
        return None;
    }
    c.drift.fetch_add(step, Ordering::Relaxed);
    Some(step)
}

/// Whether the kernel considers the wall clock synchronised (adjtimex(2) does not
/// answer TIME_ERROR, i.e. an NTP client has cleared STA_UNSYNC).
pub fn kernel_synced() -> bool {
    // SAFETY: adjtimex with modes 0 only reads; the struct is ours.
    unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        libc::adjtimex(&mut t) != libc::TIME_ERROR
    }
}

pub fn set_trust(t: Trust) {
    TRUST.store(t as u8, Ordering::Relaxed);
}

/// Whether the wall clock may be believed about time that passed while netauth was
/// not running.
pub fn wall_trusted() -> bool {
    match TRUST.load(Ordering::Relaxed) {
        x if x == Trust::Always as u8 => true,
        x if x == Trust::Never as u8 => false,
        _ => kernel_synced(),
    }
}

/// This boot's identity (changes at every boot).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Where both clocks stood at a save: lets the next start tell how much time passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub boot_id: String,
    pub boot_ms: u64,
    pub wall_ms: u64,
}

impl Mark {
    /// Both clocks now.
    pub fn now() -> Self {
        Self {
            boot_id: boot_id(),
            boot_ms: boot_ms(),
            wall_ms: to_wall_ms(now_ms()),
        }
    }

    /// How far the wall times stored at this mark must move to read right against the
    /// wall clock now (ms, + later): the wall clock stepped while netauth was stopped
    /// (same boot: the boot clock says how long that was), or after a reboot, nothing is
    /// known of the time that passed unless the wall clock is trusted.
    pub fn shift_to_now(&self, trusted: bool) -> i64 {
        let wall_now = real_wall_ms();
        if self.boot_id == boot_id() {
            let elapsed = boot_ms().saturating_sub(self.boot_ms) as i64;
            return wall_now - (self.wall_ms as i64 + elapsed);
        }
        if trusted {
            // Believe the clock, except that time does not run backwards.
            (wall_now - self.wall_ms as i64).min(0)
        } else {
            // As if no time had passed since the mark.
            wall_now - self.wall_ms as i64
        }
    }
}

/// "1 h 2 min", for log lines about steps.
pub fn describe(ms: i64) -> String {
    let s = ms.unsigned_abs() / 1000;
    let sign = if ms < 0 { "-" } else { "+" };
    if s >= 86_400 {
        format!("{sign}{}d {}h", s / 86_400, s % 86_400 / 3600)
    } else if s >= 3600 {
        format!("{sign}{}h {}min", s / 3600, s % 3600 / 60)
    } else {
        format!("{sign}{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_clock_follows_the_boot_clock() {
        let a = now_ms();
        std::thread::sleep(Duration::from_millis(20));
        let b = now_ms();
        assert!(b >= a + 15, "{a} {b}");
        // Close to the wall clock when nothing stepped.
        assert!((to_wall_ms(b) as i64 - real_wall_ms()).abs() < 1000);
        assert_eq!(from_wall_ms(to_wall_ms(b)), b);
    }

    #[test]
    fn a_mark_of_this_boot_measures_the_time_that_passed() {
        let m = Mark::now();
        // Same boot, no step: nothing to shift, whatever the trust.
        assert!(m.shift_to_now(false).abs() < 1000);
        assert!(m.shift_to_now(true).abs() < 1000);
        // A mark from a boot an hour ago, written with a clock a day behind: distrusted,
        // the stored times move to now (no time passed); trusted, they stay.
        let other = Mark {
            boot_id: "another boot".into(),
            boot_ms: 5,
            wall_ms: (real_wall_ms() - 86_400_000) as u64,
        };
        assert!((other.shift_to_now(false) - 86_400_000).abs() < 1000);
        assert_eq!(other.shift_to_now(true), 0);
        // A clock that went backwards across the reboot is not believed.
        let ahead = Mark {
            wall_ms: (real_wall_ms() + 3_600_000) as u64,
            ..other
        };
        assert!((ahead.shift_to_now(true) + 3_600_000).abs() < 1000);
    }

    #[test]
    fn steps_read_well() {
        assert_eq!(describe(3_600_000), "+1h 0min");
        assert_eq!(describe(-30 * 86_400_000), "-30d 0h");
        assert_eq!(describe(2500), "+2s");
    }
}
