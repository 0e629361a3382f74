//! The Creem side of an order: a hosted checkout of the plan's Creem product (a recurring
//! plan) or of units of the one-dollar top-up product (credits), or the customer's portal
//! link. The checkout id and URL are stored on the order; its `checkout.completed` must name
//! that id to pay it (`billing::creem::effects::apply_checkout`).

use super::JobError;
use crate::creem_api::{CreemClient, NewCheckout};
use crate::runner::Ctx;
use billing::jobs::contracts::CheckoutOutput;
use billing::orders::OrderDetails;
use entities::{BillingInterval, OrderKind};
use sea_orm::EntityTrait;
use serde_json::json;

pub async fn handle(ctx: &Ctx, order: &entities::orders::Model) -> Result<CheckoutOutput, JobError> {
    let client = ctx.creem.as_ref().ok_or_else(|| JobError::Terminal("Creem is not configured".into()))?;
    let account = entities::accounts::Entity::find_by_id(order.account_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| JobError::Terminal(format!("account of order {} not found", order.id)))?;
    if order.kind == OrderKind::Portal {
        let customer = account
            .creem_customer_id
            .ok_or_else(|| JobError::Terminal("the account has not paid through Creem".into()))?;
        return Ok(CheckoutOutput::Portal { url: client.portal(&customer).await? });
    }
    let details = OrderDetails::of(order);
    let (product, units, plan_id) = match order.kind {
        OrderKind::Topup => {
            let product = ctx.settings.creem.topup_product_id.clone().ok_or_else(|| {
                JobError::Terminal("CREEM_TOPUP_PRODUCT_ID is not set: credits are not sold through Creem".into())
            })?;
            // The product is one dollar: as many units as dollars.
            let dollars = order.amount.to_cents() / 100;
            (product, Some(dollars), None)
        }
        OrderKind::RecurringSubscription => {
            let plan_id = order.plan_id.ok_or_else(|| JobError::Terminal("recurring order without a plan".into()))?;
            let plan = billing::catalog::plan_by_id(&ctx.db, plan_id)
                .await?
                .ok_or_else(|| JobError::Terminal(format!("plan {plan_id} not found")))?;
            let interval = details.interval.unwrap_or(BillingInterval::Month);
            let product = billing::catalog::creem_product_for(&plan, interval)
                .ok_or_else(|| JobError::Terminal(format!("plan {} has no Creem product", plan.slug)))?;
            (product.to_owned(), None, Some(plan_id))
        }
        other => return Err(JobError::Terminal(format!("{other:?} orders are not sold through Creem"))),
    };
    let order_id = order.id.to_string();
    let success = details.success_url.unwrap_or_else(|| ctx.settings.checkout_success_url.clone());
    let kind = if order.kind == OrderKind::Topup { "topup" } else { "recurring" };
    let mut metadata = json!({"order_id": order_id, "account_id": order.account_id.to_string(), "kind": kind});
    if let Some(plan_id) = plan_id {
        metadata["plan_id"] = json!(plan_id.to_string());
    }
    let created = create(client, &product, &order_id, units, &success, metadata, account.email.as_deref()).await?;
    billing::orders::awaiting_payment(&ctx.db, order.id, &created.id, &created.checkout_url).await?;
    Ok(CheckoutOutput::Session { session_id: created.id, session_url: Some(created.checkout_url) })
}

async fn create(
    client: &CreemClient,
    product_id: &str,
    request_id: &str,
    units: Option<i64>,
    success_url: &str,
    metadata: serde_json::Value,
    email: Option<&str>,
) -> Result<crate::creem_api::CreatedCheckout, JobError> {
    client.create_checkout(NewCheckout { product_id, request_id, units, success_url, metadata, email }).await
}
