//! Saved cards and the customer portal (billing API, subscription API and credits API): list and remove cards, save one
//! (SetupIntent or hosted page), open the Stripe customer portal. Every Stripe call runs in
//! the worker; these routes wait briefly for it, as checkouts do.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, accepted, ok};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::jobs::Finished;
use crate::services::checkout::{Checkout, provider_checkout};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::jobs::contracts::{CheckoutOutput, DetachCard};
use billing::orders::{CardFlow, OrderDetails};
use entities::PayMethod;
use serde::{Deserialize, Serialize};

/// A saved card.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    id: String,
    #[serde(rename = "type")]
    #[schema(rename = "type", example = "card")]
    kind: &'static str,
    brand: String,
    last4: String,
    exp_month: i32,
    exp_year: i32,
    is_default: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecret {
    /// For Stripe.js `confirmCardSetup`.
    client_secret: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionUrl {
    session_url: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
// In a oneOf: no other variant's fields, so exactly one variant matches.
#[serde(deny_unknown_fields)]
pub struct PortalUrl {
    url: Option<String>,
}

/// The subscription API (`X-API-Version: 2`): the bare object; otherwise the credits API's envelope.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PortalResponse {
    Enveloped(Envelope<PortalUrl>),
    Bare(PortalUrl),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CardRemoved {
    id: String,
    /// `true` once Stripe has detached it.
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted: Option<bool>,
    /// `pending` while the worker is still at it.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

/// `GET /api/billing/payment-methods` (billing API): saved cards, default first.
#[utoipa::path(get, path = "/api/billing/payment-methods", security(("bearer" = [])), responses((status = 200, body = Envelope<Vec<Card>>)))]
pub async fn payment_methods(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<Vec<Card>>>, ApiError> {
    principal.require(Scope::Read)?;
    let cards = billing::payment_methods::list(&state.db, principal.account_id).await?;
    Ok(ok(cards
        .into_iter()
        .map(|c| Card {
            id: c.id,
            kind: "card",
            brand: c.brand,
            last4: c.last4,
            exp_month: c.exp_month,
            exp_year: c.exp_year,
            is_default: c.is_default,
        })
        .collect()))
}

async fn card_setup(state: &AppState, principal: &Principal, flow: CardFlow) -> Result<CheckoutOutput, ApiError> {
    principal.require(Scope::Write)?;
    let order = billing::orders::NewOrder {
        account_id: principal.account_id,
        kind: entities::OrderKind::CardSetup,
        status: entities::OrderStatus::Pending,
        method: PayMethod::Stripe,
        amount: billing::Micros::ZERO,
        plan_id: None,
        details: OrderDetails { flow: Some(flow), ..OrderDetails::default() },
    };
    match provider_checkout(state, order, Default::default()).await? {
        Checkout::Ready(r) => Ok(r),
        Checkout::Pending { order_id } => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_slow",
            format!("the payment provider is slow; retry (order {order_id})"),
        )),
    }
}

/// `POST /api/billing/setup-intent` (billing API): a SetupIntent's client secret for Stripe.js.
#[utoipa::path(post, path = "/api/billing/setup-intent", security(("bearer" = [])), responses((status = 200, body = Envelope<ClientSecret>),
    (status = 502, description = "Stripe refused"), (status = 503, description = "Stripe is slow or not configured; retry")))]
pub async fn setup_intent(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<ClientSecret>>, ApiError> {
    match card_setup(&state, &principal, CardFlow::SetupIntent).await? {
        CheckoutOutput::SetupIntent { client_secret, .. } => Ok(ok(ClientSecret { client_secret })),
        other => Err(ApiError::internal(format!("a SetupIntent request answered {other:?}"))),
    }
}

/// `POST /api/billing/setup-checkout` (billing API): a Stripe-hosted page to add a card.
#[utoipa::path(post, path = "/api/billing/setup-checkout", security(("bearer" = [])), responses((status = 200, body = Envelope<SessionUrl>),
    (status = 502, description = "Stripe refused"), (status = 503, description = "Stripe is slow or not configured; retry")))]
