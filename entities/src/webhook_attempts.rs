//! One delivery attempt of an event to an endpoint: what the endpoint answered.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub endpoint_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub event_id: String,
    /// The HTTP status, when the endpoint answered.
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// The start of the answer's body (at most 1 KiB).
    #[sea_orm(column_type = "Text", nullable)]
    pub response: Option<String>,
    /// Why no answer came (refused address, timeout, connection).
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
