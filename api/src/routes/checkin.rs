//! `POST /checkin` (credits API): daily free credits, once per UTC day.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, ok};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use billing::DomainError;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckIn {
    /// The UTC day checked in, `YYYY-MM-DD`.
    date: String,
    /// Credits granted.
    credits: i64,
    /// The balance after the grant, in credits.
    balance: i64,
}

/// Daily check-in.
#[utoipa::path(post, path = "/checkin", security(("bearer" = [])),
    responses((status = 200, body = Envelope<CheckIn>), (status = 409, description = "Already checked in today")))]
pub async fn check_in(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<CheckIn>>, ApiError> {
    principal.require(Scope::Write)?;
    let done = billing::checkin::check_in(&state.db, principal.account_id).await.map_err(|e| match e {
        DomainError::Conflict(m) => ApiError::new(axum::http::StatusCode::CONFLICT, "already_checked_in", m),
        other => other.into(),
    })?;
    Ok(ok(CheckIn { date: done.day.to_string(), credits: done.credits, balance: done.balance.to_credits() }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckinConfig {
    daily_credits: i64,
    enabled: bool,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<entities::checkin_config::Model> for CheckinConfig {
    fn from(c: entities::checkin_config::Model) -> Self {
        CheckinConfig { daily_credits: c.daily_credits, enabled: c.enabled, updated_at: c.updated_at }
    }
}

/// The check-in configuration (admin).
#[utoipa::path(get, path = "/admin/checkin/config", security(("bearer" = [])), responses((status = 200, body = Envelope<CheckinConfig>)))]
pub async fn get_config(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<CheckinConfig>>, ApiError> {
    principal.require(Scope::Admin)?;
    Ok(ok(billing::checkin::config(&state.db).await?.into()))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct ConfigUpdate {
    #[schema(minimum = 0, maximum = 1_000_000)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    daily_credits: Option<i64>,
    enabled: Option<bool>,
}

/// Change the check-in configuration (admin): `daily_credits` (0–1,000,000), `enabled`.
/// Fields left out keep their value; the next check-in uses the new one.
#[utoipa::path(put, path = "/admin/checkin/config", security(("bearer" = [])), request_body = ConfigUpdate, responses((status = 200, body = Envelope<CheckinConfig>)))]
pub async fn put_config(
    State(state): State<AppState>,
    principal: Principal,
    crate::extract::ApiJson(req): crate::extract::ApiJson<ConfigUpdate>,
) -> Result<Json<Envelope<CheckinConfig>>, ApiError> {
    principal.require(Scope::Admin)?;
    let current = billing::checkin::config(&state.db).await?;
    let cfg = billing::checkin::set_config(
        &state.db,
        req.daily_credits.unwrap_or(current.daily_credits),
        req.enabled.unwrap_or(current.enabled),
    )
    .await?;
    Ok(ok(cfg.into()))
}
