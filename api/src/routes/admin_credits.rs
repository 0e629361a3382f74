//! Credit administration (credits API): `GET /admin/credits/transactions` (every customer's credit
//! movements, newest first, optionally one account's or one type's) and
//! `POST /admin/credits/manual` (a signed adjustment, idempotent on its key, audited, never
//! leaving a balance negative).

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, ok};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::history::kind_name;
use crate::state::AppState;
use crate::validate::Fields;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use billing::AccountId;
use billing::DomainError;
use billing::credit_admin::Adjustment;
use chrono::{DateTime, Utc};
use entities::TransferKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Default 50; clamped to 1–200.
    #[param(value_type = Option<i64>, minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::non_negative")]
    limit: Option<u64>,
    /// Default 0; clamped to at most 1,000,000.
    #[param(value_type = Option<i64>, minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::non_negative")]
    offset: Option<u64>,
    /// One account's movements only.
    #[param(value_type = Option<uuid::Uuid>)]
    account_id: Option<AccountId>,
    /// One kind only (`topup`, `ai_usage`, `manual_adjustment`, …).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
}

/// One credit movement of any customer, signed from the customer's side, in credits.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminCreditLine {
    id: String,
    #[schema(value_type = uuid::Uuid)]
    account_id: AccountId,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    kind: &'static str,
    amount: i64,
    description: String,
    reference: String,
    created_at: DateTime<Utc>,
}

/// A manual adjustment: `amount` credits (positive adds, negative takes) to the account
/// named by `account_id` or by `user_id` (its subject), exactly one of them.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // the document's view: the handler reads the fields one by one to name every bad one
pub struct ManualAdjustment {
    #[schema(minimum = -10_000_000, maximum = 10_000_000)]
    amount: i64,
    /// Free text for the audit log; no NUL character.
    #[schema(min_length = 1, max_length = 500, pattern = "^[^\\x00]*$")]
    reason: String,
    #[schema(value_type = Option<uuid::Uuid>)]
    account_id: Option<AccountId>,
    /// The account's subject; no NUL character.
    #[schema(min_length = 1, max_length = 255, pattern = "^[^\\x00]*$")]
    user_id: Option<String>,
    /// Instead of the `Idempotency-Key` header; no NUL character.
    #[schema(min_length = 1, max_length = 255, pattern = "^[^\\x00]*$")]
    idempotency_key: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Adjusted {
    id: String,
    #[schema(value_type = uuid::Uuid)]
    account_id: AccountId,
    amount: i64,
    /// The balance after it, in credits.
    balance: i64,
    description: String,
    created_at: DateTime<Utc>,
}

fn parse_kind(name: &str) -> Option<TransferKind> {
    use sea_orm::Iterable;
    TransferKind::iter().find(|k| kind_name(*k) == name || k.as_str() == name)
}

/// Every customer's credit movements (admin).
#[utoipa::path(get, path = "/admin/credits/transactions", security(("bearer" = [])), params(Filter),
    responses((status = 200, body = Envelope<Vec<AdminCreditLine>>)))]
pub async fn transactions(
    State(state): State<AppState>,
    principal: Principal,
    Query(f): Query<Filter>,
) -> Result<Json<Envelope<Vec<AdminCreditLine>>>, ApiError> {
    principal.require(Scope::Admin)?;
    let kind = match f.kind.as_deref() {
        None => None,
        Some(name) => Some(parse_kind(name).ok_or_else(|| ApiError::bad_request("invalid_request", "unknown type"))?),
    };
    let limit = f.limit.unwrap_or(50).clamp(1, 200);
    let lines = billing::credit_admin::transactions(
        &state.db,
        f.account_id,
        kind,
        limit,
        f.offset.unwrap_or(0).min(crate::routes::history::MAX_OFFSET),
    )
    .await?;
    Ok(ok(lines
        .into_iter()
        .map(|l| AdminCreditLine {
            id: l.transfer.id,
            account_id: l.account_id,
            kind: kind_name(l.transfer.kind),
            amount: l.signed.to_credits(),
            description: l.transfer.description,
            reference: l.transfer.reference,
            created_at: l.transfer.created_at,
        })
        .collect()))
}

/// Adds (positive `amount`) or takes (negative) credits. Needs an `Idempotency-Key` header
/// (or `idempotency_key` in the body): the same key again changes nothing.
#[utoipa::path(post, path = "/admin/credits/manual", security(("bearer" = [])), request_body = ManualAdjustment,
    params(("Idempotency-Key" = Option<String>, Header, description = "Required here or as `idempotency_key`")),
    responses((status = 201, description = "Applied", body = Envelope<Adjusted>),
        (status = 200, description = "The key was used before; nothing changed", body = Envelope<Adjusted>),
        (status = 402, description = "It would leave the balance negative"),
        (status = 404, description = "No such account")))]
pub async fn manual(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Envelope<Adjusted>>), ApiError> {
    principal.require(Scope::Admin)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut bad = Fields::default();
    let key =
        header("idempotency-key").or_else(|| body.get("idempotency_key").and_then(Value::as_str).map(str::to_owned));
    let key = match key {
        Some(k) if !k.is_empty() && k.len() <= 255 && crate::validate::storable(&k) => Some(k),
        Some(_) => bad.bad("idempotency_key", "1–255 characters, no NUL"),
        None => bad.bad("idempotency_key", "required (Idempotency-Key header or body field)"),
    };
    let credits = match body.get("amount").and_then(Value::as_i64) {
        Some(c) if c != 0 && c.abs() <= billing::credit_admin::MAX_CREDITS => Some(c),
        _ => bad.bad("amount", "a non-zero integer number of credits within ±10,000,000"),
    };
    let reason = bad
        .required("reason", body.get("reason"), |r| !r.trim().is_empty() && r.len() <= 500, "1–500 characters")
        .map(str::to_owned);
    let account = match (body.get("account_id").and_then(Value::as_str), body.get("user_id").and_then(Value::as_str)) {
        (Some(id), None) => Uuid::parse_str(id).ok().map(Target::Id).or_else(|| bad.bad("account_id", "a UUID")),
        (None, Some(subject)) if !subject.is_empty() && subject.len() <= 255 && crate::validate::storable(subject) => {
            Some(Target::Subject(subject.to_owned()))
        }
        _ => bad.bad("account_id", "exactly one of account_id (UUID) or user_id (subject)"),
    };
    bad.finish()?;
    let (Some(key), Some(credits), Some(reason), Some(target)) = (key, credits, reason, account) else {
        return Err(ApiError::bad_request("validation_error", "the request has invalid fields"));
    };
    let account_id = match target {
        Target::Id(id) => {
            billing::accounts::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("account"))?.id
        }
        Target::Subject(s) => billing::accounts::ensure(&state.db, &s).await?.id,
    };
    let done = billing::credit_admin::adjust(
        &state.db,
        Adjustment {
            account_id,
            credits,
            reason,
            key,
            actor: principal.subject.clone(),
            request_id: header("x-request-id"),
        },
    )
    .await
    .map_err(|e| match e {
        DomainError::KeyReuse(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this idempotency key was used for another adjustment",
        ),
        other => other.into(),
    })?;
    let status = if done.new { StatusCode::CREATED } else { StatusCode::OK };
    let data = Adjusted {
        id: done.transfer.id,
        account_id,
        amount: done.credits,
        balance: done.balance.to_credits(),
        description: done.transfer.description,
        created_at: done.transfer.created_at,
    };
    Ok((status, ok(data)))
}

enum Target {
    Id(Uuid),
    Subject(String),
}
