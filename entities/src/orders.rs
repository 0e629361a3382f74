//! Orders: every checkout, top-up, subscribe, setup or portal request. Amounts in micro-USD.

use crate::enums::*;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::ids::OrderId,
    pub account_id: crate::ids::AccountId,
    pub kind: OrderKind,
    pub status: OrderStatus,
    pub method: PayMethod,
    pub amount: crate::money::Micros,
    #[sea_orm(column_type = "Text")]
    pub currency: String,
    pub plan_id: Option<Uuid>,
    pub pool_id: Option<Uuid>,
    pub coupon_id: Option<Uuid>,
    #[sea_orm(column_type = "JsonBinary")]
    pub details: Json,
    #[sea_orm(column_type = "Text")]
    pub provider_session_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub checkout_url: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
