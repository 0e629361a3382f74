//! API keys for the gateway: only the SHA-256 hash is stored.

use crate::enums::*;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: crate::ids::AccountId,
    pub kind: ApiKeyKind,
    pub tier: Option<KeyTier>,
    pub subscription_id: Option<Uuid>,
    pub pledge_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub prefix: String,
    #[sea_orm(column_type = "Text")]
    pub key_hash: String,
    pub status: KeyStatus,
    #[sea_orm(column_type = "Text")]
    pub organization_name: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub contact_email: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// What the key may do as a bearer on the subscription API (space-separated scopes).
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
