//! Orders and credit history: `GET /orders`, `GET /orders/:id`, `GET /credits/transactions`
//! (003, integer credits, snake_case) and `GET /api/billing/transactions` (000, USD numbers).
//! Every query is scoped to the caller; another account's order id answers 404.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::routes::credits::{Envelope, ok};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use billing::Micros;
use billing::ledger::HistoryLine;
use entities::TransferKind;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Deserialize)]
pub struct Page {
    limit: Option<u64>,
    offset: Option<u64>,
}

impl Page {
    fn limit(&self) -> u64 {
        self.limit.unwrap_or(20).clamp(1, 100)
    }
    fn offset(&self) -> u64 {
        self.offset.unwrap_or(0)
    }
}

fn order_json(o: &entities::orders::Model) -> Value {
    json!({
        "id": o.id,
        "type": o.kind,
        "status": o.status,
        "payment_method": o.method,
        "amount": Micros::new(o.amount).to_credits(),
        "currency": o.currency,
        "plan_id": o.plan_id,
        "checkout_url": o.checkout_url,
        "created_at": o.created_at,
        "completed_at": o.completed_at,
    })
}

/// Kinds as the 003 history names them (usage debits are `ai_usage`).
pub fn kind_name(kind: TransferKind) -> &'static str {
    match kind {
        TransferKind::Usage => "ai_usage",
        other => other.as_str(),
    }
}

/// `GET /orders` (003).
#[utoipa::path(get, path = "/orders", security(("bearer" = [])), responses((status = 200)))]
pub async fn orders(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<Page>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    principal.require(Scope::Read)?;
    let rows = billing::orders::list(&state.db, principal.account_id, page.limit(), page.offset()).await?;
    Ok(ok(Value::Array(rows.iter().map(order_json).collect())))
}

/// `GET /orders/:id` (003).
#[utoipa::path(get, path = "/orders/{id}", security(("bearer" = [])), responses((status = 200), (status = 404)))]
pub async fn order(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    principal.require(Scope::Read)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("order"))?;
    let order = billing::orders::find_for(&state.db, principal.account_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    Ok(ok(order_json(&order)))
}

async fn history(state: &AppState, principal: &Principal, page: &Page) -> Result<Vec<HistoryLine>, ApiError> {
    principal.require(Scope::Read)?;
    Ok(billing::ledger::customer_history(&state.db, principal.account_id, page.limit(), page.offset()).await?)
}

/// `GET /credits/transactions` (003): amounts in credits, signed.
#[utoipa::path(get, path = "/credits/transactions", security(("bearer" = [])), responses((status = 200)))]
pub async fn credit_transactions(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<Page>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    let lines = history(&state, &principal, &page).await?;
    Ok(ok(Value::Array(
        lines
            .iter()
            .map(|l| {
                json!({"id": l.transfer.id, "type": kind_name(l.transfer.kind), "amount": l.signed.to_credits(),
                       "description": l.transfer.description, "created_at": l.transfer.created_at})
            })
            .collect(),
    )))
}

/// `GET /api/billing/transactions` (billing API): "payment and credit history", amounts in USD.
/// Credit lines (`category: credit`) are signed from the customer's side; payment lines
/// (`category: payment`: a plan or subscription paid, or such a payment refunded or
/// disputed) carry the amount.
#[utoipa::path(get, path = "/api/billing/transactions", security(("bearer" = [])), responses((status = 200)))]
pub async fn billing_transactions(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<Page>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    principal.require(Scope::Read)?;
    let lines = billing::ledger::account_history(&state.db, principal.account_id, page.limit(), page.offset()).await?;
    Ok(ok(Value::Array(
        lines
            .iter()
            .map(|l| {
                json!({"id": l.transfer.id, "type": kind_name(l.transfer.kind), "amount": l.signed.usd_json(),
                       "category": if l.credits { "credit" } else { "payment" },
                       "description": l.transfer.description, "reference": l.transfer.reference, "createdAt": l.transfer.created_at})
            })
            .collect(),
    )))
}
