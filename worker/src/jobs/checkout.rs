//! Creates the Stripe side of an order: the account's Stripe customer (once) and a
//! Checkout Session, each with a deterministic `Idempotency-Key`; the session id and URL
//! are stored on the order and returned as the job's result for the waiting request.

use super::JobError;
use crate::runner::Ctx;
use billing::jobs::contracts::{ChargeOutcome, CheckoutOutput, Detached};
use billing::orders::{CardFlow, OrderDetails};
use billing::{AccountId, OrderId};
use entities::OrderKind;
use entities::accounts::{Column as AccCol, Entity as Accounts};
use entities::orders::Entity as Orders;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData, ProductData,
};
use stripe_client_core::StripeRequest;
use stripe_core::customer::CreateCustomer;

pub async fn handle(ctx: &Ctx, job: &entities::jobs::Model, order_id: OrderId) -> Result<CheckoutOutput, JobError> {
    let order = Orders::find_by_id(order_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| JobError::Terminal(format!("order {order_id} not found")))?;
    if let (Some(id), Some(url)) = (&order.provider_session_id, &order.checkout_url) {
        return Ok(CheckoutOutput::Session { session_id: id.clone(), session_url: Some(url.clone()) });
    }
    // Each card provider opens its own checkout; the order, its payment and its books are shared.
    if order.method == entities::PayMethod::Creem {
        return super::creem_checkout::handle(ctx, &order).await;
    }
    let client = ctx.stripe.as_ref().ok_or_else(|| JobError::Terminal("Stripe is not configured".into()))?;
    if order.method == entities::PayMethod::StripeDirect {
        return charge_saved_card(ctx, client, job, &order).await;
    }
    if order.kind == OrderKind::CardSetup {
        return save_card(ctx, client, job, &order).await;
    }
    if order.kind == OrderKind::Portal {
        let customer = customer_for(ctx, client, order.account_id).await?;
        let return_url =
            OrderDetails::of(&order).return_url.unwrap_or_else(|| ctx.settings.checkout_cancel_url.clone());
        let portal = stripe_billing::billing_portal_session::CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .customize()
            .request_strategy(crate::stripe_api::idempotent(&job.job_key)?)
            .send(client)
            .await
            .map_err(crate::stripe_api::classify)?;
        return Ok(CheckoutOutput::Portal { url: portal.url });
    }
    if matches!(order.kind, OrderKind::RecurringSubscription | OrderKind::PoolSubscription | OrderKind::KeyTier) {
        return subscription_session(ctx, client, job, &order).await;
    }
    let product = match order.kind {
        OrderKind::Topup => "Credit top-up".to_owned(),
        OrderKind::PlanCheckout => {
            let plan_id = order.plan_id.ok_or_else(|| JobError::Terminal("plan order without a plan".into()))?;
            let plan = entities::plans::Entity::find_by_id(plan_id)
                .one(&ctx.db)
                .await?
                .ok_or_else(|| JobError::Terminal(format!("plan {plan_id} not found")))?;
            format!("{} plan, 30 days", plan.name)
        }
        other => return Err(JobError::Terminal(format!("checkout for {other:?} orders is not built yet"))),
    };
    let customer = customer_for(ctx, client, order.account_id).await?;
    let cents = charge_cents(&order)?;
    let line = CreateCheckoutSessionLineItems {
        price_data: Some(CreateCheckoutSessionLineItemsPriceData {
            unit_amount: Some(cents),
            product_data: Some(ProductData::new(product)),
            ..CreateCheckoutSessionLineItemsPriceData::new(stripe_types::Currency::USD)
        }),
        quantity: Some(1),
        ..CreateCheckoutSessionLineItems::new()
    };
    let metadata = HashMap::from([("order_id".to_owned(), order.id.to_string())]);
    let details = OrderDetails::of(&order);
    let success = details.success_url.unwrap_or_else(|| ctx.settings.checkout_success_url.clone());
    let cancel = details.cancel_url.unwrap_or_else(|| ctx.settings.checkout_cancel_url.clone());
    let session = CreateCheckoutSession::new()
        .mode(stripe_shared::CheckoutSessionMode::Payment)
        .customer(customer)
        .client_reference_id(order.id.to_string())
        .metadata(metadata)
        .line_items(vec![line])
        .success_url(success)
        .cancel_url(cancel)
        .customize()
        .request_strategy(crate::stripe_api::idempotent(&job.job_key)?)
        .send(client)
        .await
        .map_err(crate::stripe_api::classify)?;
    store_session(ctx, &order, &session).await
}

