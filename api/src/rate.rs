//! Budgets, in one place: how many requests one token's bearer and one tenant may make per
//! window, and how many tenants and persons tokens may create just in time per window. Every
//! path that serves a bearer token (`POST /graphql`, a websocket's `connection_init`, the
//! progress chart, the web app's page after a launch) turns its verified claims into a viewer
//! through `auth::viewer`, which reads whether the tenant and the person exist and then asks
//! [`Limiter::admit`] once, before anything is written: the request's budgets and, when it would
//! create them, the creation budgets, all spent or none. Over a budget is
//! `ApiError::RateLimited`: `RATE_LIMITED`, HTTP 429 with `Retry-After`, nothing written.
//!
//! Windows are fixed, aligned to the epoch (`AFTERCLASS_RATE_WINDOW`, a minute by default); a
//! budget resets when its window ends. The counters are kept in this process's memory or in the
//! database's `rate_windows` table, shared by every replica ([`RateCounters`]): by default in
//! memory on SQLite, where one process serves the file and a write per read would queue every
//! read behind the one writer, and in the database on PostgreSQL, one statement per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use sha2::{Digest, Sha256};

use crate::auth::Claims;
use crate::config::{RateCounters, RateLimits};
use crate::error::ApiError;
use crate::store::rate::Spend;
use crate::store::{self, Store};

/// Which budget a unit is spent of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Requests of one token's bearer (its tenant, role and subject).
    Token,
    /// Requests of all of one tenant's tokens.
    Tenant,
    /// Tenants created just in time, service-wide.
    NewTenants,
    /// Persons created just in time, service-wide.
    NewPersons,
}

/// Counts requests and creations against their budgets.
pub struct Limiter {
    limits: RateLimits,
    counters: Counters,
}

enum Counters {
    Memory(Mutex<Window>),
    Database {
        store: Store,
        /// The last window this process swept the table before (SQLite only; PostgreSQL sweeps
        /// in the statement that spends).
        swept: AtomicI64,
    },
}

/// The current window's counts in memory; the previous window's are dropped when it ends.
#[derive(Default)]
struct Window {
    start: i64,
    hits: HashMap<String, u32>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counters = match self.counters {
            Counters::Memory(_) => "memory",
            Counters::Database { .. } => "database",
        };
        f.debug_struct("Limiter").field("limits", &self.limits).field("counters", &counters).finish()
    }
}

impl Limiter {
    /// A limiter with `limits`, counting where they say (`Auto`: memory on SQLite, the database
    /// on PostgreSQL).
    pub fn new(limits: RateLimits, store: &Store) -> Self {
        let in_database = match limits.counters {
            RateCounters::Memory => false,
            RateCounters::Database => true,
            RateCounters::Auto => !store.writes_one_at_a_time(),
        };
        let counters = if in_database {
            Counters::Database { store: store.clone(), swept: AtomicI64::new(i64::MIN) }
        } else {
            Counters::Memory(Mutex::default())
        };
        Limiter { limits, counters }
    }

    /// Whether the counters are shared through the database.
    pub fn shared(&self) -> bool {
        matches!(self.counters, Counters::Database { .. })
    }

    /// Admits one request of the token's bearer, which creates its tenant (`new_tenant`) and its
    /// person (`new_person`) when they do not exist yet: spends one unit of the bearer's and the
    /// tenant's request budgets and of each creation budget it needs, all or none. Over any of
    /// them it is `RATE_LIMITED` and nothing is counted, so the caller writes nothing either.
    pub async fn admit(&self, claims: &Claims, new_tenant: bool, new_person: bool) -> Result<(), ApiError> {
        let mut spends = Vec::new();
        if let Some(budget) = self.limits.per_token {
            spends.push((Budget::Token, subject("token", &[&claims.tid, &claims.role, &claims.sub]), budget));
        }
        if let Some(budget) = self.limits.per_tenant {
            spends.push((Budget::Tenant, subject("tenant", &[&claims.tid]), budget));
        }
        if let Some(budget) = self.limits.new_tenants.filter(|_| new_tenant) {
            spends.push((Budget::NewTenants, "new-tenants".to_owned(), budget));
        }
        if let Some(budget) = self.limits.new_persons.filter(|_| new_person) {
            spends.push((Budget::NewPersons, "new-persons".to_owned(), budget));
        }
        self.spend(spends).await
    }

    fn window_micros(&self) -> i64 {
        i64::try_from(self.limits.window.as_micros()).unwrap_or(i64::MAX).max(1)
    }

