//! Webhooks out to the customer's own app (Standard Webhooks). An account registers
//! endpoints ([`endpoints`]); a business fact emits one event ([`emit`]) in the transaction
//! that makes the fact, unique by the fact's key, so the fact and its event commit together
//! or not at all, and a fact applied twice emits once. Each endpoint subscribed to the
//! event's type gets a delivery job in the same transaction; the worker signs and sends it,
//! retrying with backoff for about three days. Per-endpoint ordering is not promised: each
//! event carries its time, and receivers dedupe by `webhook-id`.
//!
//! An account with no endpoint stores no event: the hot paths (batched top-ups) pay one
//! indexed read for it.

pub mod endpoints;
pub mod signing;
pub mod target;

use crate::AccountId;
use crate::error::DomainError;
use crate::jobs::contracts::WebhookDelivery;
use crate::jobs::{Job, QueuePolicy, outbox};
use chrono::Utc;
use entities::WebhookEndpointStatus;
use entities::webhook_endpoints::{Column as EpCol, Entity as Endpoints};
use entities::webhook_events::{self, Column as EvCol, Entity as Events};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TryInsertResult};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The event catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    #[serde(rename = "payment.refunded")]
    PaymentRefunded,
    #[serde(rename = "credits.topped_up")]
    CreditsToppedUp,
    #[serde(rename = "credits.low")]
    CreditsLow,
    #[serde(rename = "credits.exhausted")]
    CreditsExhausted,
    #[serde(rename = "subscription.created")]
    SubscriptionCreated,
    #[serde(rename = "subscription.updated")]
    SubscriptionUpdated,
    #[serde(rename = "subscription.canceled")]
    SubscriptionCanceled,
    #[serde(rename = "subscription.expired")]
    SubscriptionExpired,
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    #[serde(rename = "usage.quota_reached")]
    UsageQuotaReached,
    #[serde(rename = "webhook_endpoint.disabled")]
    EndpointDisabled,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::PaymentSucceeded,
        EventType::PaymentRefunded,
        EventType::CreditsToppedUp,
        EventType::CreditsLow,
        EventType::CreditsExhausted,
        EventType::SubscriptionCreated,
        EventType::SubscriptionUpdated,
        EventType::SubscriptionCanceled,
        EventType::SubscriptionExpired,
        EventType::KeyRevoked,
        EventType::UsageQuotaReached,
        EventType::EndpointDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PaymentSucceeded => "payment.succeeded",
            EventType::PaymentRefunded => "payment.refunded",
            EventType::CreditsToppedUp => "credits.topped_up",
            EventType::CreditsLow => "credits.low",
            EventType::CreditsExhausted => "credits.exhausted",
            EventType::SubscriptionCreated => "subscription.created",
            EventType::SubscriptionUpdated => "subscription.updated",
            EventType::SubscriptionCanceled => "subscription.canceled",
            EventType::SubscriptionExpired => "subscription.expired",
            EventType::KeyRevoked => "key.revoked",
            EventType::UsageQuotaReached => "usage.quota_reached",
            EventType::EndpointDisabled => "webhook_endpoint.disabled",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One business fact, told to the account's endpoints.
#[derive(Debug, Clone)]
pub struct Fact {
    pub account_id: AccountId,
    pub kind: EventType,
    /// Unique per fact: the same fact emitted again emits nothing.
    pub key: String,
    /// The event's `data`; never a secret.
    pub data: Value,
}

/// Emits one fact in the caller's transaction.
pub async fn emit<C: ConnectionTrait>(db: &C, fact: Fact) -> Result<(), DomainError> {
    emit_many(db, vec![fact]).await
}

/// Emits facts in the caller's transaction: an event for each fact whose account has an
/// enabled endpoint for its type, and a delivery job per such endpoint, in a fixed number of
/// statements however many facts.
pub async fn emit_many<C: ConnectionTrait>(db: &C, facts: Vec<Fact>) -> Result<(), DomainError> {
    if facts.is_empty() {
        return Ok(());
    }
    let accounts: HashSet<Uuid> = facts.iter().map(|f| Uuid::from(f.account_id)).collect();
    let endpoints = Endpoints::find()
        .filter(crate::db::one_of(db.get_database_backend(), EpCol::AccountId, accounts.into_iter().collect()))
        .filter(EpCol::Status.eq(WebhookEndpointStatus::Enabled))
        .all(db)
        .await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let mut by_account: HashMap<AccountId, Vec<&entities::webhook_endpoints::Model>> = HashMap::new();
    for e in &endpoints {
        by_account.entry(e.account_id).or_default().push(e);
    }
    let now = Utc::now();
    let mut rows = Vec::new();
    let mut targets: HashMap<String, Vec<Uuid>> = HashMap::new();
    for fact in facts {
        let subscribed: Vec<Uuid> = by_account
            .get(&fact.account_id)
            .into_iter()
            .flatten()
            .filter(|e| endpoints::wants(e, fact.kind))
            .map(|e| e.id)
            .collect();
        if subscribed.is_empty() {
            continue;
        }
        let id = format!("msg_{}", Uuid::now_v7().simple());
        let payload = json!({"id": id, "type": fact.kind.as_str(), "timestamp": now, "data": fact.data}).to_string();
        targets.insert(fact.key.clone(), subscribed);
        rows.push(webhook_events::ActiveModel {
            id: Set(id),
            account_id: Set(fact.account_id),
            event_type: Set(fact.kind.as_str().to_owned()),
            fact_key: Set(fact.key),
            payload: Set(payload),
            created_at: Set(now),
        });
    }
    if rows.is_empty() {
        return Ok(());
    }
    let ids_by_key: HashMap<String, String> = rows
        .iter()
        .filter_map(|r| match (&r.fact_key, &r.id) {
            (Set(k), Set(id)) => Some((k.clone(), id.clone())),
            _ => None,
        })
        .collect();
    let inserted: HashSet<String> =
        match Events::insert_many(rows).on_conflict_do_nothing_on([EvCol::FactKey]).exec_with_returning_keys(db).await?
        {
            TryInsertResult::Inserted(keys) => keys.into_iter().collect(),
            TryInsertResult::Conflicted | TryInsertResult::Empty => HashSet::new(),
        };
    let policy = QueuePolicy::default_for(WebhookDelivery::QUEUE);
    let mut jobs = Vec::new();
    for (key, endpoints) in targets {
        let Some(event_id) = ids_by_key.get(&key).filter(|id| inserted.contains(*id)) else { continue };
        for endpoint_id in endpoints {
            jobs.push(WebhookDelivery { event_id: event_id.clone(), endpoint_id, manual: None });
        }
    }
    outbox::enqueue_many(db, &jobs, &policy).await?;
    Ok(())
}
