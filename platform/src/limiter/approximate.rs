//! Approximate key limits (`VERIFY_MODE=approximate`), after Unkey's asynchronous rate
//! limiting: each api process admits from what it last heard from Redis plus what it has
//! admitted itself since, and sends its increments to Redis in one pipeline every
//! `VERIFY_SYNC_MS`, reading the totals back. A verification then costs no Redis round
//! trip. The price: between two syncs every process admits against a view that misses the
//! others' latest requests. To bound that, a process spends at most half of what was left
//! at its last sync before it syncs again ([`lease_allows`]), so processes pressing one key
//! together converge on its limit instead of each taking all of it (`scripts/bench-verify.sh`
//! measures the over-admission across two processes). The rate window here is a fixed
//! second, not the exact mode's sliding one.
//!
//! The monthly quota counter is the exact mode's own, so usage reads agree whichever mode
//! a process runs.

use super::{QUOTA_TTL_SECS, unavailable};
use billing::DomainError;
use billing::verify::{Admission, Limits, Reason};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What one process knows of one subject's counters.
struct Local {
    second: i64,
    /// The second's count in Redis at the last sync, and what this process admitted since.
    rate_heard: u64,
    rate_mine: u64,
    period: String,
    /// The month's cost in Redis at the last sync (`None`: never read), and this process's since.
    used_heard: Option<u64>,
    used_mine: u64,
}

/// Whether `take` more fits this process's lease: between two syncs a process spends at
/// most half of what was left of `limit` when it last heard the total (`heard`), beside
/// what it spent since (`mine`); the first spend after a sync may take whatever fits. Two
/// processes pressing one key together then stay within the limit, and any number of
/// them overshoot by at most about one request each per sync interval, however hard they
/// are pressed; a lone process reaches the whole limit within a few intervals.
fn lease_allows(limit: u64, heard: u64, mine: u64, take: u64) -> bool {
    let left = limit.saturating_sub(heard);
    if mine == 0 { take <= left } else { mine + take <= left.div_ceil(2) }
}

/// Subjects met this recently have their totals read back at every sync.
const RECENT_SECS: i64 = 5;
/// Subjects quiet this long are forgotten (their totals are read again when they return).
const FORGET_SECS: i64 = 600;

/// Increments not yet sent, by subject, second and month.
type Pending = HashMap<(String, i64, String), (u64, u64)>;

pub(super) struct Approximate {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    known: Mutex<HashMap<String, Local>>,
    pending: Mutex<Pending>,
}

