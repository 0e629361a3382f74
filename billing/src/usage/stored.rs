//! How a batch of accepted events is stored until it is metered: each distinct
//! (account, key) pair and metric once, and the events as rows that point at them — about
//! a third of the bytes of one JSON object per event, which matters when every byte is
//! written to the WAL, stored, read back and deleted at tens of thousands of events a
//! second. Batches stored by earlier versions (an array of objects) still read.

use super::UsageEvent;
use crate::AccountId;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// Event id, index into `keys`, index into `metrics`, quantity, cost, unix microseconds.
type Row = (String, u32, u32, i64, i64, i64);

#[derive(Serialize, Deserialize)]
struct Compact {
    v: u8,
    keys: Vec<(AccountId, Uuid)>,
    metrics: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Compact(Compact),
    Objects(Vec<UsageEvent>),
}

pub fn encode(events: &[UsageEvent]) -> Result<String, serde_json::Error> {
    let mut keys: HashMap<(AccountId, Uuid), u32> = HashMap::new();
    let mut metrics: HashMap<&str, u32> = HashMap::new();
    let mut out = Compact { v: 2, keys: Vec::new(), metrics: Vec::new(), rows: Vec::with_capacity(events.len()) };
    for e in events {
        let k = *keys.entry((e.account_id, e.key_id)).or_insert_with(|| {
            out.keys.push((e.account_id, e.key_id));
            (out.keys.len() - 1) as u32
        });
        let m = *metrics.entry(e.metric.as_str()).or_insert_with(|| {
            out.metrics.push(e.metric.clone());
            (out.metrics.len() - 1) as u32
        });
        out.rows.push((e.event_id.clone(), k, m, e.quantity, e.cost, e.at.timestamp_micros()));
    }
    serde_json::to_string(&out)
}

pub fn decode(text: &str) -> Result<Vec<UsageEvent>, String> {
    match serde_json::from_str::<Stored>(text).map_err(|e| e.to_string())? {
        Stored::Objects(events) => Ok(events),
        Stored::Compact(c) => c
            .rows
            .into_iter()
            .map(|(event_id, k, m, quantity, cost, micros)| {
                let (account_id, key_id) = *c.keys.get(k as usize).ok_or("key index out of range")?;
                let metric = c.metrics.get(m as usize).ok_or("metric index out of range")?.clone();
                let at = DateTime::from_timestamp_micros(micros).ok_or("time out of range")?;
                Ok(UsageEvent { event_id, account_id, key_id, metric, quantity, cost, at })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::tests::at;

    fn event(id: &str, key: Uuid, metric: &str, t: &str) -> UsageEvent {
        UsageEvent {
            event_id: id.into(),
            account_id: AccountId::from(Uuid::from_u128(7)),
            key_id: key,
            metric: metric.into(),
            quantity: 3,
            cost: 1_250,
            at: at(t),
        }
    }

    #[test]
    fn a_batch_reads_back_as_it_was_written_and_smaller() {
        let (k1, k2) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let events: Vec<UsageEvent> = (0..100)
            .map(|i| {
                let key = if i % 2 == 0 { k1 } else { k2 };
                event(
                    &format!("evt-{i}"),
                    key,
                    if i % 3 == 0 { "tokens" } else { "images" },
                    "2026-10-31T23:59:59.999999Z",
                )
            })
            .collect();
        let text = encode(&events).expect("encode");
        assert_eq!(decode(&text).expect("decode"), events);
        let objects = serde_json::to_string(&events).expect("objects");
        assert!(text.len() * 2 < objects.len(), "{} vs {}", text.len(), objects.len());
    }

    #[test]
    fn batches_of_the_earlier_format_still_read() {
        let events = vec![event("a", Uuid::from_u128(1), "tokens", "2026-11-01T00:00:00Z")];
        let old = serde_json::to_string(&events).expect("old");
        assert_eq!(decode(&old).expect("decode"), events);
        assert!(decode(r#"{"v":2,"keys":[],"metrics":[],"rows":[["x",0,0,1,1,0]]}"#).is_err(), "a dangling index");
    }
}
