//! What one GraphQL request may cost, in one place.
//!
//! - **Expansion.** Before the executor sees a document, [`check_document`] counts the fields of
//!   each operation and fragment *after* fragment spreads are expanded, memoising each
//!   fragment's size (saturating, so a chain of fragments that each spread the previous one
//!   twice costs microseconds to count, not its 2^n expanded fields). Cycles are refused, and so
//!   is a document above [`MAX_EXPANDED_FIELDS`]; no validation or execution then runs. An
//!   introspection field counts for what it answers with: `__schema` for a quarter of the limit
//!   ([`SCHEMA_INTROSPECTION_FIELDS`]), `__type` for [`TYPE_INTROSPECTION_FIELDS`].
//! - **Cost.** The complexity limit (`Limits::complexity`, default 5,000) counts every field as 1
//!   plus what it selects, a connection as its page size times what each node selects, and a
//!   field that runs SQL of its own [`STATEMENT`] points for each statement it may run. Those
//!   statement counts are the constants below: a health or evaluation snapshot, a progress or
//!   participation aggregate as of a chosen moment, a window of meetings, a page, a search.
//!   A field read through a request's loaders at the request's own moment is batched with its
//!   siblings and charged as a plain field. So a request within the limits runs at most
//!   5,000 / 12 ≈ 416 statements of its own, plus resolving the viewer and a loader batch per
//!   kind of row per level (measured by `tests/tests/hostile.rs`). A roster (`createCohort`,
//!   `addMembers`) writes a few statements per person; its size is bounded by the roster limit.
//! - **Time.** A request that runs longer than `Limits::request_timeout` is dropped and
//!   answered [`TIMEOUT_CODE`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use async_graphql::futures_util::future::BoxFuture;
use async_graphql::futures_util::stream::{FuturesUnordered, StreamExt};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use crate::app::reads as queries;
use crate::error::ApiError;

/// Most fields a document may select once its fragment spreads are expanded.
pub const MAX_EXPANDED_FIELDS: u64 = 10_000;

/// Complexity points charged for each SQL statement a field may run.
pub const STATEMENT: usize = 12;

/// A health or evaluation snapshot as of one moment (`store::lifecycle::snapshots`): one statement
/// doing the work of three — the cohort's own facts, its members' counts (their tallies,
/// attendance and leadership added up per cohort) and its attendance rate — over every cohort
/// whose snapshot loads in the same batch; charged for the three.
pub const SNAPSHOT_STATEMENTS: usize = 3;
/// Goals' progress as of a chosen moment: goals with their members' tallies.
pub const PROGRESS_STATEMENTS: usize = 1;
/// Members' participation as of a chosen moment: one statement doing the work of three —
/// memberships with their tallies, leadership (stage events and code-of-conduct versions) and
/// attendance in the window, each a grouped join; charged for the three.
pub const PARTICIPATION_STATEMENTS: usize = 3;
/// One window of meetings: a count and the rows.
pub const WINDOW_STATEMENTS: usize = 2;
/// The next meeting after a chosen moment: up to four growing windows.
pub const NEXT_MEETING_STATEMENTS: usize = 4 * WINDOW_STATEMENTS;
/// A page of a connection: a count and the rows.
pub const PAGE_STATEMENTS: usize = 2;
/// One row looked up by its ID.
pub const LOOKUP_STATEMENTS: usize = 1;
/// `node`: the row, its cohort and, for a meeting, the stored or computed occurrence.
pub const NODE_STATEMENTS: usize = 4;
/// A page of the event log: up to ten batches of rows, each with its cohorts and the viewer's
/// memberships in them (three statements a batch), and the count.
pub const EVENT_PAGE_STATEMENTS: usize = 31;
/// A full-text search ranks every match: charged as ten statements, whatever it returns.
pub const SEARCH_STATEMENTS: usize = 10;
/// Similar cohorts read up to 2,000 candidates and rank them: charged as twenty statements.
pub const SIMILARITY_STATEMENTS: usize = 20;
/// A person's export: the person, then one statement per kind of row (memberships, join
/// requests, outcomes, cohorts, check-ins, goals, RSVPs, meetings, attendance, nudges, course
/// rosters, events), whatever their history.
pub const PERSON_EXPORT_STATEMENTS: usize = 13;
/// A mutation's transaction: the viewer, the lock, the checks and the writes.
pub const MUTATION_STATEMENTS: usize = 20;

