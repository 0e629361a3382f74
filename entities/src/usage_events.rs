//! Usage event ids already counted, per account (idempotent ingestion).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "usage_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: crate::ids::AccountId,
    #[sea_orm(column_type = "Text")]
    pub event_id: String,
    pub api_key_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub metric: String,
    pub quantity: i64,
    pub cost: crate::money::Micros,
    pub occurred_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub batch_id: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
