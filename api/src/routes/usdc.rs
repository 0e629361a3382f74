//! USDC on Base (billing API): the payment address, USDC checkouts and top-ups, and the
//! verification of a transfer by its hash. Verification runs in the worker; the route
//! waits up to `CHECKOUT_WAIT_MS` for it and answers 202 with the job id past that.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, accepted, ok};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::services::usdc::{self, Verification};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::Micros;
use billing::OrderId;
use billing::chain::{Address, TxHash};
use billing::usdc::{Purpose, RejectCode, UsdcResult};
use entities::{OrderKind, PlanKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

/// Where to send USDC, on which chain.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentAddress {
    address: String,
    #[schema(example = "base")]
    chain: &'static str,
}

/// A USDC payment to make: send exactly `amount` USDC to `address` on Base, then verify it
/// by its transaction hash. The amount carries a few micro-dollars that tell this order apart.
#[derive(Serialize, utoipa::ToSchema)]
// In a oneOf: no other variant's fields, so exactly one variant matches.
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct UsdcPayment {
    address: String,
    #[schema(example = "base")]
    chain: &'static str,
    /// USD (= USDC), as a decimal string.
    #[schema(example = "25.000137")]
    amount: String,
    /// For a 30-day plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    plan_slug: Option<String>,
}

/// A plan checkout by card: the billing API's bare session, or the order to poll.
#[derive(Serialize, utoipa::ToSchema)]
// In a oneOf: no other variant's fields, so exactly one variant matches.
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct PlanSession {
    #[serde(skip_serializing_if = "Option::is_none")]
    session_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<uuid::Uuid>)]
    order_id: Option<OrderId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PlanCheckout {
    Card(PlanSession),
    Usdc(UsdcPayment),
}

/// A verified plan payment, or a verification still running.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanVerification {
    activated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<Uuid>,
}

/// A credited top-up, or a verification still running.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopupVerification {
    /// `credited` or `pending`.
    #[schema(example = "credited")]
    status: &'static str,
    /// USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    credited: Option<Box<RawValue>>,
    tx_hash: String,
    /// USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    credit_balance: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<Uuid>,
}

/// A transfer to us that nothing claimed.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedTransfer {
    chain_id: i64,
    tx_hash: String,
    log_index: i64,
    from: String,
    to: String,
    /// USD.
    #[schema(value_type = f64)]
    amount: Box<RawValue>,
    block_number: i64,
    /// Below `USDC_DUST_BELOW_MICROS`.
    dust: bool,
    seen_at: chrono::DateTime<chrono::Utc>,
}

/// A USD amount from a JSON number or string, exact to the micro-dollar.
pub fn usd_amount(value: &Value, field: &str) -> Result<Micros, ApiError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err(ApiError::bad_request("invalid_request", format!("{field} must be a number"))),
    };
    Micros::parse_usd(&text).map_err(|e| ApiError::bad_request("invalid_request", format!("{field}: {e}")))
}

fn tx_hash(text: &str) -> Result<TxHash, ApiError> {
    TxHash::parse(text)
        .ok_or_else(|| ApiError::bad_request("invalid_request", "txHash must be 0x followed by 64 hex digits"))
}

/// `GET /api/billing/payment-address`
#[utoipa::path(get, path = "/api/billing/payment-address", security(("bearer" = [])),
    responses((status = 200, body = Envelope<PaymentAddress>), (status = 503, description = "USDC is not configured")))]