/// The `extensions.code` of a request stopped by the time limit.
pub const TIMEOUT_CODE: &str = "TIMEOUT";

/// The loader batches of one request, run by the request's own task (see [`RequestTasks::drive`]).
#[derive(Clone, Default)]
pub struct RequestTasks(Arc<Mutex<Vec<BoxFuture<'static, ()>>>>);

impl RequestTasks {
    /// Queues a loader batch; [`RequestTasks::drive`] starts it.
    pub fn spawn(&self, task: BoxFuture<'static, ()>) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(task);
    }

    /// Runs `request` and, between its polls, the loader batches it queued. A batch starts only
    /// once a whole pass of the executor has polled every field that can make progress, so every
    /// sibling of a level has asked for its keys by then and one statement loads them all, with
    /// no timer to wait for and whatever the load on the machine. The batches belong to the
    /// returned future: a request stopped by the time limit, or whose client went away, drops
    /// them with it, so no batch of it runs on unseen.
    pub async fn drive<F: Future>(&self, request: F) -> F::Output {
        let mut request = std::pin::pin!(request);
        let mut running = FuturesUnordered::new();
        std::future::poll_fn(move |cx| {
            let woken = Arc::new(SelfWake { woken: AtomicBool::new(false), outer: cx.waker().clone() });
            let waker = Waker::from(Arc::clone(&woken));
            let mut inner = Context::from_waker(&waker);
            let mut passes = 0;
            loop {
                woken.woken.store(false, Ordering::Release);
                if let Poll::Ready(out) = request.as_mut().poll(&mut inner) {
                    return Poll::Ready(out);
                }
                // A long list yields after a share of its items (so as not to hog the thread) and
                // wakes itself at once: that pass is not over, so its keys are not all in yet.
                passes += 1;
                if woken.woken.load(Ordering::Acquire) && passes < MAX_PASSES_BEFORE_LOADING {
                    continue;
                }
                passes = 0;
                running.extend(std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner)));
                let mut finished = false;
                while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {
                    finished = true;
                }
                // A finished batch has answered fields of the request: poll it again now.
                if !finished {
                    return Poll::Pending;
                }
            }
        })
        .await
    }
}

/// How many times in a row a request may wake itself before its queued batches start anyway.
const MAX_PASSES_BEFORE_LOADING: u32 = 1_000;

/// The waker a request is polled with: notes that the request woke itself, and passes the
/// wake on.
struct SelfWake {
    woken: AtomicBool,
    outer: Waker,
}

impl Wake for SelfWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.outer.wake_by_ref();
    }
}

/// A field that may run `statements` statements each time it resolves.
pub fn field(statements: usize, child_complexity: usize) -> usize {
    statements.saturating_mul(STATEMENT).saturating_add(1).saturating_add(child_complexity)
}

/// A field whose statements run once per distinct moment asked for: at the request's own moment
/// (`given` false) it loads in one batch with its siblings, so it costs as a plain field.
pub fn at_moment(given: bool, statements: usize, child_complexity: usize) -> usize {
    field(if given { statements } else { 0 }, child_complexity)
}

/// A connection: its own statements, plus its page size times what each node selects.
pub fn connection(first: Option<i32>, statements: usize, child_complexity: usize) -> usize {
    let size = first.unwrap_or(queries::DEFAULT_PAGE).clamp(1, queries::MAX_PAGE) as usize;
    statements.saturating_mul(STATEMENT).saturating_add(1).saturating_add(size.saturating_mul(child_complexity))
}

