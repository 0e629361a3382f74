//! The billing API: balances, status, cards, card and USDC top-ups, wallets, pools and
//! API keys (`/api/billing/*`, `/api/pools*`, `/api/keys*`), management keys
//! (`/api/management-keys*`), and its retired routes.

use super::{Routes, finish, for_account, for_accounts, for_anyone};
use crate::client_limits::ClientLimit;
use crate::error::Envelope;
use crate::routes::{cards, credits, history, keys, management_keys, pools, retired, status, topup, usdc};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(state: &AppState, public: &ClientLimit) -> Routes {
    let guard = |r| for_account(state, r);
    let accounts = OpenApiRouter::new()
        .routes(guard(routes!(credits::billing_credits)))
        .routes(guard(routes!(status::status)))
        .routes(guard(routes!(status::cancel)))
        .routes(guard(routes!(history::billing_transactions)))
        .routes(guard(routes!(cards::payment_methods)))
        .routes(guard(routes!(cards::delete_payment_method)))
        .routes(guard(routes!(cards::setup_intent)))
        .routes(guard(routes!(cards::setup_checkout)))
        .routes(guard(routes!(cards::portal)))
        .routes(guard(routes!(usdc::address)))
        .routes(guard(routes!(usdc::checkout)))
        .routes(guard(routes!(usdc::verify_payment)))
        .routes(guard(routes!(usdc::verify_topup)))
        .routes(guard(routes!(topup::topup)))
        .routes(guard(routes!(usdc::bind_wallet, usdc::unbind_wallet)))
        .routes(guard(routes!(usdc::wallet_challenge)))
        .routes(guard(routes!(pools::list)))
        .routes(guard(routes!(pools::one)))
        .routes(guard(routes!(pools::my_pledge)))
        .routes(guard(routes!(pools::subscribe)))
        .routes(guard(routes!(keys::list)))
        .routes(guard(routes!(keys::create_subscription_key)))
        .routes(guard(routes!(keys::create_credit_key)))
        .routes(guard(routes!(keys::rotate)))
        .routes(guard(routes!(keys::revoke)))
        .routes(guard(routes!(management_keys::create, management_keys::list)))
        .routes(guard(routes!(management_keys::revoke)));
    let retired =
        OpenApiRouter::new().routes(routes!(retired::legacy_plans)).routes(routes!(retired::legacy_subscribe));
    let routes = for_accounts(accounts, state).merge(for_anyone(retired, public));
    finish(routes, "billing", Envelope::Success, &state.settings)
}
