//! The operators' routes (`/admin/*`): plans, coupons, manual credits, check-in settings,
//! unmatched USDC transfers, reconciliation, dead jobs and queues, ledger totals and recent
//! provider webhooks (what the dashboard at `/admin` shows). Admin scope only; each
//! handler checks it.

use super::{Routes, finish, for_account, for_accounts};
use crate::error::Envelope;
use crate::routes::{admin_credits, admin_jobs, admin_overview, admin_plans, checkin, coupons, reconciliation, usdc};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(state: &AppState) -> Routes {
    let guard = |r| for_account(state, r);
    let admin = OpenApiRouter::new()
        .routes(guard(routes!(admin_plans::list, admin_plans::create)))
        .routes(guard(routes!(admin_plans::update)))
        .routes(guard(routes!(coupons::list, coupons::create)))
        .routes(guard(routes!(admin_credits::transactions)))
        .routes(guard(routes!(admin_credits::manual)))
        .routes(guard(routes!(checkin::get_config, checkin::put_config)))
        .routes(guard(routes!(usdc::unmatched)))
        .routes(guard(routes!(reconciliation::report)))
        .routes(guard(routes!(reconciliation::run)))
        .routes(guard(routes!(admin_jobs::dead)))
        .routes(guard(routes!(admin_jobs::requeue_all)))
        .routes(guard(routes!(admin_jobs::requeue)))
        .routes(guard(routes!(admin_jobs::queues)))
        .routes(guard(routes!(admin_jobs::pause)))
        .routes(guard(routes!(admin_jobs::resume)))
        .routes(guard(routes!(admin_overview::ledger)))
        .routes(guard(routes!(admin_overview::recent_webhooks)));
    finish(for_accounts(admin, state), "admin", Envelope::Success, &state.settings)
}
