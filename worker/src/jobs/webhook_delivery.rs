//! Delivers one event to one endpoint, signed as Standard Webhooks says: `webhook-id`,
//! `webhook-timestamp`, `webhook-signature`. The target is checked after DNS resolution and
//! the request pinned to the address checked (no redirect followed), within
//! `WEBHOOK_TIMEOUT_MS`, the answer read up to a cap. Every attempt is recorded. A non-2xx
//! answer is retried by the outbox with its backoff; an endpoint failing throughout
//! `WEBHOOK_DISABLE_AFTER` is disabled and its account told.

use super::JobError;
use crate::runner::Ctx;
use billing::jobs::contracts::{DeliveryOutcome, WebhookDelivery};
use billing::webhooks::{endpoints, signing, target};
use entities::WebhookEndpointStatus;
use entities::webhook_endpoints::{Column as EpCol, Entity as Endpoints};
use entities::webhook_events::Entity as Events;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::time::Instant;

/// The most of an answer read; the first [`KEPT`] bytes are kept with the attempt.
const READ_CAP: usize = 64 * 1024;
const KEPT: usize = 1024;

fn skipped(why: &str) -> DeliveryOutcome {
    DeliveryOutcome { status: None, skipped: Some(why.to_owned()) }
}

pub async fn handle(ctx: &Ctx, job: &WebhookDelivery) -> Result<DeliveryOutcome, JobError> {
    let Some(event) = Events::find_by_id(job.event_id.clone()).one(&ctx.db).await? else {
        return Err(JobError::Terminal(format!("webhook event {} not found", job.event_id)));
    };
    let endpoint =
        Endpoints::find_by_id(job.endpoint_id).filter(EpCol::AccountId.eq(event.account_id)).one(&ctx.db).await?;
    let Some(endpoint) = endpoint else { return Ok(skipped("the endpoint was deleted")) };
    // A redelivery by hand goes even to a disabled endpoint: its owner asked for it.
    if endpoint.status == WebhookEndpointStatus::Disabled && job.manual.is_none() {
        return Ok(skipped("the endpoint is disabled"));
    }
    let secret = signing::open(ctx.settings.jwt_secret.expose().as_bytes(), endpoint.id, &endpoint.secret_sealed)
        .ok_or_else(|| JobError::Terminal("the endpoint's secret cannot be opened: rotate it".into()))?;
    let started = Instant::now();
    let sent = send(ctx, &endpoint.url, &event, &secret).await;
    let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status, response, error) = match &sent {
        Ok((status, body)) => (Some(*status), Some(body.clone()), None),
        Err(e) => (None, None, Some(e.clone())),
    };
    endpoints::record_attempt(&ctx.db, endpoint.id, &event.id, status, latency, response, error).await?;
    let delivered = status.is_some_and(|s| (200..300).contains(&s));
    let disabled =
        endpoints::after_delivery(&ctx.db, &endpoint, delivered, ctx.settings.webhooks.disable_after).await?;
    match (delivered, &sent) {
        (true, _) => Ok(DeliveryOutcome { status, skipped: None }),
        (false, _) if disabled => Err(JobError::Terminal("the endpoint failed throughout its window: disabled".into())),
        (false, Ok((status, _))) => Err(JobError::Retryable(format!("the endpoint answered {status}"))),
        (false, Err(e)) => Err(JobError::Retryable(e.clone())),
    }
}

/// Sends the event; the status and the start of the body, or why nothing was answered.
async fn send(
    ctx: &Ctx,
    url: &str,
    event: &entities::webhook_events::Model,
    secret: &str,
) -> Result<(u16, String), String> {
    let t = target::parse(url).map_err(|e| e.to_string())?;
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((t.host.as_str(), t.port))
        .await
        .map_err(|_| target::Refused::Unresolved.to_string())?
        .collect();
    target::check_addresses(&addrs, ctx.settings.webhooks.allow_private_targets).map_err(|e| e.to_string())?;
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ctx.settings.webhooks.timeout)
        .user_agent("Tollgate-Webhooks/1");
    // Connect to the address just checked, not to whatever a second lookup would answer.
    if t.host.parse::<std::net::IpAddr>().is_err() {
        client = client.resolve_to_addrs(&t.host, &addrs);
    }
    let client = client.build().map_err(|e| format!("client: {e}"))?;
    let timestamp = chrono::Utc::now().timestamp();
    let signature = signing::sign(secret, &event.id, timestamp, &event.payload)
        .ok_or_else(|| "the secret is malformed".to_owned())?;
    let mut res = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(event.payload.clone())
        .send()
        .await
        .map_err(|e| if e.is_timeout() { "timed out".to_owned() } else { format!("no answer: {}", e.without_url()) })?;
    let status = res.status().as_u16();
    let mut body = Vec::new();
    while body.len() < READ_CAP {
        match res.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(KEPT);
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
