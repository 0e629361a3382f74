//! Money received, one row per provider payment.

use crate::enums::*;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: crate::ids::AccountId,
    pub order_id: Option<crate::ids::OrderId>,
    pub provider: PaymentProvider,
    #[sea_orm(column_type = "Text")]
    pub provider_ref: String,
    pub amount: crate::money::Micros,
    pub amount_refunded: crate::money::Micros,
    pub status: PaymentStatus,
    /// For an invoice payment: the provider subscription it paid for.
    #[sea_orm(column_type = "Text", nullable)]
    pub subscription_ref: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
