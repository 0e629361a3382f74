//! Admin plan management (credits API `/admin/billing/plans`): list every plan, create one, edit
//! one. Amounts arrive in the admin surface's units (prices in cents, included credits in
//! credits) and are stored in micro-USD.
//!
//! Stripe Prices are immutable: changing a price forgets the plan's Stripe price id, so the
//! next checkout creates a new Price (keyed by the amount). Running subscriptions keep the
//! price they were sold at, as at Stripe.

use crate::catalog::LimitEntry;
use crate::error::DomainError;
use crate::money::{MICROS_PER_CREDIT, Micros};
use chrono::Utc;
use entities::PlanKind;
use entities::plans::{self, Column, Entity as Plans};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use sea_orm::{DatabaseConnection, IntoActiveModel};
use uuid::Uuid;

/// Highest price accepted, in cents (one million dollars).
const MAX_PRICE_CENTS: i64 = 100_000_000;
/// Most credits a plan may include per period.
const MAX_CREDITS: i64 = 1_000_000_000;

/// Fields of a new plan, or the fields to change (`None`: leave as is).
#[derive(Debug, Clone, Default)]
pub struct PlanFields {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub kind: Option<PlanKind>,
    /// Cents; `Some(None)` clears the price.
    pub price_monthly: Option<Option<i64>>,
    pub price_yearly: Option<Option<i64>>,
    /// Credits included per period.
    pub credits_included: Option<i64>,
    pub features: Option<Vec<String>>,
    pub limits: Option<Vec<LimitEntry>>,
    pub is_active: Option<bool>,
    pub sort_order: Option<i32>,
    /// The Creem products selling a month and a year of the plan; `Some(None)` clears one.
    pub creem_product_id: Option<Option<String>>,
    pub creem_product_id_yearly: Option<Option<String>>,
}

/// Every problem of the fields, by field name, so the caller can name them all at once.
pub fn problems(f: &PlanFields) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    let text = |s: &Option<String>, max: usize| s.as_ref().is_some_and(|s| s.trim().is_empty() || s.len() > max);
    if f.slug.as_ref().is_some_and(|s| {
        s.is_empty()
            || s.len() > 64
            || !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
    }) {
        out.push(("slug", "1–64 characters of a-z, 0-9, _ and -"));
    }
    if text(&f.name, 200) {
        out.push(("name", "1–200 characters"));
    }
    if f.description.as_ref().is_some_and(|d| d.len() > 2000) {
        out.push(("description", "at most 2,000 characters"));
    }
    let bad_price = |p: Option<Option<i64>>| p.flatten().is_some_and(|c| !(0..=MAX_PRICE_CENTS).contains(&c));
    if bad_price(f.price_monthly) {
        out.push(("price_monthly", "cents, 0–100,000,000"));
    }
    if bad_price(f.price_yearly) {
        out.push(("price_yearly", "cents, 0–100,000,000"));
    }
    if f.credits_included.is_some_and(|c| !(0..=MAX_CREDITS).contains(&c)) {
        out.push(("credits_included", "credits, 0–1,000,000,000"));
    }
    if f.features.as_ref().is_some_and(|fs| fs.len() > 50 || fs.iter().any(|x| x.trim().is_empty() || x.len() > 200)) {
        out.push(("features", "at most 50 strings of 1–200 characters"));
    }
    if f.limits.as_ref().is_some_and(|ls| {
        ls.len() > 50
            || ls.iter().any(|l| {
                l.key.is_empty()
                    || l.key.len() > 64
                    || l.label.len() > 200
                    || l.unit.len() > 32
                    || l.value.is_some_and(|v| v < 0)
            })
    }) {
        out.push(("limits", "at most 50 of {key 1–64, label ≤ 200, unit ≤ 32, value ≥ 0 or null}"));
    }
    let bad_product = |p: &Option<Option<String>>| {
        p.as_ref().and_then(Option::as_ref).is_some_and(|id| {
            !id.starts_with("prod_") || id.len() > 255 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    };
    if bad_product(&f.creem_product_id) {
        out.push(("creem_product_id", "a Creem product id (prod_…) or null"));
    }
    if bad_product(&f.creem_product_id_yearly) {
        out.push(("creem_product_id_yearly", "a Creem product id (prod_…) or null"));
    }
    out
}

/// A Creem product sells one plan: another plan selling it is a conflict (a Creem event
/// names only the product).
async fn check_products_free<C: sea_orm::ConnectionTrait>(
    db: &C,
    plan_id: Uuid,
    f: &PlanFields,
) -> Result<(), DomainError> {
    for product in [&f.creem_product_id, &f.creem_product_id_yearly].into_iter().flatten().flatten() {
        if let Some((other, _)) = crate::catalog::plan_by_creem_product(db, product).await?
            && other.id != plan_id
        {
            return Err(DomainError::Conflict(format!("plan {} already sells Creem product {product}", other.slug)));
        }
    }
    if f.creem_product_id.as_ref().zip(f.creem_product_id_yearly.as_ref()).is_some_and(|(m, y)| m.is_some() && m == y) {
        return Err(DomainError::Invalid("creem_product_id_yearly: the same product as creem_product_id".into()));
    }
    Ok(())
}

fn cents(p: Option<i64>) -> Option<Micros> {
    p.and_then(Micros::from_cents)
}

/// Every plan, active or not, of every kind, in catalog order.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<plans::Model>, DomainError> {
    Ok(Plans::find().order_by_asc(Column::SortOrder).order_by_asc(Column::CreatedAt).all(db).await?)
}

