//! Accounts: one per subject (a user or a team).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::ids::AccountId,
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    #[sea_orm(column_type = "Text")]
    pub email: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub stripe_customer_id: Option<String>,
    /// The Creem customer who paid through Creem (its portal link is asked for by it).
    #[sea_orm(column_type = "Text", nullable)]
    pub creem_customer_id: Option<String>,
    /// Below this many credits the account's webhooks hear `credits.low` (unset: never).
    pub credits_low_threshold: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub wallet_address: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
