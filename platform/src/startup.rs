//! What every binary does first and last: load and validate the settings (naming every
//! bad value), start tracing, warn about development defaults; map the outcome to an exit
//! code with the cause logged.

use crate::config::Settings;
use std::process::ExitCode;

/// Settings from the environment, with tracing started. On invalid settings, prints them
/// all and returns the exit code to end with (2).
pub fn init() -> Result<Settings, ExitCode> {
    // rustls is built with two crypto providers (aws-lc-rs for the database, Stripe and the
    // signing-key fetches; ring, which reqwest's TLS brings along): with both compiled in,
    // a client that asks for the process default would find none and panic. aws-lc-rs it
    // is, before any client is built. (An error means one was installed already.)
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let settings = Settings::from_env().map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })?;
    crate::telemetry::init(settings.log_format);
    if !settings.dev_defaults.is_empty() {
        tracing::warn!(settings = ?settings.dev_defaults, "using development defaults; set these in production");
    }
    Ok(settings)
}

pub fn exit(result: anyhow::Result<()>, process: &str) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "{process} failed");
            ExitCode::FAILURE
        }
    }
}