pub async fn address(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<PaymentAddress>>, ApiError> {
    principal.require(Scope::Read)?;
    Ok(ok(PaymentAddress { address: usdc::payment_address(&state)?, chain: "base" }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutRequest {
    /// A 30-day plan's slug.
    #[schema(example = "standard")]
    plan_slug: String,
    /// `usdc` or `stripe`.
    #[schema(example = "usdc")]
    method: String,
}

/// `POST /api/billing/checkout` (billing API): a 30-day plan; USDC answers wallet instructions.
#[utoipa::path(post, path = "/api/billing/checkout", security(("bearer" = [])), request_body = CheckoutRequest,
    responses((status = 200, description = "USDC instructions, or a card session", body = PlanCheckout),
    (status = 202, description = "Stripe is slow: poll the order", body = PlanCheckout),
    (status = 501, description = "Card payments are not configured"), (status = 502, description = "Stripe refused"),
    (status = 503, description = "USDC is not configured")))]
pub async fn checkout(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CheckoutRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let plan = billing::catalog::plan_by_slug(&state.db, &req.plan_slug)
        .await?
        .filter(|p| p.kind == PlanKind::Flat30d)
        .ok_or_else(|| {
            ApiError::bad_request("invalid_request", format!("planSlug: no 30-day plan {:?}", req.plan_slug))
        })?;
    let price = plan.price_monthly.unwrap_or(Micros::ZERO);
    match req.method.as_str() {
        "usdc" => {}
        "stripe" => {
            let order = billing::orders::NewOrder {
                account_id: principal.account_id,
                kind: OrderKind::PlanCheckout,
                status: entities::OrderStatus::Pending,
                method: entities::PayMethod::Stripe,
                amount: price,
                plan_id: Some(plan.id),
                details: billing::orders::OrderDetails::default(),
            };
            // The billing API's bare shape.
            return match crate::services::checkout::stripe_checkout(&state, order).await? {
                crate::services::checkout::Checkout::Ready(r) => Ok(Json(PlanCheckout::Card(PlanSession {
                    session_url: r.url(),
                    session_id: r.session_id(),
                    order_id: None,
                    status: None,
                }))
                .into_response()),
                crate::services::checkout::Checkout::Pending { order_id } => Ok((
                    StatusCode::ACCEPTED,
                    Json(PlanCheckout::Card(PlanSession {
                        session_url: None,
                        session_id: None,
                        order_id: Some(order_id),
                        status: Some("pending"),
                    })),
                )
                    .into_response()),
            };
        }
        other => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("method: {other:?} is neither stripe nor usdc"),
            ));
        }
    }
    let started = usdc::start(&state, principal.account_id, OrderKind::PlanCheckout, price, Some(plan.id)).await?;
    let order = started.order;
    Ok(Json(PlanCheckout::Usdc(UsdcPayment {
        address: started.address,
        chain: "base",
        amount: order.amount.to_string(),
        plan_slug: Some(plan.slug),
    }))
    .into_response())
}

/// The USDC half of `POST /api/billing/topup`: wallet instructions for a pending order.
pub async fn start_topup(state: &AppState, principal: &Principal, amount: Micros) -> Result<Response, ApiError> {
    let started = usdc::start(state, principal.account_id, OrderKind::Topup, amount, None).await?;
    let amount = started.order.amount.to_string();
    Ok(ok(UsdcPayment { address: started.address, chain: "base", amount, plan_slug: None }).into_response())
}

/// An optional `logIndex`: which of several transfers to us in one transaction.
fn log_index(value: Option<&Value>) -> Result<Option<i64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|i| (0..=1_000_000).contains(i))
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("invalid_request", "logIndex must be a non-negative integer")),
    }
}

fn rejection(code: RejectCode, message: String) -> ApiError {
    let (status, code) = match code {
        RejectCode::AlreadyClaimed => (StatusCode::CONFLICT, "already_claimed"),
        RejectCode::TransactionNotFound => (StatusCode::BAD_REQUEST, "transaction_not_found"),
        RejectCode::TransactionReverted => (StatusCode::BAD_REQUEST, "transaction_reverted"),
        RejectCode::NotConfirmed => (StatusCode::BAD_REQUEST, "not_confirmed"),
        RejectCode::NoUsdcTransfer => (StatusCode::BAD_REQUEST, "no_usdc_transfer"),
        RejectCode::AmountTooSmall => (StatusCode::BAD_REQUEST, "amount_too_small"),
        RejectCode::AmountMismatch => (StatusCode::BAD_REQUEST, "amount_mismatch"),
        RejectCode::WrongSender => (StatusCode::BAD_REQUEST, "wrong_sender"),
        RejectCode::UnknownPlan => (StatusCode::BAD_REQUEST, "invalid_request"),
    };
    ApiError::new(status, code, message)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyPaymentRequest {
    /// `0x` and 64 hex digits.
    #[schema(example = "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060")]
    tx_hash: String,
    plan_slug: String,
    /// Which transfer to us in the transaction, when it holds several.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 0)]
    log_index: Option<Value>,
}

/// `POST /api/billing/verify-payment` (billing API): activate a 30-day plan paid in USDC.
#[utoipa::path(post, path = "/api/billing/verify-payment", security(("bearer" = [])), request_body = VerifyPaymentRequest,
    responses((status = 200, description = "Activated", body = PlanVerification), (status = 202, description = "Still verifying", body = PlanVerification),
    (status = 409, description = "The transfer was claimed already"), (status = 429, description = "Too many verifications this minute"),
    (status = 503, description = "USDC is not configured, or the chain cannot be read now")))]
