//! The operators' routes (`/admin/*`): plans, coupons, manual credits, check-in settings,
//! unmatched USDC transfers, reconciliation, dead jobs and queues. Admin scope only; each
//! handler checks it.

use super::{Routes, finish, for_accounts};
use crate::error::Envelope;
use crate::routes::{admin_credits, admin_jobs, admin_plans, checkin, coupons, reconciliation, usdc};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(state: &AppState) -> Routes {
    let admin = OpenApiRouter::new()
        .routes(routes!(admin_plans::list, admin_plans::create))
        .routes(routes!(admin_plans::update))
        .routes(routes!(coupons::list, coupons::create))
        .routes(routes!(admin_credits::transactions))
        .routes(routes!(admin_credits::manual))
        .routes(routes!(checkin::get_config, checkin::put_config))
        .routes(routes!(usdc::unmatched))
        .routes(routes!(reconciliation::report))
        .routes(routes!(reconciliation::run))
        .routes(routes!(admin_jobs::dead))
        .routes(routes!(admin_jobs::requeue_all))
        .routes(routes!(admin_jobs::requeue))
        .routes(routes!(admin_jobs::queues))
        .routes(routes!(admin_jobs::pause))
        .routes(routes!(admin_jobs::resume));
    finish(for_accounts(admin, state), Envelope::Success, &state.settings)
}
