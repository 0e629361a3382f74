//! Coupons accepted at checkout.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "coupons")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub code: String,
    pub percent_off: Option<i32>,
    pub amount_off: Option<crate::money::Micros>,
    pub max_redemptions: Option<i32>,
    pub times_redeemed: i32,
    /// Most redemptions by one account; `None`: no limit.
    pub max_per_account: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub stripe_coupon_id: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub is_active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