pub async fn setup_checkout(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<SessionUrl>>, ApiError> {
    let r = card_setup(&state, &principal, CardFlow::SetupCheckout).await?;
    Ok(ok(SessionUrl { session_url: r.url() }))
}

async fn portal_url(
    state: &AppState,
    principal: &Principal,
    return_url: Option<String>,
) -> Result<Option<String>, ApiError> {
    principal.require(Scope::Write)?;
    if let Some(url) = &return_url
        && !crate::validate::valid_url(url)
    {
        return Err(ApiError::bad_request("invalid_request", "return_url must be an http(s) URL"));
    }
    // A subscription paid through Creem is managed in Creem's portal; anything else in Stripe's.
    let current = billing::stripe::subscription::current_recurring(&state.db, principal.account_id).await?;
    let method =
        if current.is_some_and(|s| s.creem_subscription_id.is_some()) { PayMethod::Creem } else { PayMethod::Stripe };
    let order = billing::orders::NewOrder {
        account_id: principal.account_id,
        kind: entities::OrderKind::Portal,
        status: entities::OrderStatus::Pending,
        method,
        amount: billing::Micros::ZERO,
        plan_id: None,
        details: OrderDetails { return_url, ..OrderDetails::default() },
    };
    match provider_checkout(state, order, Default::default()).await? {
        Checkout::Ready(r) => Ok(r.url()),
        Checkout::Pending { order_id } => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_slow",
            format!("the payment provider is slow; retry (order {order_id})"),
        )),
    }
}

/// `POST /api/billing/portal` (billing API): the Stripe customer portal.
#[utoipa::path(post, path = "/api/billing/portal", security(("bearer" = [])), responses((status = 200, body = Envelope<PortalUrl>),
    (status = 502, description = "Stripe refused"), (status = 503, description = "Stripe is slow or not configured; retry")))]
pub async fn portal(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<PortalUrl>>, ApiError> {
    let url = portal_url(&state, &principal, None).await?;
    Ok(ok(PortalUrl { url }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct PortalRequest {
    /// Where the portal sends the customer back: an http(s) URL. Required.
    #[schema(
        example = "https://app.example.com/settings/billing",
        required = true,
        nullable = false,
        pattern = "^https?://"
    )]
    return_url: Option<String>,
}

/// `POST /subscription/portal {return_url}`: the subscription API's bare `{url}` when the request says
/// `X-API-Version: 2`, the credits API's `{success, data: {url}}` otherwise.
#[utoipa::path(post, path = "/subscription/portal", security(("bearer" = [])), request_body = PortalRequest,
    params(("X-API-Version" = Option<String>, Header, description = "`2` for the subscription API's bare `{url}`")),
    responses((status = 200, body = PortalResponse),
    (status = 502, description = "Stripe refused"), (status = 503, description = "Stripe is slow or not configured; retry")))]
pub async fn subscription_portal(
    State(state): State<AppState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<PortalRequest>,
) -> Result<Json<PortalResponse>, ApiError> {
    // The subscription and credits APIs both send it; the subscription API requires it.
    let Some(return_url) = req.return_url else {
        return Err(ApiError::bad_request("invalid_request", "return_url: required"));
    };
    let url = portal_url(&state, &principal, Some(return_url)).await?;
    let v2 = headers.get("x-api-version").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "2");
    let url = PortalUrl { url };
    Ok(Json(if v2 {
        PortalResponse::Bare(url)
    } else {
        PortalResponse::Enveloped(crate::envelope::Envelope::new(url))
    }))
}

/// `DELETE /api/billing/payment-methods/:id` (billing API): remove a saved card (another
/// account's card answers 404).
#[utoipa::path(delete, path = "/api/billing/payment-methods/{id}", security(("bearer" = [])),
    params(("id" = String, Path, description = "The card's Stripe id (`pm_…`)")),
    responses((status = 200, description = "Removed", body = Envelope<CardRemoved>),
    (status = 202, description = "Still being removed", body = Envelope<CardRemoved>),
    (status = 404, description = "No such card for this account"), (status = 502, description = "Stripe refused")))]
pub async fn delete_payment_method(
    State(state): State<AppState>,
    principal: Principal,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let cards = billing::payment_methods::list(&state.db, principal.account_id).await?;
    if !cards.iter().any(|c| c.id == id) {
        return Err(ApiError::not_found("payment method"));
    }
    let job = DetachCard { payment_method_id: id.clone(), account_id: principal.account_id };
    match state.submit_and_wait(&job, state.settings.checkout_wait).await? {
        Finished::Done(_) => Ok(ok(CardRemoved { id, deleted: Some(true), status: None }).into_response()),
        Finished::Dead(_) => {
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", "the card could not be removed"))
        }
        Finished::Running(_) => {
            Ok(accepted(CardRemoved { id, deleted: None, status: Some("pending") }).into_response())
        }
    }
}
