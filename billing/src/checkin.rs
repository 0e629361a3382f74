//! Daily check-in (credits API): the configured credits, granted once per account per UTC day.

use crate::AccountId;
use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::{MICROS_PER_CREDIT, Micros};
use chrono::{NaiveDate, Utc};
use entities::TransferKind;
use entities::checkin_config::{self, Entity as Config};
use entities::checkins::{self, Column, Entity as Checkins};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait};
use uuid::Uuid;

/// Credits granted per check-in until an admin configures otherwise.
pub const DEFAULT_DAILY_CREDITS: i64 = 10;

pub async fn config<C: ConnectionTrait>(db: &C) -> Result<checkin_config::Model, DomainError> {
    Ok(Config::find_by_id(1).one(db).await?.unwrap_or(checkin_config::Model {
        id: 1,
        daily_credits: DEFAULT_DAILY_CREDITS,
        enabled: true,
        updated_at: Utc::now(),
    }))
}

/// Most credits one check-in may grant.
pub const MAX_DAILY_CREDITS: i64 = 1_000_000;

/// Sets the check-in configuration (admin). Takes effect for the next check-in.
pub async fn set_config(
    db: &DatabaseConnection,
    daily_credits: i64,
    enabled: bool,
) -> Result<checkin_config::Model, DomainError> {
    use sea_orm::sea_query::OnConflict;
    if !(0..=MAX_DAILY_CREDITS).contains(&daily_credits) {
        return Err(DomainError::Invalid(format!("daily_credits: 0–{MAX_DAILY_CREDITS}")));
    }
    Config::insert(checkin_config::ActiveModel {
        id: Set(1),
        daily_credits: Set(daily_credits),
        enabled: Set(enabled),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(checkin_config::Column::Id)
            .update_columns([
                checkin_config::Column::DailyCredits,
                checkin_config::Column::Enabled,
                checkin_config::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    config(db).await
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIn {
    pub day: NaiveDate,
    pub credits: i64,
    pub balance: Micros,
}

/// Checks the account in for today (UTC). The check-in row and the grant commit together;
/// a second check-in the same day is a `Conflict` and grants nothing.
pub async fn check_in(db: &DatabaseConnection, account_id: AccountId) -> Result<CheckedIn, DomainError> {
    let day = Utc::now().date_naive();
    let txn = crate::db::begin_write(db).await?;
    let cfg = config(&txn).await?;
    if !cfg.enabled || cfg.daily_credits <= 0 {
        return Err(DomainError::Invalid("check-in is disabled".into()));
    }
    let inserted = Checkins::insert(checkins::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account_id),
        day: Set(day.to_string()),
        credits: Set(cfg.daily_credits),
        created_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing_on([Column::AccountId, Column::Day])
    .exec_without_returning(&txn)
    .await?;
    if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Err(DomainError::Conflict("already checked in today".into()));
    }
    let amount = cfg
        .daily_credits
        .checked_mul(MICROS_PER_CREDIT)
        .map(Micros::new)
        .ok_or_else(|| DomainError::Invalid("daily credits out of range".into()))?;
    let debit = ledger::system_account(&txn, SystemAccount::Grants).await?;
    let credit = ledger::customer_account(&txn, account_id).await?;
    ledger::post(
        &txn,
        TransferRequest {
            id: format!("checkin:{account_id}:{day}"),
            debit,
            credit,
            amount,
            kind: TransferKind::Checkin,
            account_id: Some(account_id),
            reference: day.to_string(),
            description: "Daily check-in".into(),
        },
    )
    .await?;
    let balance = ledger::customer_balance(&txn, account_id).await?;
    txn.commit().await?;
    Ok(CheckedIn { day, credits: cfg.daily_credits, balance })
}
