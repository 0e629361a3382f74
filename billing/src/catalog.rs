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
}

fn price(text: &Option<String>, slug: &str) -> Result<Option<i64>, DomainError> {
    text.as_deref()
        .map(|t| {
            Micros::parse_usd(t)
                .map(Micros::get)
                .map_err(|e| DomainError::Invalid(format!("plan {slug}: price {t:?}: {e}")))
        })
        .transpose()
}

/// Upserts every plan of the catalog text. Returns how many plans it holds.
pub async fn load<C: ConnectionTrait>(db: &C, text: &str) -> Result<usize, DomainError> {
    let file: CatalogFile = serde_json::from_str(text).map_err(|e| DomainError::Invalid(format!("catalog: {e}")))?;
    let now = Utc::now();
    for (i, p) in file.plans.iter().enumerate() {
        let row = plans::ActiveModel {
            id: Set(Uuid::now_v7()),
            slug: Set(p.slug.clone()),
            name: Set(p.name.clone()),
            description: Set(p.description.clone()),
            kind: Set(p.kind),
            price_monthly: Set(price(&p.price_monthly, &p.slug)?),
            price_yearly: Set(price(&p.price_yearly, &p.slug)?),
            credits_per_period: Set(p.credits_per_period),
            stripe_price_monthly: Set(None),
            stripe_price_yearly: Set(None),
            features: Set(serde_json::json!(p.features)),
            is_active: Set(true),
            sort_order: Set(i as i32),
            created_at: Set(now),
            updated_at: Set(now),
        };
        Plans::insert(row)
            .on_conflict(
                OnConflict::column(Column::Slug)
                    .update_columns([
                        Column::Name,
                        Column::Description,
                        Column::Kind,
                        Column::PriceMonthly,
                        Column::PriceYearly,
                        Column::CreditsPerPeriod,
                        Column::Features,
                        Column::SortOrder,
                        Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(file.plans.len())
}

pub async fn plan_by_slug<C: ConnectionTrait>(db: &C, slug: &str) -> Result<Option<plans::Model>, DomainError> {
    Ok(Plans::find().filter(Column::Slug.eq(slug)).filter(Column::IsActive.eq(true)).one(db).await?)
}
