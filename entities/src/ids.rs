//! Typed identifiers: an account's id and an order's id are both UUIDs in the database, but
//! never interchangeable in the code. A function that scopes a query to an account takes an
//! `AccountId`, so an order id (or a ledger account's id, which is a different thing from the
//! account that owns it) cannot be passed in its place by mistake.

use sea_orm::{DbErr, DeriveValueType, TryFromU64};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, DeriveValueType,
        )]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id for a row about to be inserted: time-ordered (v7), like every id Tollgate makes.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::from_str(s).map(Self)
            }
        }

        // A primary key must say whether it can come from an auto-increment integer; a UUID
        // never does (the same answer SeaORM gives for `Uuid` itself).
        impl TryFromU64 for $name {
            fn try_from_u64(_: u64) -> Result<Self, DbErr> {
                Err(DbErr::ConvertFromU64(stringify!($name)))
            }
        }
    };
}

typed_id!(
    /// An account: `accounts.id`, and every `account_id` column that names the account a row belongs to.
    AccountId
);

typed_id!(
    /// An order: `orders.id`, and every `order_id` column that names the order a row settles.
    OrderId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_serializes_as_its_bare_uuid() {
        let raw = Uuid::new_v4();
        let id = AccountId::from(raw);
        assert_eq!(serde_json::to_string(&id).ok(), serde_json::to_string(&raw).ok());
        assert_eq!(id.to_string(), raw.to_string());
        assert_eq!(id.to_string().parse::<AccountId>().ok(), Some(id));
    }

    #[test]
    fn a_uuid_id_cannot_come_from_an_integer_key() {
        assert!(OrderId::try_from_u64(7).is_err());
    }
}