/// Remembers the session on the order, which now awaits payment; the job's result for the
/// waiting request.
async fn store_session(
    ctx: &Ctx,
    order: &entities::orders::Model,
    session: &stripe_shared::CheckoutSession,
) -> Result<CheckoutOutput, JobError> {
    let url = session.url.clone().unwrap_or_default();
    billing::orders::awaiting_payment(&ctx.db, order.id, session.id.as_str(), &url).await?;
    Ok(CheckoutOutput::Session { session_id: session.id.to_string(), session_url: Some(url) })
}

/// The account's Stripe customer, created once (keyed by account) and remembered.
async fn customer_for(ctx: &Ctx, client: &stripe::Client, account_id: AccountId) -> Result<String, JobError> {
    let account = Accounts::find_by_id(account_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| JobError::Terminal(format!("account {account_id} not found")))?;
    if let Some(id) = account.stripe_customer_id {
        return Ok(id);
    }
    let mut create = CreateCustomer::new().metadata(HashMap::from([("account_id".to_owned(), account_id.to_string())]));
    if let Some(email) = account.email {
        create = create.email(email);
    }
    let customer = create
        .customize()
        .request_strategy(crate::stripe_api::idempotent(&format!("customer:{account_id}"))?)
        .send(client)
        .await
        .map_err(crate::stripe_api::classify)?;
    Accounts::update_many()
        .col_expr(AccCol::StripeCustomerId, Expr::value(Some(customer.id.to_string())))
        .filter(AccCol::Id.eq(account_id))
        .filter(AccCol::StripeCustomerId.is_null())
        .exec(&ctx.db)
        .await?;
    Ok(customer.id.to_string())
}

/// `stripe_direct`: charges the saved card off-session with a PaymentIntent (keyed by the
/// job) and applies the payment at once; a decline is an answer, not a failure.
async fn charge_saved_card(
    ctx: &Ctx,
    client: &stripe::Client,
    job: &entities::jobs::Model,
    order: &entities::orders::Model,
) -> Result<CheckoutOutput, JobError> {
    use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentOffSession};
    let Some(pm) = OrderDetails::of(order).payment_method else {
        return Err(JobError::Terminal("direct charge without a payment method".into()));
    };
    let customer = customer_for(ctx, client, order.account_id).await?;
    let cents = charge_cents(order)?;
    let sent = CreatePaymentIntent::new(cents, stripe_types::Currency::USD)
        .customer(customer)
        .payment_method(pm)
        .confirm(true)
        .off_session(CreatePaymentIntentOffSession::Bool(true))
        .metadata(HashMap::from([("order_id".to_owned(), order.id.to_string())]))
        .customize()
        .request_strategy(crate::stripe_api::idempotent(&job.job_key)?)
        .send(client)
        .await;
    let intent = match sent {
        Ok(intent) => intent,
        Err(stripe::StripeError::Stripe(err, 402)) => {
            billing::orders::mark_failed(&ctx.db, order.id, err.message.as_deref().unwrap_or("card declined")).await?;
            return Ok(CheckoutOutput::Charge {
                outcome: ChargeOutcome::Declined,
                payment_intent: None,
                code: err.code.as_ref().map(|c| format!("{c:?}")),
                message: err.message,
            });
        }
        Err(e) => return Err(crate::stripe_api::classify(e)),
    };
    if intent.status != stripe_shared::PaymentIntentStatus::Succeeded {
        return Ok(CheckoutOutput::Charge {
            outcome: ChargeOutcome::Pending,
            payment_intent: Some(intent.id.to_string()),
            code: None,
            message: None,
        });
    }
    let txn = billing::db::begin_write(&ctx.db).await?;
    let outcome = billing::stripe::checkout::apply_paid_order(
        &txn,
        entities::PaymentProvider::Stripe,
        order.id,
        intent.id.as_str(),
        Some(intent.amount),
        None,
    )
    .await?;
    txn.commit().await?;
    tracing::info!(order = %order.id, ?outcome, "saved card charged");
    Ok(CheckoutOutput::Charge {
        outcome: ChargeOutcome::Succeeded,
        payment_intent: Some(intent.id.to_string()),
        code: None,
        message: None,
    })
}