impl Approximate {
    /// Starts the sync loop; it ends when the last handle is dropped.
    pub(super) fn start(conn: redis::aio::ConnectionManager, prefix: String, every: Duration) -> Arc<Approximate> {
        let me = Arc::new(Approximate {
            conn,
            prefix,
            known: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(me) = weak.upgrade() else { return };
                if let Err(e) = me.sync().await {
                    tracing::warn!(error = %e, "cannot sync approximate key limits");
                }
            }
        });
        me
    }

    fn rate_key(&self, subject: &str, second: i64) -> String {
        format!("{}arate:{subject}:{second}", self.prefix)
    }

    fn quota_key(&self, subject: &str, period: &str) -> String {
        super::quota_key(&self.prefix, subject, period)
    }

    pub(super) async fn admit(
        &self,
        subject: &str,
        limits: Limits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Admission, DomainError> {
        let second = now.timestamp();
        let period = billing::usage::period_of(now);
        // The first time a process meets a subject this month it reads the month's total.
        let unseen = {
            let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            known.get(subject).is_none_or(|l| l.period != period || l.used_heard.is_none())
        };
        if unseen {
            use redis::AsyncCommands;
            let mut conn = self.conn.clone();
            let used: Option<u64> = conn.get(self.quota_key(subject, &period)).await.map_err(unavailable)?;
            let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            let l = known.entry(subject.to_owned()).or_insert_with(|| Local {
                second,
                rate_heard: 0,
                rate_mine: 0,
                period: period.clone(),
                used_heard: None,
                used_mine: 0,
            });
            if l.period != period {
                (l.period, l.used_mine) = (period.clone(), 0);
            }
            l.used_heard.get_or_insert(used.unwrap_or(0));
        }
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(l) = known.get_mut(subject) else {
            return Err(DomainError::Unavailable("approximate limits: subject vanished".into()));
        };
        if l.second != second {
            (l.second, l.rate_heard, l.rate_mine) = (second, 0, 0);
        }
        let limit = limits.per_second.unwrap_or(0);
        let count = l.rate_heard + l.rate_mine;
        let used = l.used_heard.unwrap_or(0) + l.used_mine;
        let reset = (second + 1) * 1_000;
        let rate_full = limit > 0 && !lease_allows(u64::from(limit), l.rate_heard, l.rate_mine, 1);
        let quota_full = limits.monthly.is_some_and(|q| !lease_allows(q, l.used_heard.unwrap_or(0), l.used_mine, cost));
        let refused = if rate_full {
            Some(Reason::RateLimited)
        } else if quota_full {
            Some(Reason::QuotaExceeded)
        } else {
            None
        };
        let remaining = |count: u64| u32::try_from(u64::from(limit).saturating_sub(count)).unwrap_or(0);
        if let Some(reason) = refused {
            return Ok(Admission {
                allowed: false,
                reason: Some(reason),
                rate_limit: limit,
                rate_remaining: remaining(count),
                rate_reset_ms: reset,
                used,
            });
        }
        l.rate_mine += 1;
        l.used_mine += cost;
        drop(known);
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let p = pending.entry((subject.to_owned(), second, period)).or_default();
        p.0 += 1;
        p.1 += cost;
        Ok(Admission {
            allowed: true,
            reason: None,
            rate_limit: limit,
            rate_remaining: remaining(count + 1),
            rate_reset_ms: reset,
            used: used + cost,
        })
    }

    /// Sends what was admitted since the last sync and takes the totals back; for the
    /// subjects this process met lately but admitted nothing for, reads the totals, so that
    /// what the other processes admitted reaches it too.
    async fn sync(&self) -> Result<(), DomainError> {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        let entries: Vec<_> = batch.into_iter().collect();
        let sending: std::collections::HashSet<&str> = entries.iter().map(|((s, ..), _)| s.as_str()).collect();
        let refresh: Vec<(String, i64, String)> = {
            let now = Utc::now().timestamp();
            let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            known
                .iter()
                .filter(|(subject, l)| now - l.second <= RECENT_SECS && !sending.contains(subject.as_str()))
                .map(|(subject, l)| (subject.clone(), now, l.period.clone()))
                .collect()
        };
        if entries.is_empty() && refresh.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for ((subject, second, period), (n, cost)) in &entries {
            let rate = self.rate_key(subject, *second);
            let quota = self.quota_key(subject, period);
            pipe.incr(&rate, *n).pexpire(&rate, 2_000).ignore();
            pipe.incr(&quota, *cost).expire(&quota, QUOTA_TTL_SECS).ignore();
        }
        for (subject, second, period) in &refresh {
            pipe.get(self.rate_key(subject, *second)).get(self.quota_key(subject, period));
        }
        let mut conn = self.conn.clone();
        let totals: Vec<Option<u64>> = match pipe.query_async(&mut conn).await {
            Ok(t) => t,
            Err(e) => {
                // Nothing was counted: the increments wait for the next sync.
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                for (k, (n, cost)) in entries {
                    let p = pending.entry(k).or_default();
                    p.0 += n;
                    p.1 += cost;
                }
                return Err(unavailable(e));
            }
        };
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let mut pairs = totals.chunks(2);
        for ((subject, second, period), (n, cost)) in &entries {
            let Some([rate, used]) = pairs.next() else { break };
            let Some(l) = known.get_mut(subject) else { continue };
            if l.second == *second {
                l.rate_heard = rate.unwrap_or(0);
                l.rate_mine = l.rate_mine.saturating_sub(*n);
            }
            if l.period == *period {
                l.used_heard = Some(used.unwrap_or(0));
                l.used_mine = l.used_mine.saturating_sub(*cost);
            }
        }
        for (subject, second, period) in &refresh {
            let Some([rate, used]) = pairs.next() else { break };
            let Some(l) = known.get_mut(subject) else { continue };
            // Nothing admitted here yet this second: the second is the others' so far.
            if l.second < *second {
                (l.second, l.rate_mine) = (*second, 0);
            }
            if l.second == *second {
                l.rate_heard = rate.unwrap_or(0);
            }
            if l.period == *period {
                l.used_heard = Some(used.unwrap_or(0));
            }
        }
        // Forget subjects quiet for a while, so the map stays the size of the live keys.
        let now = Utc::now().timestamp();
        known.retain(|_, l| now - l.second < FORGET_SECS);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::lease_allows;

    #[test]
    fn a_process_spends_half_of_what_was_left_between_syncs() {
        // 100 left: the first spend may take all that fits, the rest of the interval half.
        assert!(lease_allows(100, 0, 0, 100));
        assert!(!lease_allows(100, 0, 0, 101));
        assert!(lease_allows(100, 0, 49, 1));
        assert!(!lease_allows(100, 0, 50, 1));
        // Two processes pressing from zero take 50 each: the limit, not twice it.
        let per_process = (0..200).take_while(|&mine| lease_allows(100, 0, mine, 1)).count();
        assert_eq!(per_process * 2, 100);
        // Nothing left: refused, whatever was spent.
        assert!(!lease_allows(100, 100, 0, 1));
        // A lone process converges on the limit: each sync hears what it spent.
        let (mut heard, mut syncs) = (0u64, 0);
        while lease_allows(100, heard, 0, 1) {
            let spent = (0..200).take_while(|&mine| lease_allows(100, heard, mine, 1)).count() as u64;
            heard += spent;
            syncs += 1;
        }
        assert_eq!(heard, 100);
        assert!(syncs <= 8, "{syncs} intervals to reach the limit");
    }
}
