//! The plan catalog: 30-day flat plans, recurring plans and key tiers. Prices in micro-USD.

use crate::enums::*;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub slug: String,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub kind: PlanKind,
    pub price_monthly: Option<crate::money::Micros>,
    pub price_yearly: Option<crate::money::Micros>,
    pub credits_per_period: crate::money::Micros,
    #[sea_orm(column_type = "Text")]
    pub stripe_price_monthly: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub stripe_price_yearly: Option<String>,
    /// The Creem product sold for a month of the plan (a recurring product at Creem).
    #[sea_orm(column_type = "Text", nullable)]
    pub creem_product_id: Option<String>,
    /// The Creem product sold for a year of the plan.
    #[sea_orm(column_type = "Text", nullable)]
    pub creem_product_id_yearly: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub features: Json,
    pub is_active: bool,
    pub sort_order: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