/// A list of at most `size` items, with its own statements.
pub fn list(size: Option<i32>, default: i32, statements: usize, child_complexity: usize) -> usize {
    let size = size.unwrap_or(default).max(1) as usize;
    statements.saturating_mul(STATEMENT).saturating_add(1).saturating_add(size.saturating_mul(child_complexity))
}

/// Refuses a document whose operations or fragments select more than [`MAX_EXPANDED_FIELDS`]
/// fields once fragment spreads are expanded, or whose fragments spread each other in a cycle.
/// Unknown fragments count as empty: validation reports them.
pub fn check_document(doc: &ExecutableDocument) -> Result<(), ApiError> {
    let sizes = fragment_sizes(doc)?;
    let too_big = |size: u64| size > MAX_EXPANDED_FIELDS;
    let mut operations = doc.operations.iter().map(|(_, op)| expanded(&op.node.selection_set.node, &sizes));
    if sizes.values().copied().any(too_big) || operations.any(too_big) {
        return Err(ApiError::BadUserInput(format!(
            "the query selects more than {MAX_EXPANDED_FIELDS} fields once its fragments are expanded; ask for less at once"
        )));
    }
    Ok(())
}

/// What one `__schema` field counts for: it answers with the whole schema (some 25 kB and
/// milliseconds of work per copy, whatever the cost limit says), so a document may introspect it
/// at most three times (found by `tests/tests/fuzz.rs`: hundreds of aliased `__schema` fields ran
/// past the time limit).
pub const SCHEMA_INTROSPECTION_FIELDS: u64 = MAX_EXPANDED_FIELDS / 4;
/// What one `__type` field counts for: one type with its fields, a small part of the schema.
pub const TYPE_INTROSPECTION_FIELDS: u64 = 25;

/// How many fields a field counts for in the expansion count.
fn weight(name: &str) -> u64 {
    match name {
        "__schema" => SCHEMA_INTROSPECTION_FIELDS,
        "__type" => TYPE_INTROSPECTION_FIELDS,
        _ => 1,
    }
}

/// What a selection set selects directly: its fields (nested ones included) and how many times
/// it spreads each fragment.
#[derive(Default)]
struct Local<'a> {
    fields: u64,
    spreads: HashMap<&'a str, u64>,
}

fn local<'a>(set: &'a SelectionSet, multiplier: u64, out: &mut Local<'a>) {
    // Nesting is bounded by the parser; only fragment spreads can multiply.
    for selection in &set.items {
        match &selection.node {
            Selection::Field(f) => {
                out.fields = out.fields.saturating_add(multiplier.saturating_mul(weight(f.node.name.node.as_str())));
                local(&f.node.selection_set.node, multiplier, out);
            }
            Selection::InlineFragment(inline) => local(&inline.node.selection_set.node, multiplier, out),
            Selection::FragmentSpread(spread) => {
                let n = out.spreads.entry(spread.node.fragment_name.node.as_str()).or_default();
                *n = n.saturating_add(multiplier);
            }
        }
    }
}

/// The expanded size of every fragment, in dependency order (Kahn's algorithm, no recursion
/// over fragments, so a long chain cannot exhaust the stack).
fn fragment_sizes(doc: &ExecutableDocument) -> Result<HashMap<&str, u64>, ApiError> {
    let mut locals: HashMap<&str, Local> = HashMap::new();
    for (name, fragment) in &doc.fragments {
        let mut l = Local::default();
        local(&fragment.node.selection_set.node, 1, &mut l);
        // Spreads of unknown fragments are left to validation.
        l.spreads.retain(|dep, _| doc.fragments.keys().any(|k| k.as_str() == *dep));
        locals.insert(name.as_str(), l);
    }
    // Fragments waiting on each fragment, and how many dependencies each still waits for.
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut waiting: HashMap<&str, usize> = HashMap::new();
    for (name, l) in &locals {
        waiting.insert(name, l.spreads.len());
        for dep in l.spreads.keys() {
            dependents.entry(dep).or_default().push(name);
        }
    }
    let mut ready: Vec<&str> = waiting.iter().filter(|(_, n)| **n == 0).map(|(name, _)| *name).collect();
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    while let Some(name) = ready.pop() {
        let l = &locals[name];
        let size = l.spreads.iter().fold(l.fields, |acc, (dep, times)| {
            acc.saturating_add(times.saturating_mul(sizes.get(dep).copied().unwrap_or(0)))
        });
        sizes.insert(name, size);
        for dependent in dependents.get(name).into_iter().flatten() {
            if let Some(n) = waiting.get_mut(dependent) {
                *n -= 1;
                if *n == 0 {
                    ready.push(dependent);
                }
            }
        }
    }
    if sizes.len() < locals.len() {
        return Err(ApiError::BadUserInput("fragments must not spread each other in a cycle".into()));
    }
    Ok(sizes)
}

