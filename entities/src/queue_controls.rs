//! Queue controls: a paused queue's jobs wait in the outbox until it is resumed.

use crate::enums::JobQueue;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "queue_controls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub queue: JobQueue,
    pub paused: bool,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
