//! USDC transfers seen or claimed; (chain_id, tx_hash, log_index) is claimed once.

use crate::enums::*;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "usdc_transfers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub chain_id: i64,
    #[sea_orm(column_type = "Text")]
    pub tx_hash: String,
    pub log_index: i64,
    pub account_id: Option<crate::ids::AccountId>,
    pub order_id: Option<crate::ids::OrderId>,
    #[sea_orm(column_type = "Text")]
    pub from_address: String,
    #[sea_orm(column_type = "Text")]
    pub to_address: String,
    pub amount: crate::money::Micros,
    pub block_number: i64,
    pub status: UsdcTransferStatus,
    /// How often the chain scan tried to match it to a pending order.
    pub match_attempts: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
