//! The last reported value of an account's current-level resource (a gauge).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "usage_gauges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: crate::ids::AccountId,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub metric: String,
    pub value: i64,
    /// When the gateway took the reading (the event's timestamp).
    pub observed_at: DateTimeUtc,
    /// The reading's event id: breaks ties between readings taken at the same instant.
    #[sea_orm(column_type = "Text")]
    pub event_id: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
