//! A subscription to one or more blocks of a pool.

use crate::enums::*;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "pool_pledges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub pool_id: Uuid,
    pub account_id: crate::ids::AccountId,
    #[sea_orm(column_type = "JsonBinary")]
    pub blocks: Json,
    pub quantity: i32,
    pub billing_cycle: BillingInterval,
    pub status: PledgeStatus,
    #[sea_orm(column_type = "Text")]
    pub stripe_subscription_id: Option<String>,
    pub current_period_end: Option<DateTimeUtc>,
    pub cancel_at_period_end: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
