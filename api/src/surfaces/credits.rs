//! The credits API: integer credit balances and history, orders, the daily check-in, and
//! checkout sessions (`/credits/*`, `/orders*`, `/checkin`, `/payment/create-session`,
//! `/subscription/plans`).

use super::{Routes, finish, for_account, for_accounts, for_anyone};
use crate::client_limits::ClientLimit;
use crate::error::Envelope;
use crate::routes::{checkin, credits, history, plans, subscription};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(state: &AppState, public: &ClientLimit) -> Routes {
    let guard = |r| for_account(state, r);
    let accounts = OpenApiRouter::new()
        .routes(guard(routes!(credits::balance)))
        .routes(guard(routes!(history::credit_transactions)))
        .routes(guard(routes!(history::orders)))
        .routes(guard(routes!(history::order)))
        .routes(guard(routes!(checkin::check_in)))
        .routes(guard(routes!(subscription::create_session)));
    let catalog = OpenApiRouter::new().routes(routes!(plans::list_in_credits));
    let routes = for_accounts(accounts, state).merge(for_anyone(catalog, public));
    finish(routes, "credits", Envelope::Success, &state.settings)
}
