//! The gate's clock for grants and escalation (DESIGN §13): the system clock
//! in production, one that follows tokio's (pausable) time in tests.

use chrono::{DateTime, Utc};

/// Tells the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Wall time that advances with tokio's clock: starts at the system time
/// when made, then moves as `tokio::time::Instant` does — so a test with
/// paused time (`tokio::time::advance`) moves grant expiry and escalation
/// without waiting.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    wall: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading the system time now.
    pub fn new() -> Self {
        TokioClock {
            wall: Utc::now(),
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default();
        self.wall + elapsed
    }
}

/// A clock that moves only when told to: for tests of reminders, grants
/// and escalation across real I/O (where pausing tokio's time would fire
/// network timeouts). Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock reading the system time now, until advanced.
    pub fn new() -> Self {
        ManualClock {
            now: std::sync::Arc::new(std::sync::Mutex::new(Utc::now())),
        }
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or_default();
        match self.now.lock() {
            Ok(mut t) => *t += by,
            Err(poisoned) => *poisoned.into_inner() += by,
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        match self.now.lock() {
            Ok(t) => *t,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}
