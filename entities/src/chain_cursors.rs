//! Cursors: the chain scan's blocks (one per chain and contract) and the Stripe event
//! catch-up's time, with where an unfinished walk resumes.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "chain_cursors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub block_number: i64,
    /// Where an unfinished walk resumes (JSON), if one is under way.
    #[sea_orm(column_type = "Text", nullable)]
    pub position: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
