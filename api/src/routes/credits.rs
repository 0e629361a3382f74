//! Credit balances: `GET /api/billing/credits` (billing API, USD numbers) and
//! `GET /credits/balance` (credits API, integer credits).

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, ok};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use billing::ledger;
use entities::TransferKind;
use serde::Serialize;
use serde_json::value::RawValue;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingCredits {
    /// Everything ever topped up, in USD.
    #[schema(value_type = f64)]
    total_top_up: Box<RawValue>,
    /// The balance left, in USD.
    #[schema(value_type = f64)]
    remaining: Box<RawValue>,
    has_credit_key: bool,
    credit_key_count: u64,
    user_id: String,
}

/// Credit balance in USD (billing API).
#[utoipa::path(get, path = "/api/billing/credits", security(("bearer" = [])), responses((status = 200, body = Envelope<BillingCredits>)))]
pub async fn billing_credits(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<BillingCredits>>, ApiError> {
    principal.require(Scope::Read)?;
    let remaining = ledger::customer_balance(&state.db, principal.account_id).await?;
    let total = ledger::customer_credited(&state.db, principal.account_id, &[TransferKind::Topup]).await?;
    let credit_key_count = billing::api_keys::count_credit_keys(&state.db, principal.account_id).await?;
    Ok(ok(BillingCredits {
        total_top_up: total.usd_json(),
        remaining: remaining.usd_json(),
        has_credit_key: credit_key_count > 0,
        credit_key_count,
        user_id: principal.subject,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Balance {
    /// Whole credits (1 credit = 1 US cent).
    balance: i64,
}

/// Credit balance in credits (credits API).
#[utoipa::path(get, path = "/credits/balance", security(("bearer" = [])), responses((status = 200, body = Envelope<Balance>)))]
pub async fn balance(State(state): State<AppState>, principal: Principal) -> Result<Json<Envelope<Balance>>, ApiError> {
    principal.require(Scope::Read)?;
    let remaining = ledger::customer_balance(&state.db, principal.account_id).await?;
    Ok(ok(Balance { balance: remaining.to_credits() }))
}
