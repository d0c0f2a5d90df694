//! Live events: `cohortEvents` over graphql-transport-ws at `GET /graphql/ws` (see
//! `http::ws`). Each subscriber reads the log itself after its own position whenever the log's
//! head moves ([`LogHead`]), through the same per-viewer reading as the `events` feed, so it gets
//! exactly what it may see, in order, once, whichever replica wrote it.

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::futures_util::Stream;
use async_graphql::futures_util::stream;
use async_graphql::{Context, ID, Subscription};

use super::events::{CohortEvent, CohortEventKind};
use super::loaders::{Loaders, forget_all};
use super::{Result, data};
use crate::app::feed::{self, EventFilter};
use crate::auth::Viewer;
use crate::ids::{self, Kind};
use crate::store::Store;
use crate::store::entities::event;
use crate::store::events::{LogHead, Position, settled_head};

/// How many events one look at the log reads.
const BATCH: u64 = 100;

pub struct SubscriptionRoot;

struct Follow {
    store: Store,
    viewer: Viewer,
    filter: EventFilter,
    loader: Arc<DataLoader<Loaders, HashMapCache>>,
    head: tokio::sync::watch::Receiver<Position>,
    cursor: Position,
    pending: VecDeque<event::Model>,
}

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Live events of the viewer's tenant (graphql-transport-ws over GET /graphql/ws), filtered to what the viewer may see.
    async fn cohort_events(
        &self,
        ctx: &Context<'_>,
        cohort_id: Option<ID>,
        kinds: Option<Vec<CohortEventKind>>,
    ) -> Result<impl Stream<Item = CohortEvent> + use<>> {
        let cohort_id = cohort_id.map(|id| ids::decode(Kind::Cohort, &id)).transpose()?;
        let store = data::<Store>(ctx)?.clone();
        let follow = Follow {
            viewer: data::<Viewer>(ctx)?.clone(),
            filter: EventFilter { cohort_id, kinds: kinds.unwrap_or_default().into_iter().map(Into::into).collect() },
            loader: data::<Arc<DataLoader<Loaders, HashMapCache>>>(ctx)?.clone(),
            head: data::<LogHead>(ctx)?.follow(),
            // Events from the moment of subscribing on.
            cursor: settled_head(store.reader()).await?,
            pending: VecDeque::new(),
            store,
        };
        Ok(stream::unfold(follow, next))
    }
}

/// The next event the subscriber may see, waiting for the log to grow when there is none.
async fn next(mut f: Follow) -> Option<(CohortEvent, Follow)> {
    loop {
        if let Some(row) = f.pending.pop_front() {
            forget_all(&f.loader);
            return Some((CohortEvent(row), f));
        }
        // Marked seen before reading, so a head that moves while reading wakes the wait below.
        f.head.borrow_and_update();
        match feed::visible_events(&f.store, &f.viewer, &f.filter, Some(f.cursor), BATCH).await {
            Ok(page) => {
                if let Some(to) = page.looked_to {
                    f.cursor = to;
                }
                let more = page.has_next;
                f.pending.extend(page.rows);
                if more || !f.pending.is_empty() {
                    continue;
                }
            }
            Err(err) => tracing::warn!(?err, "reading the event log for a subscriber"),
        }
        if f.head.changed().await.is_err() {
            return None;
        }
    }
}
