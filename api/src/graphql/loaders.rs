//! Batched loading for nested reads: every key type below is loaded for a whole level of the
//! response with one statement, so a request's statement count does not grow with the number of
//! members, goals or check-ins it shows. Nothing is cached across requests.

use std::collections::HashMap;

use afterclass_domain::goal::Observations;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use crate::app::reads;
use crate::error::ApiError;
use crate::store::Store;
use crate::store::entities::{cohort, conduct_version, goal, membership, outcome, person};

/// Loads rows of the viewer's tenant only.
pub struct Loaders {
    pub store: Store,
    pub tenant_id: i64,
    pub person_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersonKey(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CohortKey(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembershipKey(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GoalKey(pub i64);
/// Every goal of a cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GoalsOf(pub i64);
/// The viewer's own membership in a cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViewerStanding(pub i64);
/// A cohort's code of conduct at one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConductKey {
    pub cohort_id: i64,
    pub version: i32,
}
/// A goal's observations as of a moment (microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgressKey {
    pub goal_id: i64,
    pub as_of: i64,
}

impl Loaders {
    /// The loaders of one viewer's request (or websocket connection).
    pub fn of(store: &Store, viewer: &crate::auth::Viewer) -> Loaders {
        Loaders { store: store.clone(), tenant_id: viewer.tenant_id, person_id: viewer.person_id() }
    }

    /// A request's loader. It caches what it loaded for the length of the request only, so that
    /// keys seen at one level are not fetched again at another.
    /// Its batches run as `tasks`, between passes of the request's executor (see
    /// [`RequestTasks::drive`](super::limits::RequestTasks::drive)): they wait for no timer, and
    /// stopping the request stops them.
    pub fn into_data_loader(self, tasks: super::limits::RequestTasks) -> DataLoader<Loaders, HashMapCache> {
        DataLoader::with_cache(self, move |batch| tasks.spawn(batch), HashMapCache::default())
            .delay(std::time::Duration::ZERO)
    }
}

/// A cohort's activity snapshot as of a moment (microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnapshotKey {
    pub cohort_id: i64,
    pub as_of: i64,
}
/// A member's participation level as of a moment (microseconds), with what the level depends on
/// of the membership besides its activity, as the membership was read in this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParticipationKey {
    pub membership_id: i64,
    pub cohort_id: i64,
    pub role: afterclass_domain::cohort::MemberRole,
    pub status: afterclass_domain::cohort::MembershipStatus,
    pub as_of: i64,
}
/// The outcome of an ended cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutcomeOf(pub i64);

type LoadResult<K, V> = std::result::Result<HashMap<K, V>, ApiError>;

/// Groups rows under their keys; every key asked for gets a list, empty when no row matched.
pub fn grouped<K, V>(keys: &[K], rows: Vec<V>, key_of: impl Fn(&V) -> K) -> HashMap<K, Vec<V>>
where
    K: Copy + Eq + std::hash::Hash,
{
    let mut out: HashMap<K, Vec<V>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for row in rows {
        out.entry(key_of(&row)).or_default().push(row);
    }
    out
}

impl Loader<PersonKey> for Loaders {
    type Value = person::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[PersonKey]) -> LoadResult<PersonKey, person::Model> {
        let rows = reads::people(&self.store, self.tenant_id, keys.iter().map(|k| k.0).collect()).await?;
        Ok(rows.into_iter().map(|r| (PersonKey(r.id), r)).collect())
    }
}

impl Loader<CohortKey> for Loaders {
    type Value = cohort::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[CohortKey]) -> LoadResult<CohortKey, cohort::Model> {
        let rows = reads::cohorts(&self.store, self.tenant_id, keys.iter().map(|k| k.0).collect()).await?;
        Ok(rows.into_iter().map(|r| (CohortKey(r.id), r)).collect())
    }
}

impl Loader<MembershipKey> for Loaders {
    type Value = membership::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[MembershipKey]) -> LoadResult<MembershipKey, membership::Model> {
        let rows = reads::memberships(&self.store, self.tenant_id, keys.iter().map(|k| k.0).collect()).await?;
        Ok(rows.into_iter().map(|r| (MembershipKey(r.id), r)).collect())
    }
}

impl Loader<GoalKey> for Loaders {
    type Value = goal::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[GoalKey]) -> LoadResult<GoalKey, goal::Model> {
        let rows = reads::goals(&self.store, self.tenant_id, keys.iter().map(|k| k.0).collect()).await?;
        Ok(rows.into_iter().map(|r| (GoalKey(r.id), r)).collect())
    }
}

impl Loader<GoalsOf> for Loaders {
    type Value = Vec<goal::Model>;
    type Error = ApiError;

    async fn load(&self, keys: &[GoalsOf]) -> LoadResult<GoalsOf, Vec<goal::Model>> {
        let rows = reads::goals_of(&self.store, self.tenant_id, keys.iter().map(|k| k.0).collect()).await?;
        Ok(grouped(keys, rows, |row| GoalsOf(row.cohort_id)))
    }
}

