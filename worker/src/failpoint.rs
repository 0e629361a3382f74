//! A fault-injection point for the crash tests: with `TOLLGATE_FAILPOINT_STALL_MS` set, a
//! job stalls this long inside its transaction, just before commit, so a test can kill the
//! process mid-job. Unset (always, outside tests) it costs one cached lookup.

use std::sync::OnceLock;
use std::time::Duration;

fn stall() -> Option<Duration> {
    static STALL: OnceLock<Option<Duration>> = OnceLock::new();
    *STALL.get_or_init(|| {
        std::env::var("TOLLGATE_FAILPOINT_STALL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
    })
}

pub async fn stall_before_commit() {
    if let Some(d) = stall() {
        tracing::warn!(?d, "failpoint: stalling before commit");
        tokio::time::sleep(d).await;
    }
}
