//! Per-key, per-period usage aggregates.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "usage_counters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub api_key_id: Uuid,
    pub account_id: crate::ids::AccountId,
    #[sea_orm(column_type = "Text")]
    pub metric: String,
    #[sea_orm(column_type = "Text")]
    pub period: String,
    pub quantity: i64,
    pub cost: crate::money::Micros,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
