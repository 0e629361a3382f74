//! An event for an account's webhooks: one per business fact (`fact_key`), its body fixed.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    /// `msg_…`, the `webhook-id` receivers dedupe by.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: crate::ids::AccountId,
    #[sea_orm(column_type = "Text")]
    pub event_type: String,
    #[sea_orm(column_type = "Text")]
    pub fact_key: String,
    /// The JSON body every delivery sends and signs.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