pub async fn verify_payment(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<VerifyPaymentRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let tx = tx_hash(&req.tx_hash)?;
    if billing::catalog::plan_by_slug(&state.db, &req.plan_slug).await?.is_none_or(|p| p.kind != PlanKind::Flat30d) {
        return Err(ApiError::bad_request("invalid_request", format!("planSlug: no 30-day plan {:?}", req.plan_slug)));
    }
    let log = log_index(req.log_index.as_ref())?;
    match usdc::verify(&state, principal.account_id, tx, Purpose::Plan { slug: req.plan_slug }, log).await? {
        Verification::Pending(job_id) => Ok((
            StatusCode::ACCEPTED,
            Json(PlanVerification {
                activated: false,
                expires_at: None,
                status: Some("pending"),
                job_id: Some(job_id),
            }),
        )
            .into_response()),
        Verification::Done(UsdcResult::Activated { expires_at, .. }) => {
            Ok(Json(PlanVerification { activated: true, expires_at: Some(expires_at), status: None, job_id: None })
                .into_response())
        }
        Verification::Done(UsdcResult::Rejected { code, message }) => Err(rejection(code, message)),
        Verification::Done(UsdcResult::Credited { .. }) => {
            Err(rejection(RejectCode::AlreadyClaimed, "this transfer was used for a top-up".into()))
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyTopupRequest {
    /// `0x` and 64 hex digits.
    tx_hash: String,
    /// The USD amount sent, at least 10.
    #[schema(value_type = f64)]
    amount: Value,
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 0)]
    log_index: Option<Value>,
}

/// `POST /api/billing/verify-topup` (billing API): credit a USDC top-up.
#[utoipa::path(post, path = "/api/billing/verify-topup", security(("bearer" = [])), request_body = VerifyTopupRequest,
    responses((status = 200, description = "Credited", body = Envelope<TopupVerification>), (status = 202, description = "Still verifying", body = Envelope<TopupVerification>),
    (status = 409, description = "The transfer was claimed already"), (status = 429, description = "Too many verifications this minute"),
    (status = 503, description = "USDC is not configured, or the chain cannot be read now")))]
pub async fn verify_topup(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<VerifyTopupRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let tx = tx_hash(&req.tx_hash)?;
    let declared = usd_amount(&req.amount, "amount")?;
    if declared < billing::orders::MIN_TOPUP {
        return Err(ApiError::bad_request("invalid_request", "amount: the minimum top-up is 10 USD"));
    }
    let log = log_index(req.log_index.as_ref())?;
    match usdc::verify(&state, principal.account_id, tx.clone(), Purpose::Topup { declared }, log).await? {
        Verification::Pending(job_id) => Ok(accepted(TopupVerification {
            status: "pending",
            credited: None,
            tx_hash: tx.to_string(),
            credit_balance: None,
            job_id: Some(job_id),
        })
        .into_response()),
        Verification::Done(UsdcResult::Credited { amount, tx_hash }) => {
            let balance = billing::ledger::customer_balance(&state.db, principal.account_id).await?;
            Ok(ok(TopupVerification {
                status: "credited",
                credited: Some(amount.usd_json()),
                tx_hash: tx_hash.to_string(),
                credit_balance: Some(balance.usd_json()),
                job_id: None,
            })
            .into_response())
        }
        Verification::Done(UsdcResult::Rejected { code, message }) => Err(rejection(code, message)),
        Verification::Done(UsdcResult::Activated { .. }) => {
            Err(rejection(RejectCode::AlreadyClaimed, "this transfer paid for a plan".into()))
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeRequest {
    /// The wallet to bind: `0x` and 40 hex digits.
    #[schema(pattern = "^0x[0-9a-fA-F]{40}$")]
    wallet_address: String,
}

/// The challenge a wallet signs.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    wallet_address: String,
    nonce: String,
    /// The EIP-4361 message to sign, verbatim.
    message: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// The account's bound wallet (`null` once unbound).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoundWallet {
    wallet_address: Option<String>,
}

/// Challenges one account may ask for in a minute: each is a stored row.
const CHALLENGES_PER_MINUTE: u32 = 10;

/// `POST /api/billing/wallet/challenge`: the EIP-4361 message the wallet must sign to be
/// bound to this account (valid 10 minutes, once).
#[utoipa::path(post, path = "/api/billing/wallet/challenge", security(("bearer" = [])), request_body = ChallengeRequest,
    responses((status = 200, body = Envelope<Challenge>), (status = 400, description = "Not an address"),
              (status = 401), (status = 403, description = "No billing:write"), (status = 429, description = "Too many challenges")))]
