//! The plan catalog is data: `catalog.json` is loaded at release (`migrate`) and upserted
//! by slug, so editing the file and re-running `migrate` updates prices and names.

use crate::error::DomainError;
use crate::money::Micros;
use chrono::Utc;
use entities::PlanKind;
use entities::plans::{self, Column, Entity as Plans};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CatalogFile {
    plans: Vec<PlanEntry>,
    #[serde(default)]
    pools: Vec<PoolEntry>,
}

/// One limit of a plan, as the catalog file and the admin routes give it.
#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitEntry {
    pub key: String,
    pub label: String,
    #[serde(default)]
    pub unit: String,
    /// Absent: unlimited.
    pub value: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoolEntry {
    slug: String,
    name: String,
    description: String,
    price_per_block_monthly: String,
    price_per_block_yearly: String,
    capacity: i32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanEntry {
    slug: String,
    name: String,
    description: String,
    kind: PlanKind,
    /// USD as a decimal string ("60"), never a float.
    price_monthly: Option<String>,
    price_yearly: Option<String>,
    #[serde(default)]
    credits_per_period: i64,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    limits: Vec<LimitEntry>,
}

fn price(text: &Option<String>, slug: &str) -> Result<Option<Micros>, DomainError> {
    text.as_deref()
        .map(|t| Micros::parse_usd(t).map_err(|e| DomainError::Invalid(format!("plan {slug}: price {t:?}: {e}"))))
        .transpose()
}

/// Upserts every plan (with its limits) and pool of the catalog text. Returns how many
/// plans it holds.
pub async fn load<C: ConnectionTrait>(db: &C, text: &str) -> Result<usize, DomainError> {
    let file: CatalogFile = serde_json::from_str(text).map_err(|e| DomainError::Invalid(format!("catalog: {e}")))?;
    let now = Utc::now();
    for (i, p) in file.plans.iter().enumerate() {
        let (monthly, yearly) = (price(&p.price_monthly, &p.slug)?, price(&p.price_yearly, &p.slug)?);
        let before = Plans::find().filter(Column::Slug.eq(&p.slug)).one(db).await?;
        let row = plans::ActiveModel {
            id: Set(Uuid::now_v7()),
            slug: Set(p.slug.clone()),
            name: Set(p.name.clone()),
            description: Set(p.description.clone()),
            kind: Set(p.kind),
            price_monthly: Set(monthly),
            price_yearly: Set(yearly),
            credits_per_period: Set(Micros::new(p.credits_per_period)),
            stripe_price_monthly: Set(None),
            stripe_price_yearly: Set(None),
            // Set by operators through the admin routes; a reload keeps them.
            creem_product_id: Set(None),
            creem_product_id_yearly: Set(None),
            features: Set(serde_json::json!(p.features)),
            is_active: Set(true),
            sort_order: Set(i as i32),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let mut refreshed = vec![
            Column::Name,
            Column::Description,
            Column::Kind,
            Column::PriceMonthly,
            Column::PriceYearly,
            Column::CreditsPerPeriod,
            Column::Features,
            Column::SortOrder,
            Column::UpdatedAt,
        ];
        // Stripe Prices are immutable: a changed price must not keep selling the old one.
        // The row's Stripe price id is null, so updating it too forgets the old Price and the
        // next checkout creates one for the new amount.
        if let Some(b) = &before {
            if b.price_monthly != monthly {
                refreshed.push(Column::StripePriceMonthly);
            }
            if b.price_yearly != yearly {
                refreshed.push(Column::StripePriceYearly);
            }
        }
        Plans::insert(row)
            .on_conflict(OnConflict::column(Column::Slug).update_columns(refreshed).to_owned())
            .exec_without_returning(db)
            .await?;
        let plan =
            Plans::find().filter(Column::Slug.eq(&p.slug)).one(db).await?.ok_or(DomainError::NotFound("plan"))?;
        load_limits(db, plan.id, &p.limits).await?;
    }
    for pool in &file.pools {
        load_pool(db, pool).await?;
    }
    Ok(file.plans.len())
}

/// Upserts a plan's limits by key (limits not named are left as they are).
pub async fn load_limits<C: ConnectionTrait>(db: &C, plan_id: Uuid, limits: &[LimitEntry]) -> Result<(), DomainError> {
    use entities::plan_limits::{self, Column as L, Entity as Limits};
    for l in limits {
        Limits::insert(plan_limits::ActiveModel {
            id: Set(Uuid::now_v7()),
            plan_id: Set(plan_id),
            key: Set(l.key.clone()),
            label: Set(l.label.clone()),
            unit: Set(l.unit.clone()),
            value: Set(l.value),
        })
        .on_conflict(OnConflict::columns([L::PlanId, L::Key]).update_columns([L::Label, L::Unit, L::Value]).to_owned())
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

async fn load_pool<C: ConnectionTrait>(db: &C, p: &PoolEntry) -> Result<(), DomainError> {
    use entities::pools::{self, Column as P, Entity as Pools};
    let usd =
        |t: &str| Micros::parse_usd(t).map_err(|e| DomainError::Invalid(format!("pool {}: price {t:?}: {e}", p.slug)));
    let now = Utc::now();
    Pools::insert(pools::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(p.slug.clone()),
        name: Set(p.name.clone()),
        description: Set(p.description.clone()),
        price_per_block_monthly: Set(usd(&p.price_per_block_monthly)?),
        price_per_block_yearly: Set(usd(&p.price_per_block_yearly)?),
        capacity: Set(p.capacity),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(P::Slug)
            .update_columns([
                P::Name,
                P::Description,
                P::PricePerBlockMonthly,
                P::PricePerBlockYearly,
                P::Capacity,
                P::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// A plan by its id (a UUID) or its slug, whichever the caller sent.
pub async fn plan_by_ref<C: ConnectionTrait>(db: &C, reference: &str) -> Result<Option<plans::Model>, DomainError> {
    if let Ok(id) = Uuid::parse_str(reference) {
        return Ok(Plans::find_by_id(id).filter(Column::IsActive.eq(true)).one(db).await?);
    }
    plan_by_slug(db, reference).await
}

/// Active plans of one kind, in catalog order.
pub async fn plans_of_kind<C: ConnectionTrait>(db: &C, kind: PlanKind) -> Result<Vec<plans::Model>, DomainError> {
    use sea_orm::QueryOrder;
    Ok(Plans::find()
        .filter(Column::Kind.eq(kind))
        .filter(Column::IsActive.eq(true))
        .order_by_asc(Column::SortOrder)
        .all(db)
        .await?)
}

/// A plan's limits, by key.
pub async fn limits<C: ConnectionTrait>(
    db: &C,
    plan_id: Uuid,
) -> Result<Vec<entities::plan_limits::Model>, DomainError> {
    use entities::plan_limits::{Column as L, Entity as Limits};
    use sea_orm::QueryOrder;
    Ok(Limits::find().filter(L::PlanId.eq(plan_id)).order_by_asc(L::Id).all(db).await?)
}

/// Whether customers can subscribe to a plan through Checkout (subscription API `self_serve`): a
/// recurring plan with a price above zero. Starter (free) and Enterprise (no price) are not.
pub fn self_serve(plan: &plans::Model) -> bool {
    plan.kind == PlanKind::Recurring && plan.price_monthly.is_some_and(|p| p.is_positive())
}

/// The plan's price for one billing interval, if it has one.
pub fn price_for(plan: &plans::Model, interval: entities::BillingInterval) -> Option<Micros> {
    match interval {
        entities::BillingInterval::Month => plan.price_monthly,
        entities::BillingInterval::Year => plan.price_yearly,
    }
}

pub async fn plan_by_slug<C: ConnectionTrait>(db: &C, slug: &str) -> Result<Option<plans::Model>, DomainError> {
    Ok(Plans::find().filter(Column::Slug.eq(slug)).filter(Column::IsActive.eq(true)).one(db).await?)
}

/// A plan by id.
pub async fn plan_by_id<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<plans::Model>, DomainError> {
    Ok(Plans::find_by_id(id).one(db).await?)
}

/// The Creem product that sells one interval of the plan, if one is configured.
pub fn creem_product_for(plan: &plans::Model, interval: entities::BillingInterval) -> Option<&str> {
    match interval {
        entities::BillingInterval::Month => plan.creem_product_id.as_deref(),
        entities::BillingInterval::Year => plan.creem_product_id_yearly.as_deref(),
    }
    .filter(|p| !p.is_empty())
}

/// The plan a Creem product sells, and for which interval.
pub async fn plan_by_creem_product<C: ConnectionTrait>(
    db: &C,
    product: &str,
) -> Result<Option<(plans::Model, entities::BillingInterval)>, DomainError> {
    use sea_orm::Condition;
    let plan = Plans::find()
        .filter(Condition::any().add(Column::CreemProductId.eq(product)).add(Column::CreemProductIdYearly.eq(product)))
        .one(db)
        .await?;
    Ok(plan.map(|p| {
        let interval = if p.creem_product_id_yearly.as_deref() == Some(product) {
            entities::BillingInterval::Year
        } else {
            entities::BillingInterval::Month
        };
        (p, interval)
    }))
}
