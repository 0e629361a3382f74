//! Management keys (billing API): `POST /api/management-keys`, `GET /api/management-keys`,
//! `DELETE /api/management-keys/{id}`. A key acts for its account on every route that takes
//! a bearer credential (`Authorization: Bearer mk_…`), with the scopes it was given.
//!
//! Only a signed-in person (a JWT) creates or revokes management keys: a key cannot mint
//! further keys, so revoking a leaked key ends what it can do. A new key's scopes are at most
//! its creator's. The secret is in the creation response once; only its hash is stored.
//! Revocation takes effect on the next request to any api process (keys are read from the
//! database on every request, not cached).

use crate::auth::{Credential, Principal, Scope};
use crate::envelope::{Envelope, created, ok};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewManagementKey {
    /// What the key is for: 1–100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$", example = "ci deploy")]
    name: String,
    /// Default: the creator's billing scopes. At most the creator's own; `admin` only from
    /// an admin.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 3)]
    scopes: Option<Vec<Scope>>,
}

/// A management key, never its secret (except `key`, once, in the creation response).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagementKey {
    id: Uuid,
    name: String,
    /// The key's first characters, to recognise it.
    prefix: String,
    scopes: Vec<Scope>,
    created_at: DateTime<Utc>,
    /// To the minute.
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    /// The secret: in the creation response only, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl ManagementKey {
    fn of(k: entities::management_keys::Model, secret: Option<String>) -> ManagementKey {
        ManagementKey {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.split_whitespace().filter_map(Scope::parse).collect(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
            key: secret,
        }
    }
}

fn signed_in(principal: &Principal) -> Result<(), ApiError> {
    if principal.credential == Credential::Token {
        Ok(())
    } else {
        Err(ApiError::forbidden("management keys are created and revoked by a signed-in user, not by a key"))
    }
}

/// Create a management key; the secret is in this response only.
#[utoipa::path(post, path = "/api/management-keys", security(("bearer" = [])), request_body = NewManagementKey,
    responses((status = 201, description = "The key, with its secret shown once", body = Envelope<ManagementKey>),
        (status = 403, description = "Asked for more than the caller holds, or the caller is a key"),
        (status = 409, description = "The account holds as many keys as it may")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<NewManagementKey>,
) -> Result<(StatusCode, Json<Envelope<ManagementKey>>), ApiError> {
    principal.require(Scope::Write)?;
    signed_in(&principal)?;
    // Control characters (NUL among them, which Postgres text cannot hold) are refused.
    let name = req.name.as_str();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_request", "name: 1–100 characters, no control characters"));
    }
    let scopes = match req.scopes {
        Some(asked) => principal.delegate(&asked, true)?,
        None => principal.scopes.iter().copied().filter(|s| *s != Scope::Admin).collect(),
    };
    let (row, key) =
        billing::management_keys::create_within_limit(&state.db, principal.account_id, name, &Scope::join(&scopes))
            .await?;
    Ok(created(ManagementKey::of(row, Some(key))))
}

/// The caller's management keys, newest first (revoked ones with their revocation time).
#[utoipa::path(get, path = "/api/management-keys", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<ManagementKey>>)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<Vec<ManagementKey>>>, ApiError> {
    principal.require(Scope::Read)?;
    let keys = billing::management_keys::list(&state.db, principal.account_id).await?;
    Ok(ok(keys.into_iter().map(|k| ManagementKey::of(k, None)).collect()))
}

/// Revoke one of the caller's management keys: it is refused from the next request on.
#[utoipa::path(delete, path = "/api/management-keys/{id}", security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, body = Envelope<ManagementKey>), (status = 404, description = "No such key for this account")))]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Envelope<ManagementKey>>, ApiError> {
    principal.require(Scope::Write)?;
    signed_in(&principal)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("management key"))?;
    let row = billing::management_keys::revoke(&state.db, principal.account_id, id, Utc::now()).await?;
    Ok(ok(ManagementKey::of(row, None)))
}
