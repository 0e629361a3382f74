//! A fault-injection point for the crash tests: with `TOLLGATE_FAILPOINT_STALL_MS` set, a
//! job stalls this long inside its transaction, just before commit, so a test can kill the
//! process (or let the time limit abort the run) mid-job. `TOLLGATE_FAILPOINT_STALL_ATTEMPTS`
//! limits it to the first N attempts. Unset (always, outside tests) it costs one cached
//! lookup.

use std::sync::OnceLock;
use std::time::Duration;

fn stall() -> Option<(Duration, i32)> {
    static STALL: OnceLock<Option<(Duration, i32)>> = OnceLock::new();
    *STALL.get_or_init(|| {
        let ms = std::env::var("TOLLGATE_FAILPOINT_STALL_MS").ok()?.parse().ok()?;
        let attempts =
            std::env::var("TOLLGATE_FAILPOINT_STALL_ATTEMPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(i32::MAX);
        Some((Duration::from_millis(ms), attempts))
    })
}

pub async fn stall_before_commit(attempt: i32) {
    if let Some((d, _)) = stall().filter(|(_, n)| attempt <= *n) {
        tracing::warn!(?d, "failpoint: stalling before commit");
        tokio::time::sleep(d).await;
    }
}

/// `TOLLGATE_FAILPOINT_SCAN_STALL_MS`: the chain scan pauses after each committed range,
/// so a test can stop a worker mid-scan.
pub async fn stall_after_scan_range() {
    static STALL: OnceLock<Option<Duration>> = OnceLock::new();
    let stall = *STALL.get_or_init(|| {
        std::env::var("TOLLGATE_FAILPOINT_SCAN_STALL_MS").ok()?.parse().ok().map(Duration::from_millis)
    });
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
}
