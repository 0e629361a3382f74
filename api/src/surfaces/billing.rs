//! The billing API: balances, status, cards, card and USDC top-ups, wallets, pools and
//! API keys (`/api/billing/*`, `/api/pools*`, `/api/keys*`), and its retired routes.

use super::{Routes, finish, for_accounts, for_anyone};
use crate::client_limits::ClientLimit;
use crate::error::Envelope;
use crate::routes::{cards, credits, history, keys, pools, retired, status, topup, usdc};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(state: &AppState, public: &ClientLimit) -> Routes {
    let accounts = OpenApiRouter::new()
        .routes(routes!(credits::billing_credits))
        .routes(routes!(status::status))
        .routes(routes!(status::cancel))
        .routes(routes!(history::billing_transactions))
        .routes(routes!(cards::payment_methods))
        .routes(routes!(cards::delete_payment_method))
        .routes(routes!(cards::setup_intent))
        .routes(routes!(cards::setup_checkout))
        .routes(routes!(cards::portal))
        .routes(routes!(usdc::address))
        .routes(routes!(usdc::checkout))
        .routes(routes!(usdc::verify_payment))
        .routes(routes!(usdc::verify_topup))
        .routes(routes!(topup::topup))
        .routes(routes!(usdc::bind_wallet, usdc::unbind_wallet))
        .routes(routes!(usdc::wallet_challenge))
        .routes(routes!(pools::list))
        .routes(routes!(pools::one))
        .routes(routes!(pools::my_pledge))
        .routes(routes!(pools::subscribe))
        .routes(routes!(keys::list))
        .routes(routes!(keys::create_subscription_key))
        .routes(routes!(keys::create_credit_key))
        .routes(routes!(keys::rotate))
        .routes(routes!(keys::revoke));
    let retired =
        OpenApiRouter::new().routes(routes!(retired::legacy_plans)).routes(routes!(retired::legacy_subscribe));
    let routes = for_accounts(accounts, state).merge(for_anyone(retired, public));
    finish(routes, Envelope::Success, &state.settings)
}
