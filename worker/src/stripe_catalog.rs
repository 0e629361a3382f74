//! What must exist at Stripe before a subscription checkout: the plan's Product and
//! recurring Price, and the coupon. Each is created once — the request keyed by our id —
//! and its Stripe id remembered on our row.

use crate::jobs::JobError;
use crate::runner::Ctx;
use crate::stripe_api::{classify, idempotent};
use entities::BillingInterval;
use entities::plans::{Column as PlanCol, Entity as Plans};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use stripe_client_core::{RequestBuilder, StripeMethod};

fn interval_name(interval: BillingInterval) -> &'static str {
    match interval {
        BillingInterval::Month => "month",
        BillingInterval::Year => "year",
    }
}

/// The Stripe Price of a recurring plan for an interval, created on first use.
pub async fn ensure_price(
    ctx: &Ctx,
    client: &stripe::Client,
    plan: &entities::plans::Model,
    interval: BillingInterval,
) -> Result<String, JobError> {
    let (known, column) = match interval {
        BillingInterval::Month => (&plan.stripe_price_monthly, PlanCol::StripePriceMonthly),
        BillingInterval::Year => (&plan.stripe_price_yearly, PlanCol::StripePriceYearly),
    };
    if let Some(id) = known {
        return Ok(id.clone());
    }
    let amount = billing::catalog::price_for(plan, interval)
        .filter(|a| a.is_positive())
        .ok_or_else(|| JobError::Terminal(format!("plan {} has no {interval:?} price", plan.slug)))?;
    let product: stripe_shared::Product = RequestBuilder::new(StripeMethod::Post, "/products")
        .form(&json!({"name": plan.name, "metadata": {"plan_id": plan.id.to_string()}}))
        .customize()
        .request_strategy(idempotent(&format!("product:{}", plan.id))?)
        .send(client)
        .await
        .map_err(classify)?;
    let name = interval_name(interval);
    let price: stripe_shared::Price = RequestBuilder::new(StripeMethod::Post, "/prices")
        .form(&json!({
            "product": product.id.to_string(),
            "unit_amount": amount.to_cents(),
            "currency": "usd",
            "recurring": {"interval": name},
            "metadata": {"plan_id": plan.id.to_string()},
        }))
        .customize()
        .request_strategy(idempotent(&format!("price:{}:{name}:{}", plan.id, amount.get()))?)
        .send(client)
        .await
        .map_err(classify)?;
    Plans::update_many()
        .col_expr(column, Expr::value(Some(price.id.to_string())))
        .filter(PlanCol::Id.eq(plan.id))
        .filter(column.is_null())
        .exec(&ctx.db)
        .await?;
    Ok(price.id.to_string())
}

/// The coupon at Stripe (its id is our code), created on first use.
pub async fn ensure_coupon(
    ctx: &Ctx,
    client: &stripe::Client,
    coupon: &entities::coupons::Model,
) -> Result<String, JobError> {
    if let Some(id) = &coupon.stripe_coupon_id {
        return Ok(id.clone());
    }
    let mut form = json!({"id": coupon.code, "duration": "once", "name": coupon.code});
    match (coupon.percent_off, coupon.amount_off) {
        (Some(p), _) => form["percent_off"] = json!(p),
        (None, Some(a)) => {
            form["amount_off"] = json!(a.to_cents());
            form["currency"] = json!("usd");
        }
        (None, None) => return Err(JobError::Terminal(format!("coupon {} has no discount", coupon.code))),
    }
    let created: stripe_shared::Coupon = RequestBuilder::new(StripeMethod::Post, "/coupons")
        .form(&form)
        .customize()
        .request_strategy(idempotent(&format!("coupon:{}", coupon.id))?)
        .send(client)
        .await
        .map_err(classify)?;
    billing::coupons::set_stripe_id(&ctx.db, coupon.id, created.id.as_str()).await?;
    Ok(created.id.to_string())
}
