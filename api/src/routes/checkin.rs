//! `POST /checkin` (003): daily free credits, once per UTC day.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::routes::credits::{Envelope, ok};
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