    async fn spend(&self, spends: Vec<(Budget, String, u32)>) -> Result<(), ApiError> {
        if spends.is_empty() {
            return Ok(());
        }
        let now = store::to_micros(store::now());
        let length = self.window_micros();
        let start = now - now.rem_euclid(length);
        let refused = match &self.counters {
            Counters::Memory(window) => spend_in_memory(window, start, &spends),
            Counters::Database { store, swept } => {
                // Windows before the previous one are stale: the previous one is kept for a
                // replica whose clock runs a little behind.
                let stale_before = start.saturating_sub(length);
                if !store.backend().eq(&sea_orm::DbBackend::Postgres) && swept.swap(start, Ordering::Relaxed) != start {
                    store::rate::sweep(store, stale_before).await?;
                }
                let wanted =
                    spends.iter().map(|(_, subject, budget)| Spend { subject: subject.clone(), budget: *budget });
                if store::rate::spend(store, start, stale_before, wanted.collect()).await? {
                    None
                } else {
                    let subjects: Vec<String> = spends.iter().map(|(_, s, _)| s.clone()).collect();
                    let hits = store::rate::hits(store, start, &subjects).await?;
                    let over = spends.iter().find(|(_, subject, budget)| {
                        hits.iter().any(|(s, n)| s == subject && *n >= i64::from(*budget))
                    });
                    Some(over.unwrap_or(&spends[0]).clone())
                }
            }
        };
        match refused {
            None => Ok(()),
            Some((budget, _, n)) => {
                let left = start + length - now;
                let retry_after = u64::try_from((left + 999_999) / 1_000_000).unwrap_or(1).max(1);
                Err(ApiError::RateLimited { message: self.message(budget, n, retry_after), retry_after })
            }
        }
    }

    fn message(&self, budget: Budget, n: u32, retry_after: u64) -> String {
        let secs = self.limits.window.as_secs();
        let per = if secs == 60 { "minute".to_owned() } else { format!("{secs} seconds") };
        let what = match budget {
            Budget::Token => format!("too many requests: one token's bearer may make {n} per {per}"),
            Budget::Tenant => format!("too many requests: one tenant's tokens may make {n} per {per} together"),
            Budget::NewTenants => format!("too many new tenants: tokens may create {n} per {per}"),
            Budget::NewPersons => format!("too many new people: tokens may create {n} per {per}"),
        };
        format!("{what}; retry after {retry_after} s")
    }
}

/// Spends every unit or none; gives the first budget that was used up.
fn spend_in_memory(
    window: &Mutex<Window>,
    start: i64,
    spends: &[(Budget, String, u32)],
) -> Option<(Budget, String, u32)> {
    let mut window = window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if window.start != start {
        window.start = start;
        window.hits.clear();
    }
    if let Some(over) = spends.iter().find(|(_, s, budget)| window.hits.get(s).copied().unwrap_or(0) >= *budget) {
        return Some(over.clone());
    }
    for (_, subject, _) in spends {
        *window.hits.entry(subject.clone()).or_insert(0) += 1;
    }
    None
}

/// A counter's key: the kind and a hash of the parts, so that it is short, holds no one's
/// identifier in the clear and cannot be confused across parts.
fn subject(kind: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    format!("{kind}:{}", hex::encode(&hash.finalize()[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_differ_by_every_part_and_by_where_parts_end() {
        let a = subject("token", &["t1", "trainee", "ada"]);
        assert_eq!(a, subject("token", &["t1", "trainee", "ada"]));
        assert_ne!(a, subject("token", &["t1", "instructor", "ada"]));
        assert_ne!(subject("token", &["ab", "c"]), subject("token", &["a", "bc"]));
        assert!(a.starts_with("token:") && a.len() == 6 + 32, "{a}");
    }

    #[test]
    fn a_memory_window_spends_all_or_nothing_and_resets_when_it_ends() {
        let window = Mutex::default();
        let spends = [(Budget::Token, "a".to_owned(), 2), (Budget::Tenant, "t".to_owned(), 3)];
        assert_eq!(spend_in_memory(&window, 0, &spends), None);
        assert_eq!(spend_in_memory(&window, 0, &spends), None);
        assert_eq!(spend_in_memory(&window, 0, &spends).map(|s| s.0), Some(Budget::Token));
        // Another token of the tenant has one request left, then the tenant's budget is spent.
        let other = [(Budget::Token, "b".to_owned(), 2), (Budget::Tenant, "t".to_owned(), 3)];
        assert_eq!(spend_in_memory(&window, 0, &other), None);
        assert_eq!(spend_in_memory(&window, 0, &other).map(|s| s.0), Some(Budget::Tenant));
        // The refusal counted nothing: `b` spent one.
        assert_eq!(window.lock().unwrap().hits.get("b"), Some(&1));
        assert_eq!(spend_in_memory(&window, 60, &spends), None);
        assert_eq!(window.lock().unwrap().hits.len(), 2);
    }
}
