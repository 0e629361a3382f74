//! The Stripe client (async-stripe), pointed at `STRIPE_API_BASE` (the fake in tests).
//! Every call carries the job's key as its `Idempotency-Key`, so a retried job repeats the
//! same request and Stripe answers with the first result instead of doing it twice.

use crate::jobs::JobError;
use platform::config::Settings;
use std::time::Duration;
use stripe::StripeError;
use stripe_client_core::{IdempotencyKey, RequestStrategy};

pub fn client(settings: &Settings) -> Result<Option<stripe::Client>, String> {
    if settings.stripe_secret_key.is_empty() {
        return Ok(None);
    }
    stripe::ClientBuilder::new(settings.stripe_secret_key.expose())
        .url(settings.stripe_api_base.clone())
        .timeout(Duration::from_secs(20))
        .build()
        .map(Some)
        .map_err(|e| format!("STRIPE_API_BASE / STRIPE_SECRET_KEY: {e}"))
}

/// Run once, with this idempotency key (our retries are the outbox's, durable).
pub fn idempotent(key: &str) -> Result<RequestStrategy, JobError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| JobError::Terminal(format!("idempotency key: {e}")))
}

/// Stripe's 5xx, 429, network faults and timeouts are worth retrying; its 4xx are not.
pub fn classify(e: StripeError) -> JobError {
    match e {
        StripeError::Stripe(err, status) if status >= 500 || status == 429 || status == 409 => {
            JobError::Retryable(format!("stripe {status}: {}", err.message.clone().unwrap_or_default()))
        }
        StripeError::Stripe(err, status) => {
            JobError::Terminal(format!("stripe {status}: {}", err.message.clone().unwrap_or_default()))
        }
        StripeError::ClientError(m) => JobError::Retryable(format!("stripe unreachable: {m}")),
        StripeError::Timeout => JobError::Retryable("stripe timed out".into()),
        other => JobError::Terminal(format!("stripe: {other}")),
    }
}
