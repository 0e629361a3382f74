//! The one tracing subscriber factory used by every binary.
//!
//! `RUST_LOG` filters (default `info`); `LOG_FORMAT=json` switches to one JSON object per
//! line. No secret reaches a log line: secrets are `Secret`, which prints as `[redacted]`,
//! and request logging records method, path and status, never headers or bodies.

use crate::config::LogFormat;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,tower_http=info"));
    let registry = tracing_subscriber::registry().with(filter);
    // `try_init` so tests that start several components in one process do not panic.
    let _ = match format {
        LogFormat::Json => registry.with(fmt::layer().json().flatten_event(true).with_current_span(true)).try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().with_target(false)).try_init(),
    };
}