/// Saving a card: a SetupIntent for Stripe.js (`clientSecret`), or a hosted Checkout
/// Session in setup mode (`sessionUrl`); the card arrives later as `payment_method.attached`.
async fn save_card(
    ctx: &Ctx,
    client: &stripe::Client,
    job: &entities::jobs::Model,
    order: &entities::orders::Model,
) -> Result<CheckoutOutput, JobError> {
    use stripe_core::setup_intent::{CreateSetupIntent, CreateSetupIntentUsage};
    let customer = customer_for(ctx, client, order.account_id).await?;
    let strategy = crate::stripe_api::idempotent(&job.job_key)?;
    if OrderDetails::of(order).flow == Some(CardFlow::SetupIntent) {
        let intent = CreateSetupIntent::new()
            .customer(customer)
            .usage(CreateSetupIntentUsage::OffSession)
            .customize()
            .request_strategy(strategy)
            .send(client)
            .await
            .map_err(crate::stripe_api::classify)?;
        return Ok(CheckoutOutput::SetupIntent {
            client_secret: intent.client_secret,
            setup_intent: intent.id.to_string(),
        });
    }
    let session = CreateCheckoutSession::new()
        .mode(stripe_shared::CheckoutSessionMode::Setup)
        .customer(customer)
        .client_reference_id(order.id.to_string())
        .currency(stripe_types::Currency::USD)
        .success_url(ctx.settings.checkout_success_url.clone())
        .cancel_url(ctx.settings.checkout_cancel_url.clone())
        .customize()
        .request_strategy(strategy)
        .send(client)
        .await
        .map_err(crate::stripe_api::classify)?;
    Ok(CheckoutOutput::Session { session_id: session.id.to_string(), session_url: session.url })
}

/// Removes a saved card at Stripe, then here (the `payment_method.detached` event that
/// follows finds it done).
pub async fn detach_card(
    ctx: &Ctx,
    job: &entities::jobs::Model,
    pm: &str,
    account_id: AccountId,
) -> Result<Detached, JobError> {
    let client = ctx.stripe.as_ref().ok_or_else(|| JobError::Terminal("Stripe is not configured".into()))?;
    let owned = billing::payment_methods::list(&ctx.db, account_id).await?.iter().any(|c| c.id == pm);
    if !owned {
        return Ok(Detached { detached: false });
    }
    stripe_payment::payment_method::DetachPaymentMethod::new(pm)
        .customize()
        .request_strategy(crate::stripe_api::idempotent(&job.job_key)?)
        .send(client)
        .await
        .map_err(crate::stripe_api::classify)?;
    billing::payment_methods::mark_detached(&ctx.db, pm).await?;
    Ok(Detached { detached: true })
}

