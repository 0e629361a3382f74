//! What the operator dashboard shows beside the queues and reconciliation: the ledger's
//! totals by kind of account, and the latest provider webhooks with what became of them.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, ok};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use entities::{LedgerAccountKind, StripeEventStatus};
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
use serde::Serialize;

/// One kind of ledger account and the sum of its balances, in micro-USD (credits for
/// customers' accounts as well: 1 credit = 10,000 micro-USD).
#[derive(Serialize, utoipa::ToSchema)]
pub struct LedgerTotal {
    kind: LedgerAccountKind,
    accounts: u64,
    /// Micro-USD.
    balance: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LedgerTotals {
    totals: Vec<LedgerTotal>,
    /// Zero when the books balance (double entry).
    sum: i64,
}

/// `GET /admin/ledger`: balances summed by kind of account.
#[utoipa::path(get, path = "/admin/ledger", security(("bearer" = [])), responses((status = 200, body = Envelope<LedgerTotals>)))]
pub async fn ledger(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<LedgerTotals>>, ApiError> {
    principal.require(Scope::Admin)?;
    let accounts = entities::ledger_accounts::Entity::find().all(&state.db).await?;
    let mut totals: Vec<LedgerTotal> = Vec::new();
    for a in &accounts {
        match totals.iter_mut().find(|t| t.kind == a.kind) {
            Some(t) => {
                t.accounts += 1;
                t.balance = t.balance.saturating_add(a.balance.get());
            }
            None => totals.push(LedgerTotal { kind: a.kind, accounts: 1, balance: a.balance.get() }),
        }
    }
    let sum = totals.iter().map(|t| t.balance).fold(0i64, i64::saturating_add);
    Ok(ok(LedgerTotals { totals, sum }))
}

/// A provider webhook as received.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookOutcome {
    id: String,
    /// `stripe` or `creem`.
    provider: &'static str,
    event_type: String,
    status: StripeEventStatus,
    received_at: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

/// `GET /admin/webhooks/recent`: the latest 50 provider webhooks, newest first.
#[utoipa::path(get, path = "/admin/webhooks/recent", security(("bearer" = [])), responses((status = 200, body = Envelope<Vec<WebhookOutcome>>)))]
pub async fn recent_webhooks(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<Vec<WebhookOutcome>>>, ApiError> {
    use entities::stripe_events::{Column, Entity as Events};
    principal.require(Scope::Admin)?;
    let rows = Events::find().order_by_desc(Column::ReceivedAt).limit(50).all(&state.db).await?;
    Ok(ok(rows
        .into_iter()
        .map(|e| WebhookOutcome {
            provider: if e.id.starts_with("creem:") { "creem" } else { "stripe" },
            id: e.id.trim_start_matches("creem:").to_owned(),
            event_type: e.event_type,
            status: e.status,
            received_at: e.received_at,
            processed_at: e.processed_at,
            last_error: e.last_error,
        })
        .collect()))
}
