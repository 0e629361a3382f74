//! Credit administration (003): `GET /admin/credits/transactions` (every customer's credit
//! movements, newest first, optionally one account's or one type's) and
//! `POST /admin/credits/manual` (a signed adjustment, idempotent on its key, audited, never
//! leaving a balance negative).

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::credits::ok;
use crate::routes::history::kind_name;
use crate::state::AppState;
use crate::validate::Fields;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use billing::DomainError;
use billing::credit_admin::Adjustment;
use entities::TransferKind;
use sea_orm::EntityTrait;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Deserialize)]
pub struct Filter {
    limit: Option<u64>,
    offset: Option<u64>,
    account_id: Option<Uuid>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn parse_kind(name: &str) -> Option<TransferKind> {
    use sea_orm::Iterable;
    TransferKind::iter().find(|k| kind_name(*k) == name || k.as_str() == name)
}

/// Every customer's credit movements (admin).
#[utoipa::path(get, path = "/admin/credits/transactions", security(("bearer" = [])), responses((status = 200), (status = 400), (status = 403)))]
pub async fn transactions(
    State(state): State<AppState>,
    principal: Principal,
    Query(f): Query<Filter>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    let kind = match f.kind.as_deref() {
        None => None,
        Some(name) => Some(parse_kind(name).ok_or_else(|| ApiError::bad_request("invalid_request", "unknown type"))?),
    };
    let limit = f.limit.unwrap_or(50).clamp(1, 200);
    let lines =
        billing::credit_admin::transactions(&state.db, f.account_id, kind, limit, f.offset.unwrap_or(0)).await?;
    let data: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({"id": l.transfer.id, "account_id": l.account_id, "type": kind_name(l.transfer.kind),
                   "amount": l.signed.to_credits(), "description": l.transfer.description,
                   "reference": l.transfer.reference, "created_at": l.transfer.created_at})
        })
        .collect();
    Ok(ok(data).into_response())
}

/// Adds (positive `amount`) or takes (negative) credits. Needs an `Idempotency-Key` header
/// (or `idempotency_key` in the body): the same key again changes nothing.
#[utoipa::path(post, path = "/admin/credits/manual", security(("bearer" = [])), responses((status = 201), (status = 200, description = "The key was used before; nothing changed"), (status = 400), (status = 402), (status = 403), (status = 404)))]
pub async fn manual(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut bad = Fields::default();
    let key =
        header("idempotency-key").or_else(|| body.get("idempotency_key").and_then(Value::as_str).map(str::to_owned));
    let key = match key {
        Some(k) if !k.is_empty() && k.len() <= 255 => Some(k),
        Some(_) => bad.bad("idempotency_key", "1–255 characters"),
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
        (None, Some(subject)) if !subject.is_empty() && subject.len() <= 255 => {
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
            entities::accounts::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .ok_or_else(|| ApiError::not_found("account"))?
                .id
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
    let data = json!({"id": done.transfer.id, "account_id": account_id, "amount": done.credits,
                      "balance": done.balance.to_credits(), "description": done.transfer.description,
                      "created_at": done.transfer.created_at});
    Ok((status, ok(data)).into_response())
}

enum Target {
    Id(Uuid),
    Subject(String),
}