pub async fn wallet_challenge(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> Result<Json<Envelope<Challenge>>, ApiError> {
    principal.require(Scope::Write)?;
    let wallet = Address::parse(&req.wallet_address).ok_or_else(|| {
        ApiError::bad_request("invalid_request", "walletAddress must be 0x followed by 40 hex digits")
    })?;
    let subject = format!("wallet-challenge:{}", principal.account_id);
    if !state.limiter.allow_in_window(&subject, CHALLENGES_PER_MINUTE, 60).await? {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many wallet challenges; wait a minute",
        ));
    }
    let origin = billing::wallet::Origin { public_url: &state.settings.public_url, chain_id: state.settings.chain_id };
    let ch = billing::wallet::challenge(&state.db, principal.account_id, &wallet, &origin, chrono::Utc::now()).await?;
    Ok(ok(Challenge {
        wallet_address: wallet.to_string(),
        nonce: ch.nonce,
        message: ch.message,
        expires_at: ch.expires_at,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletRequest {
    /// The nonce of the challenge.
    #[serde(default)]
    nonce: Option<String>,
    /// The wallet's EIP-191 signature of the challenge message, `0x` and 130 hex digits.
    #[serde(default)]
    signature: Option<String>,
    /// The signed message; when given it must be the one issued.
    #[serde(default)]
    message: Option<String>,
}

/// `PUT /api/billing/wallet {nonce, signature, message?}`: bind the wallet that signed the
/// challenge. USDC it sends is credited to this account; verifications must come from it.
#[utoipa::path(put, path = "/api/billing/wallet", security(("bearer" = [])), request_body = WalletRequest,
    responses((status = 200, body = Envelope<BoundWallet>),
              (status = 400, description = "invalid_challenge, message_mismatch, invalid_signature or wrong_signer"),
              (status = 401), (status = 403, description = "No billing:write"),
              (status = 409, description = "wallet_bound_elsewhere")))]
pub async fn bind_wallet(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<WalletRequest>,
) -> Result<Json<Envelope<BoundWallet>>, ApiError> {
    use billing::wallet::Refusal;
    principal.require(Scope::Write)?;
    let (Some(nonce), Some(signature)) = (req.nonce.as_deref(), req.signature.as_deref()) else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "nonce and signature are required: sign the message from POST /api/billing/wallet/challenge with the wallet",
        ));
    };
    if nonce.len() > 64 || signature.len() > 200 || req.message.as_ref().is_some_and(|m| m.len() > 2_000) {
        return Err(ApiError::bad_request("invalid_request", "nonce, signature or message is too long"));
    }
    let proved = billing::wallet::prove(
        &state.db,
        principal.account_id,
        nonce,
        req.message.as_deref(),
        signature,
        chrono::Utc::now(),
    )
    .await?;
    match proved {
        Ok(wallet) => Ok(ok(BoundWallet { wallet_address: Some(wallet.to_string()) })),
        Err(r) => Err(match r {
            Refusal::UnknownChallenge => ApiError::bad_request(
                "invalid_challenge",
                "no unused, unexpired challenge with this nonce for this account; ask for a new one",
            ),
            Refusal::MessageMismatch => ApiError::bad_request("message_mismatch", "message is not the one issued"),
            Refusal::BadSignature => ApiError::bad_request("invalid_signature", "signature is not a valid signature"),
            Refusal::WrongSigner => {
                ApiError::bad_request("wrong_signer", "the message was not signed by the challenged wallet")
            }
            Refusal::BoundElsewhere => {
                ApiError::new(StatusCode::CONFLICT, "wallet_bound_elsewhere", "this wallet is bound to another account")
            }
        }),
    }
}

/// `DELETE /api/billing/wallet`: unbind the account's wallet.
#[utoipa::path(delete, path = "/api/billing/wallet", security(("bearer" = [])),
    responses((status = 200, body = Envelope<BoundWallet>), (status = 401), (status = 403, description = "No billing:write")))]
pub async fn unbind_wallet(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<BoundWallet>>, ApiError> {
    principal.require(Scope::Write)?;
    billing::wallet::unbind(&state.db, principal.account_id).await?;
    Ok(ok(BoundWallet { wallet_address: None }))
}

/// `GET /admin/usdc/unmatched`: transfers the scan saw that no order or verification
/// claimed, dust (below `USDC_DUST_BELOW_MICROS`) included and marked.
#[utoipa::path(get, path = "/admin/usdc/unmatched", security(("bearer" = [])), responses((status = 200, body = Envelope<Vec<UnmatchedTransfer>>)))]
pub async fn unmatched(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<Vec<UnmatchedTransfer>>>, ApiError> {
    principal.require(Scope::Admin)?;
    let rows = billing::usdc::unmatched(&state.db, 1_000).await?;
    Ok(ok(rows
        .into_iter()
        .map(|r| UnmatchedTransfer {
            dust: r.status == entities::UsdcTransferStatus::Dust,
            chain_id: r.chain_id,
            tx_hash: r.tx_hash,
            log_index: r.log_index,
            from: r.from_address,
            to: r.to_address,
            amount: r.amount.usd_json(),
            block_number: r.block_number,
            seen_at: r.created_at,
        })
        .collect()))
}