/// A Checkout Session in subscription mode: a recurring plan (subscription API and credits API) at its Stripe
/// Price, a pool pledge (billing API) or an API-key tier (key-tier API) at an inline recurring price. The
/// subscription's metadata says what it is for, so its events find their way back.
async fn subscription_session(
    ctx: &Ctx,
    client: &stripe::Client,
    job: &entities::jobs::Model,
    order: &entities::orders::Model,
) -> Result<CheckoutOutput, JobError> {
    use stripe_checkout::checkout_session::{
        CreateCheckoutSessionDiscounts, CreateCheckoutSessionLineItemsPriceDataRecurring as Recurring,
        CreateCheckoutSessionLineItemsPriceDataRecurringInterval as Interval, CreateCheckoutSessionSubscriptionData,
    };
    let details = OrderDetails::of(order);
    let interval = details.interval.unwrap_or(entities::BillingInterval::Month);
    let mut metadata = HashMap::from([
        ("account_id".to_owned(), order.account_id.to_string()),
        ("order_id".to_owned(), order.id.to_string()),
    ]);
    let plan = match order.plan_id {
        Some(id) => Some(
            entities::plans::Entity::find_by_id(id)
                .one(&ctx.db)
                .await?
                .ok_or_else(|| JobError::Terminal(format!("plan {id} not found")))?,
        ),
        None => None,
    };
    let inline = |name: String, cents: i64| CreateCheckoutSessionLineItemsPriceData {
        unit_amount: Some(cents),
        product_data: Some(ProductData::new(name)),
        recurring: Some(Recurring {
            interval: if interval == entities::BillingInterval::Year { Interval::Year } else { Interval::Month },
            interval_count: None,
        }),
        ..CreateCheckoutSessionLineItemsPriceData::new(stripe_types::Currency::USD)
    };
    let line = match (order.kind, &plan) {
        (OrderKind::RecurringSubscription, Some(plan)) => {
            metadata.insert("kind".into(), "recurring".into());
            metadata.insert("plan_id".into(), plan.id.to_string());
            let price = crate::stripe_catalog::ensure_price(ctx, client, plan, interval).await?;
            CreateCheckoutSessionLineItems {
                price: Some(price),
                quantity: Some(1),
                ..CreateCheckoutSessionLineItems::new()
            }
        }
        (OrderKind::KeyTier, Some(plan)) => {
            metadata.insert("kind".into(), "key_tier".into());
            metadata.insert("plan_id".into(), plan.id.to_string());
            let cents = charge_cents(order)?;
            CreateCheckoutSessionLineItems {
                price_data: Some(inline(format!("{} API tier", plan.name), cents)),
                quantity: Some(1),
                ..CreateCheckoutSessionLineItems::new()
            }
        }
        (OrderKind::PoolSubscription, _) => {
            let pledge = details.pledge_id.ok_or_else(|| JobError::Terminal("pool order without a pledge".into()))?;
            metadata.insert("kind".into(), "pool".into());
            metadata.insert("pledge_id".into(), pledge.to_string());
            let cents = charge_cents(order)?;
            let name = details.description.clone().unwrap_or_else(|| "Pool time blocks".to_owned());
            CreateCheckoutSessionLineItems {
                price_data: Some(inline(name, cents)),
                quantity: Some(1),
                ..CreateCheckoutSessionLineItems::new()
            }
        }
        (kind, _) => return Err(JobError::Terminal(format!("{kind:?} order without a plan"))),
    };
    let customer = customer_for(ctx, client, order.account_id).await?;
    let success = details.success_url.unwrap_or_else(|| ctx.settings.checkout_success_url.clone());
    let cancel = details.cancel_url.unwrap_or_else(|| ctx.settings.checkout_cancel_url.clone());
    let mut create = CreateCheckoutSession::new()
        .mode(stripe_shared::CheckoutSessionMode::Subscription)
        .customer(customer)
        .client_reference_id(order.id.to_string())
        .metadata(HashMap::from([("order_id".to_owned(), order.id.to_string())]))
        .subscription_data(CreateCheckoutSessionSubscriptionData {
            metadata: Some(metadata),
            ..CreateCheckoutSessionSubscriptionData::new()
        })
        .line_items(vec![line])
        .success_url(success)
        .cancel_url(cancel);
    if let Some(coupon_id) = order.coupon_id {
        let coupon = entities::coupons::Entity::find_by_id(coupon_id)
            .one(&ctx.db)
            .await?
            .ok_or_else(|| JobError::Terminal(format!("coupon {coupon_id} not found")))?;
        let stripe_coupon = crate::stripe_catalog::ensure_coupon(ctx, client, &coupon).await?;
        create = create
            .discounts(vec![CreateCheckoutSessionDiscounts { coupon: Some(stripe_coupon), promotion_code: None }]);
    }
    let session = create
        .customize()
        .request_strategy(crate::stripe_api::idempotent(&job.job_key)?)
        .send(client)
        .await
        .map_err(crate::stripe_api::classify)?;
    store_session(ctx, order, &session).await
}

/// What the card is charged for an order, in cents: exactly the order's amount, or nothing.
/// The api refuses sub-cent card amounts; this guards every other way an order is made.
fn charge_cents(order: &entities::orders::Model) -> Result<i64, JobError> {
    let amount = order.amount;
    if !amount.is_whole_cents() {
        return Err(JobError::Terminal(format!("order amount {amount} is not a whole number of cents")));
    }
    Ok(amount.to_cents())
}