impl Loader<ViewerStanding> for Loaders {
    type Value = membership::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[ViewerStanding]) -> LoadResult<ViewerStanding, membership::Model> {
        let Some(person_id) = self.person_id else { return Ok(HashMap::new()) };
        let cohort_ids = keys.iter().map(|k| k.0).collect();
        let rows = reads::memberships_of_person(&self.store, self.tenant_id, person_id, cohort_ids).await?;
        Ok(rows.into_iter().map(|r| (ViewerStanding(r.cohort_id), r)).collect())
    }
}

impl Loader<ConductKey> for Loaders {
    type Value = conduct_version::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[ConductKey]) -> LoadResult<ConductKey, conduct_version::Model> {
        let (cohorts, versions) = keys.iter().map(|k| (k.cohort_id, k.version)).unzip();
        let rows = reads::conduct_versions(&self.store, self.tenant_id, cohorts, versions).await?;
        Ok(rows
            .into_iter()
            .map(|r| (ConductKey { cohort_id: r.cohort_id, version: r.version }, r))
            .filter(|(k, _)| keys.contains(k))
            .collect())
    }
}

impl Loader<ProgressKey> for Loaders {
    type Value = Observations;
    type Error = ApiError;

    async fn load(&self, keys: &[ProgressKey]) -> LoadResult<ProgressKey, Observations> {
        let mut by_time: HashMap<i64, Vec<i64>> = HashMap::new();
        for key in keys {
            by_time.entry(key.as_of).or_default().push(key.goal_id);
        }
        let mut out = HashMap::new();
        for (as_of, goal_ids) in by_time {
            let observed = reads::observations(&self.store, &goal_ids, as_of).await?;
            out.extend(observed.into_iter().map(|(goal_id, obs)| (ProgressKey { goal_id, as_of }, obs)));
        }
        Ok(out)
    }
}

impl Loader<SnapshotKey> for Loaders {
    type Value = afterclass_domain::lifecycle::Snapshot;
    type Error = ApiError;

    async fn load(&self, keys: &[SnapshotKey]) -> LoadResult<SnapshotKey, afterclass_domain::lifecycle::Snapshot> {
        let mut by_time: HashMap<i64, Vec<i64>> = HashMap::new();
        for key in keys {
            by_time.entry(key.as_of).or_default().push(key.cohort_id);
        }
        // One statement per distinct moment, whatever the number of cohorts.
        let mut out = HashMap::new();
        for (as_of, cohort_ids) in by_time {
            let snaps = reads::snapshots(&self.store, self.tenant_id, &cohort_ids, as_of).await?;
            out.extend(snaps.into_iter().map(|(cohort_id, snap)| (SnapshotKey { cohort_id, as_of }, snap)));
        }
        Ok(out)
    }
}

impl Loader<ParticipationKey> for Loaders {
    type Value = afterclass_domain::lifecycle::ParticipationLevel;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[ParticipationKey],
    ) -> LoadResult<ParticipationKey, afterclass_domain::lifecycle::ParticipationLevel> {
        let mut cohort_ids: Vec<i64> = keys.iter().map(|k| k.cohort_id).collect();
        cohort_ids.sort_unstable();
        cohort_ids.dedup();
        let mut by_time: HashMap<i64, Vec<ParticipationKey>> = HashMap::new();
        for key in keys {
            by_time.entry(key.as_of).or_default().push(*key);
        }
        let mut out = HashMap::new();
        for (as_of, keys) in by_time {
            let ids: Vec<i64> = keys.iter().map(|k| k.membership_id).collect();
            let activity = reads::member_activity(&self.store, &cohort_ids, &ids, as_of).await?;
            for key in keys {
                let of = activity.get(&key.membership_id).copied().unwrap_or_default();
                out.insert(key, afterclass_domain::lifecycle::participation(key.role, key.status, of));
            }
        }
        Ok(out)
    }
}

impl Loader<OutcomeOf> for Loaders {
    type Value = outcome::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[OutcomeOf]) -> LoadResult<OutcomeOf, outcome::Model> {
        let rows = reads::outcomes_of(&self.store, self.tenant_id, keys.iter().map(|k| k.0).collect()).await?;
        Ok(rows.into_iter().map(|r| (OutcomeOf(r.cohort_id), r)).collect())
    }
}

/// Forgets everything `loader` has cached, so that what it loads next is read afresh: a live
/// subscription's loader lives as long as its connection, and each event it delivers must show
/// the cohort, and the viewer's standing in it, as they are when the event is delivered. Every
/// key type of the loader is cleared here or in `meetings::forget_meetings`.
pub fn forget_all(loader: &DataLoader<Loaders, HashMapCache>) {
    loader.clear::<PersonKey>();
    loader.clear::<CohortKey>();
    loader.clear::<MembershipKey>();
    loader.clear::<GoalKey>();
    loader.clear::<GoalsOf>();
    loader.clear::<ViewerStanding>();
    loader.clear::<ConductKey>();
    loader.clear::<ProgressKey>();
    loader.clear::<SnapshotKey>();
    loader.clear::<ParticipationKey>();
    loader.clear::<OutcomeOf>();
    loader.clear::<super::nudges::PolicyOf>();
    super::meetings::forget_meetings(loader);
}