/// Creates a plan; its slug must be new (`Conflict` otherwise).
pub async fn create(db: &DatabaseConnection, f: PlanFields) -> Result<plans::Model, DomainError> {
    let slug = f.slug.clone().ok_or_else(|| DomainError::Invalid("slug is required".into()))?;
    let name = f.name.clone().ok_or_else(|| DomainError::Invalid("name is required".into()))?;
    let txn = crate::db::begin_write(db).await?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    check_products_free(&txn, id, &f).await?;
    // The unique slug decides, so two admins creating the same plan at once get one 201
    // and one 409, never a 500.
    let inserted = Plans::insert(plans::ActiveModel {
        id: Set(id),
        slug: Set(slug.clone()),
        name: Set(name),
        description: Set(f.description.clone().unwrap_or_default()),
        kind: Set(f.kind.unwrap_or(PlanKind::Recurring)),
        price_monthly: Set(cents(f.price_monthly.flatten())),
        price_yearly: Set(cents(f.price_yearly.flatten())),
        credits_per_period: Set(Micros::new(f.credits_included.unwrap_or(0).saturating_mul(MICROS_PER_CREDIT))),
        stripe_price_monthly: Set(None),
        stripe_price_yearly: Set(None),
        creem_product_id: Set(f.creem_product_id.clone().flatten()),
        creem_product_id_yearly: Set(f.creem_product_id_yearly.clone().flatten()),
        features: Set(serde_json::json!(f.features.clone().unwrap_or_default())),
        is_active: Set(f.is_active.unwrap_or(true)),
        sort_order: Set(f.sort_order.unwrap_or(1000)),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([Column::Slug])
    .exec_without_returning(&txn)
    .await?;
    if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Err(DomainError::Conflict(format!("a plan with slug {slug} exists")));
    }
    if let Some(limits) = &f.limits {
        crate::catalog::load_limits(&txn, id, limits).await?;
    }
    let plan = Plans::find_by_id(id).one(&txn).await?.ok_or(DomainError::NotFound("plan"))?;
    txn.commit().await?;
    Ok(plan)
}

/// Changes the given fields of a plan (by id or slug). The slug and kind are fixed once
/// sold: subscriptions and keys refer to them.
pub async fn update(db: &DatabaseConnection, reference: &str, f: PlanFields) -> Result<plans::Model, DomainError> {
    if f.slug.is_some() || f.kind.is_some() {
        return Err(DomainError::Invalid("slug and kind cannot change".into()));
    }
    let txn = crate::db::begin_write(db).await?;
    let found = match Uuid::parse_str(reference) {
        Ok(id) => Plans::find_by_id(id).one(&txn).await?,
        Err(_) => Plans::find().filter(Column::Slug.eq(reference)).one(&txn).await?,
    };
    let plan = found.ok_or(DomainError::NotFound("plan"))?;
    let id = plan.id;
    check_products_free(&txn, id, &f).await?;
    let mut row = plan.clone().into_active_model();
    if let Some(p) = f.creem_product_id {
        row.creem_product_id = Set(p);
    }
    if let Some(p) = f.creem_product_id_yearly {
        row.creem_product_id_yearly = Set(p);
    }
    if let Some(name) = f.name {
        row.name = Set(name);
    }
    if let Some(d) = f.description {
        row.description = Set(d);
    }
    if let Some(p) = f.price_monthly
        && cents(p) != plan.price_monthly
    {
        row.price_monthly = Set(cents(p));
        row.stripe_price_monthly = Set(None);
    }
    if let Some(p) = f.price_yearly
        && cents(p) != plan.price_yearly
    {
        row.price_yearly = Set(cents(p));
        row.stripe_price_yearly = Set(None);
    }
    if let Some(c) = f.credits_included {
        row.credits_per_period = Set(Micros::new(c.saturating_mul(MICROS_PER_CREDIT)));
    }
    if let Some(fs) = f.features {
        row.features = Set(serde_json::json!(fs));
    }
    if let Some(a) = f.is_active {
        row.is_active = Set(a);
    }
    if let Some(o) = f.sort_order {
        row.sort_order = Set(o);
    }
    row.updated_at = Set(Utc::now());
    Plans::update(row).exec(&txn).await?;
    if let Some(limits) = &f.limits {
        crate::catalog::load_limits(&txn, id, limits).await?;
    }
    let plan = Plans::find_by_id(id).one(&txn).await?.ok_or(DomainError::NotFound("plan"))?;
    txn.commit().await?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_named() {
        let f = PlanFields {
            slug: Some("Bad Slug".into()),
            name: Some(" ".into()),
            price_monthly: Some(Some(-1)),
            credits_included: Some(-5),
            limits: Some(vec![LimitEntry { key: "x".into(), label: "x".into(), unit: String::new(), value: Some(-1) }]),
            ..PlanFields::default()
        };
        let names: Vec<&str> = problems(&f).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["slug", "name", "price_monthly", "credits_included", "limits"]);
        let ok = PlanFields { slug: Some("plan_max".into()), price_yearly: Some(None), ..PlanFields::default() };
        assert!(problems(&ok).is_empty());
    }
}