fn expanded(set: &SelectionSet, sizes: &HashMap<&str, u64>) -> u64 {
    let mut l = Local::default();
    local(set, 1, &mut l);
    l.spreads.iter().fold(l.fields, |acc, (dep, times)| {
        acc.saturating_add(times.saturating_mul(sizes.get(dep).copied().unwrap_or(0)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doubling(levels: usize) -> String {
        let mut doc = String::from("query { viewer { ...F0 } }\nfragment F1 on Viewer { role tenantId }\n");
        doc = doc.replace("F0", &format!("F{levels}"));
        for i in 2..=levels {
            doc.push_str(&format!("fragment F{i} on Viewer {{ ...F{} ...F{} }}\n", i - 1, i - 1));
        }
        doc
    }

    #[test]
    fn doubling_fragments_are_counted_without_expanding_them() {
        let doc = async_graphql::parser::parse_query(doubling(60)).unwrap();
        let started = std::time::Instant::now();
        let err = check_document(&doc).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
        assert_eq!(err.code(), "BAD_USER_INPUT");
        // 2^12 fields are within the bound.
        let doc = async_graphql::parser::parse_query(doubling(12)).unwrap();
        assert!(check_document(&doc).is_ok());
    }

    #[test]
    fn cycles_are_refused() {
        let doc = async_graphql::parser::parse_query(
            "{ viewer { ...A } } fragment A on Viewer { role ...B } fragment B on Viewer { ...A }",
        )
        .unwrap();
        assert!(check_document(&doc).is_err());
        let doc = async_graphql::parser::parse_query("{ viewer { ...A } } fragment A on Viewer { ...A }").unwrap();
        assert!(check_document(&doc).is_err());
    }

    #[test]
    fn plain_documents_pass() {
        let doc = async_graphql::parser::parse_query(
            "query { viewer { role ...R ... on Viewer { tenantId } } } fragment R on Viewer { role person { id } }",
        )
        .unwrap();
        assert!(check_document(&doc).is_ok());
        assert_eq!(
            expanded(&doc.operations.iter().next().unwrap().1.node.selection_set.node, &fragment_sizes(&doc).unwrap()),
            6
        );
    }

    #[test]
    fn the_schema_is_introspected_at_most_three_times_per_document() {
        let schema = "__schema { types { name fields { name } } }";
        let aliases = |n: usize| (0..n).map(|k| format!("a{k}: {schema} ")).collect::<String>();
        for (n, allowed) in [(1, true), (3, true), (4, false), (400, false)] {
            let doc = async_graphql::parser::parse_query(format!("{{ {} }}", aliases(n))).unwrap();
            assert_eq!(check_document(&doc).is_ok(), allowed, "{n} copies");
        }
        // Through fragments too.
        let doc = async_graphql::parser::parse_query(format!(
            "{{ ...S ...S ... on Query {{ ...S ...S }} }} fragment S on Query {{ {schema} }}"
        ))
        .unwrap();
        assert!(check_document(&doc).is_err());
        let types: String = (0..401).map(|k| format!("t{k}: __type(name: \"Cohort\") {{ name }} ")).collect();
        assert!(check_document(&async_graphql::parser::parse_query(format!("{{ {types} }}")).unwrap()).is_err());
    }
}
