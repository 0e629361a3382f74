//! Orders and credit history: `GET /orders`, `GET /orders/:id`, `GET /credits/transactions`
//! (credits API, integer credits, snake_case) and `GET /api/billing/transactions` (billing API, USD numbers).
//! Every query is scoped to the caller; another account's order id answers 404.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, ok};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use billing::ledger::HistoryLine;
use chrono::{DateTime, Utc};
use entities::TransferKind;
use entities::{OrderKind, OrderStatus, PayMethod};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// Deeper pages than this are refused by clamping: an offset past `i64` breaks the query.
pub const MAX_OFFSET: u64 = 1_000_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Default 20; clamped to 1–100.
    #[param(value_type = Option<i64>, minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::non_negative")]
    limit: Option<u64>,
    /// Default 0; clamped to at most 1,000,000.
    #[param(value_type = Option<i64>, minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::non_negative")]
    offset: Option<u64>,
}

impl Page {
    fn limit(&self) -> u64 {
        self.limit.unwrap_or(20).clamp(1, 100)
    }
    fn offset(&self) -> u64 {
        self.offset.unwrap_or(0).min(MAX_OFFSET)
    }
}

/// An order as the credits API shows it: the amount in credits.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Order {
    #[schema(value_type = Uuid)]
    id: billing::OrderId,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    kind: OrderKind,
    status: OrderStatus,
    payment_method: PayMethod,
    amount: i64,
    currency: String,
    plan_id: Option<Uuid>,
    checkout_url: Option<String>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

impl From<entities::orders::Model> for Order {
    fn from(o: entities::orders::Model) -> Self {
        Order {
            id: o.id,
            kind: o.kind,
            status: o.status,
            payment_method: o.method,
            amount: o.amount.to_credits(),
            currency: o.currency,
            plan_id: o.plan_id,
            checkout_url: o.checkout_url,
            created_at: o.created_at,
            completed_at: o.completed_at,
        }
    }
}

/// A credit movement, signed from the customer's side, in credits.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreditLine {
    id: String,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    kind: &'static str,
    amount: i64,
    description: String,
    created_at: DateTime<Utc>,
}

/// A line of payment and credit history, in USD.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingLine {
    id: String,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    kind: &'static str,
    #[schema(value_type = f64)]
    amount: Box<RawValue>,
    category: Category,
    description: String,
    reference: String,
    created_at: DateTime<Utc>,
}

/// A credit movement, or a payment (a plan or subscription paid, refunded or disputed).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Credit,
    Payment,
}

/// Kinds as the credits API history names them (usage debits are `ai_usage`).
pub fn kind_name(kind: TransferKind) -> &'static str {
    match kind {
        TransferKind::Usage => "ai_usage",
        other => other.as_str(),
    }
}

/// `GET /orders` (credits API).
#[utoipa::path(get, path = "/orders", security(("bearer" = [])), params(Page), responses((status = 200, body = Envelope<Vec<Order>>)))]
pub async fn orders(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<Page>,
) -> Result<Json<Envelope<Vec<Order>>>, ApiError> {
    principal.require(Scope::Read)?;
    let rows = billing::orders::list(&state.db, principal.account_id, page.limit(), page.offset()).await?;
    Ok(ok(rows.into_iter().map(Order::from).collect()))
}

/// `GET /orders/:id` (credits API).
#[utoipa::path(get, path = "/orders/{id}", security(("bearer" = [])), params(("id" = String, Path, description = "The order's id")),
    responses((status = 200, body = Envelope<Order>), (status = 404, description = "No such order for this account")))]
pub async fn order(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Envelope<Order>>, ApiError> {
    principal.require(Scope::Read)?;
    let id: billing::OrderId = id.parse().map_err(|_| ApiError::not_found("order"))?;
    let order = billing::orders::find_for(&state.db, principal.account_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    Ok(ok(order.into()))
}

async fn history(state: &AppState, principal: &Principal, page: &Page) -> Result<Vec<HistoryLine>, ApiError> {
    principal.require(Scope::Read)?;
    Ok(billing::ledger::customer_history(&state.db, principal.account_id, page.limit(), page.offset()).await?)
}

/// `GET /credits/transactions` (credits API): amounts in credits, signed.
#[utoipa::path(get, path = "/credits/transactions", security(("bearer" = [])), params(Page), responses((status = 200, body = Envelope<Vec<CreditLine>>)))]
pub async fn credit_transactions(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<Page>,
) -> Result<Json<Envelope<Vec<CreditLine>>>, ApiError> {
    let lines = history(&state, &principal, &page).await?;
    Ok(ok(lines
        .into_iter()
        .map(|l| CreditLine {
            id: l.transfer.id,
            kind: kind_name(l.transfer.kind),
            amount: l.signed.to_credits(),
            description: l.transfer.description,
            created_at: l.transfer.created_at,
        })
        .collect()))
}

/// `GET /api/billing/transactions` (billing API): "payment and credit history", amounts in USD.
/// Credit lines (`category: credit`) are signed from the customer's side; payment lines
/// (`category: payment`: a plan or subscription paid, or such a payment refunded or
/// disputed) carry the amount.
#[utoipa::path(get, path = "/api/billing/transactions", security(("bearer" = [])), params(Page), responses((status = 200, body = Envelope<Vec<BillingLine>>)))]
pub async fn billing_transactions(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<Page>,
) -> Result<Json<Envelope<Vec<BillingLine>>>, ApiError> {
    principal.require(Scope::Read)?;
    let lines = billing::ledger::account_history(&state.db, principal.account_id, page.limit(), page.offset()).await?;
    Ok(ok(lines
        .into_iter()
        .map(|l| BillingLine {
            id: l.transfer.id,
            kind: kind_name(l.transfer.kind),
            amount: l.signed.usd_json(),
            category: if l.credits { Category::Credit } else { Category::Payment },
            description: l.transfer.description,
            reference: l.transfer.reference,
            created_at: l.transfer.created_at,
        })
        .collect()))
}
