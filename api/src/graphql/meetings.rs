//! The meetings part of the schema: a cohort's cadence, place and channel, its meetings in a
//! window and the next one, RSVPs, attendance, the member's calendar feed URL, and the
//! mutations behind them. The `Cohort`, `Membership` and root fields in `types`, `query` and
//! `mutation` are thin and call the functions here.
//!
//! Reads go through per-request loaders (the plan, the rows of a window, RSVPs, attendance and
//! feed state are each one statement per level). A meeting's `rsvps`, `attendance` and
//! `attendanceRate` are for the cohort's members; its time, status, place and agenda belong to
//! the meeting plan, which a discoverable cohort's public face shows.

use std::collections::HashMap;
use std::sync::Arc;

use afterclass_domain::access::Facet;
use afterclass_domain::meeting::{self as dm, Window};
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Duration, Utc};

use super::loaders::{CohortKey, Loaders, MembershipKey, grouped};
use super::mutation::MembershipPayload;
use super::types::{Cohort, Membership};
use super::{Date, RequestTime, Result, UserError, data, payload};
use crate::app::access::Access;
use crate::app::meetings::{Change, MeetingDone, PlanChange};
use crate::app::{App, reads};
use crate::auth::Viewer;
use crate::error::{ApiError, Failure};
use crate::ids::{self, Kind};
use crate::links::Feeds;
use crate::store::entities::membership;
use crate::store::meetings::{
    self as sm, LONGEST_MEETING_MICROS, Slot, attendance, calendar_feed, meeting, meeting_plan, rsvp,
};
use crate::store::{Store, from_micros, to_micros};

use super::mirror_enum;

mirror_enum!(MeetingFormat = dm::MeetingFormat { InPerson, Online, Blended });
mirror_enum!(Frequency = dm::Frequency { Weekly, Fortnightly, Monthly });
mirror_enum!(ChannelKind = dm::ChannelKind { MailingList, Forum, Chat, Hashtag, Other });
mirror_enum!(
    /// SCHEDULED until it is CANCELLED or its attendance is recorded (HELD).
    MeetingStatus = dm::MeetingStatus { Scheduled, Held, Cancelled }
);
mirror_enum!(RsvpAnswer = dm::RsvpAnswer { Going, Maybe, NotGoing });
mirror_enum!(AttendanceMark = dm::AttendanceMark { Present, Absent, Excused });

/// A regular rhythm of meetings. Local time is kept across daylight-saving changes; a local time
/// that does not exist that day is shifted forward by the gap, and one that exists twice is the
/// earlier instant.
#[derive(SimpleObject, Clone)]
pub struct Cadence {
    pub frequency: Frequency,
    /// ISO weekday, 1 = Monday ... 7 = Sunday.
    pub weekday: i32,
    /// Local wall-clock start, HH:MM.
    pub local_time: String,
    /// IANA zone, e.g. Europe/Berlin; occurrences keep the local time across daylight-saving changes.
    pub time_zone: String,
    pub duration_minutes: i32,
    /// For MONTHLY: which weekday of the month, 1-4, or -1 for the last.
    pub week_of_month: Option<i32>,
    /// The local date the cadence runs from (the day it was set): no occurrences before it.
    /// FORTNIGHTLY counts fortnights from the first of its weekdays on or after it.
    pub starts_on: Date,
}

impl From<dm::Cadence> for Cadence {
    fn from(c: dm::Cadence) -> Self {
        Cadence {
            frequency: c.frequency.into(),
            weekday: c.weekday_number(),
            local_time: c.local_time_text(),
            time_zone: c.zone_name().to_owned(),
            duration_minutes: c.duration_minutes,
            week_of_month: c.week_of_month.map(dm::WeekOfMonth::number),
            starts_on: Date(c.starts_on),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct MeetingPlace {
    pub format: MeetingFormat,
    /// A room or address for IN_PERSON and BLENDED.
    pub location: Option<String>,
    /// A video link, or a hashtag with its time slot, for ONLINE and BLENDED.
    pub online_url: Option<String>,
}

impl From<dm::Place> for MeetingPlace {
    fn from(p: dm::Place) -> Self {
        MeetingPlace { format: p.format.into(), location: p.location, online_url: p.online_url }
    }
}

#[derive(SimpleObject, Clone)]
pub struct CommunicationChannel {
    pub kind: ChannelKind,
    /// An address, URL or hashtag.
    pub address: String,
}

impl From<dm::Channel> for CommunicationChannel {
    fn from(c: dm::Channel) -> Self {
        CommunicationChannel { kind: c.kind.into(), address: c.address }
    }
}

#[derive(InputObject)]
pub struct CadenceInput {
    pub frequency: Frequency,
    /// ISO weekday, 1 = Monday ... 7 = Sunday.
    pub weekday: i32,
    /// Local wall-clock start, HH:MM (24-hour).
    pub local_time: String,
    /// IANA zone, e.g. Europe/Berlin.
    pub time_zone: String,
    /// 1 to 1440.
    pub duration_minutes: i32,
    /// For MONTHLY only: 1-4, or -1 for the last.
    pub week_of_month: Option<i32>,
}

#[derive(InputObject)]
pub struct MeetingPlaceInput {
    pub format: MeetingFormat,
    /// Needed for IN_PERSON and BLENDED.
    pub location: Option<String>,
    /// Needed for ONLINE and BLENDED.
    pub online_url: Option<String>,
}

impl From<MeetingPlaceInput> for dm::PlaceDraft {
    fn from(p: MeetingPlaceInput) -> Self {
        dm::PlaceDraft { format: p.format.into(), location: p.location, online_url: p.online_url }
    }
}

#[derive(InputObject)]
pub struct CommunicationChannelInput {
    pub kind: ChannelKind,
    pub address: String,
}

#[derive(InputObject)]
pub struct SetMeetingPlanInput {
    pub cohort_id: ID,
    /// Left out: unchanged; null: cleared.
    pub cadence: MaybeUndefined<CadenceInput>,
    /// Left out: unchanged; null: cleared.
    pub place: MaybeUndefined<MeetingPlaceInput>,
    /// Left out: unchanged; null: cleared.
    pub channel: MaybeUndefined<CommunicationChannelInput>,
}

#[derive(InputObject)]
pub struct ScheduleMeetingInput {
    pub cohort_id: ID,
    /// In the future, at a time the cohort has no other meeting starting.
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i32,
    /// The plan's place when left out.
    pub place: Option<MeetingPlaceInput>,
    pub agenda: Option<String>,
}

#[derive(InputObject)]
pub struct CancelMeetingInput {
    pub meeting_id: ID,
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct RsvpInput {
    pub meeting_id: ID,
    pub answer: RsvpAnswer,
}

#[derive(InputObject)]
pub struct AttendanceEntryInput {
    pub membership_id: ID,
    pub mark: AttendanceMark,
}

#[derive(InputObject)]
pub struct RecordAttendanceInput {
    pub meeting_id: ID,
    pub entries: Vec<AttendanceEntryInput>,
}

#[derive(InputObject)]
pub struct RevokeCalendarFeedInput {
    /// The viewer's own membership.
    pub membership_id: ID,
}

#[derive(SimpleObject)]
pub struct MeetingPayload {
    pub meeting: Option<Meeting>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct RsvpPayload {
    pub rsvp: Option<Rsvp>,
    pub user_errors: Vec<UserError>,
}

/// One meeting: an occurrence of the cadence or a one-off. Its ID names the cohort and the
/// start, so it is the same before and after anything is attached to it.
#[derive(Clone)]
pub struct Meeting {
    pub slot: Slot,
    pub plan_place: Option<dm::Place>,
    pub access: Access,
}

impl Meeting {
    /// Who answered and who attended are the cohort's activity.
    fn ensure_activity(&self) -> Result<(), ApiError> {
        self.access.ensure(Facet::Activity)
    }

    async fn marks(&self, ctx: &Context<'_>) -> Result<Vec<attendance::Model>, ApiError> {
        let Some(row) = &self.slot.row else { return Ok(Vec::new()) };
        Ok(loader(ctx)?.load_one(AttendanceOf(row.id)).await?.unwrap_or_default())
    }
}

#[Object]
impl Meeting {
    pub async fn id(&self) -> ID {
        ids::encode_meeting(self.slot.cohort_id, self.slot.starts_at).into()
    }
    async fn cohort(&self, ctx: &Context<'_>) -> Result<Cohort> {
        let row = loader(ctx)?.load_one(CohortKey(self.slot.cohort_id)).await?;
        let model = row.ok_or_else(|| ApiError::Internal("meeting without a cohort".into()))?;
        Cohort::visible(ctx, model).await?.ok_or_else(|| ApiError::not_found("cohort"))
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        from_micros(self.slot.starts_at)
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        from_micros(self.slot.ends_at)
    }
    async fn status(&self) -> MeetingStatus {
        self.slot.status().into()
    }
    /// The meeting's own place, or the plan's.
    async fn place(&self) -> Option<MeetingPlace> {
        let own = self.slot.row.as_ref().and_then(meeting::Model::own_place);
        own.or_else(|| self.plan_place.clone()).map(Into::into)
    }
    async fn agenda(&self) -> Option<&str> {
        self.slot.row.as_ref().and_then(|r| r.agenda.as_deref())
    }
    /// Why it was cancelled, when a reason was given.
    async fn cancel_reason(&self) -> Option<&str> {
        self.slot.row.as_ref().and_then(|r| r.cancel_reason.as_deref())
    }
    /// Whether it was scheduled on its own rather than by the cadence.
    async fn one_off(&self) -> bool {
        self.slot.row.as_ref().is_some_and(|r| r.one_off)
    }
    /// Members only.
    async fn rsvps(&self, ctx: &Context<'_>) -> Result<Vec<Rsvp>> {
        self.ensure_activity()?;
        let Some(row) = &self.slot.row else { return Ok(Vec::new()) };
        let rows = loader(ctx)?.load_one(RsvpsOf(row.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Rsvp).collect())
    }
    /// Members only.
    async fn attendance(&self, ctx: &Context<'_>) -> Result<Vec<Attendance>> {
        self.ensure_activity()?;
        Ok(self.marks(ctx).await?.into_iter().map(Attendance).collect())
    }
    /// PRESENT over marked members; null until attendance is recorded. Members only.
    async fn attendance_rate(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        self.ensure_activity()?;
        let marks = self.marks(ctx).await?;
        let present = marks.iter().filter(|m| m.mark == dm::AttendanceMark::Present.as_str()).count();
        Ok(dm::attendance_rate(present as u64, marks.len() as u64))
    }
}

#[derive(Clone)]
pub struct Rsvp(pub rsvp::Model);

#[Object]
impl Rsvp {
    async fn membership(&self, ctx: &Context<'_>) -> Result<Membership> {
        membership_of(ctx, self.0.membership_id).await
    }
    async fn answer(&self) -> RsvpAnswer {
        dm::RsvpAnswer::parse(&self.0.answer).unwrap_or(dm::RsvpAnswer::Maybe).into()
    }
    async fn answered_at(&self) -> DateTime<Utc> {
        from_micros(self.0.answered_at)
    }
}

#[derive(Clone)]
pub struct Attendance(pub attendance::Model);

#[Object]
impl Attendance {
    async fn membership(&self, ctx: &Context<'_>) -> Result<Membership> {
        membership_of(ctx, self.0.membership_id).await
    }
    async fn mark(&self) -> AttendanceMark {
        dm::AttendanceMark::parse(&self.0.mark).unwrap_or(dm::AttendanceMark::Absent).into()
    }
    /// When the mark was last recorded or corrected.
    async fn recorded_at(&self) -> DateTime<Utc> {
        from_micros(self.0.recorded_at)
    }
}

async fn membership_of(ctx: &Context<'_>, id: i64) -> Result<Membership> {
    let row = loader(ctx)?.load_one(MembershipKey(id)).await?;
    Ok(Membership(row.ok_or_else(|| ApiError::Internal("a mark without its membership".into()))?))
}

// ---------------------------------------------------------------------------------------------
// Loaders

/// A cohort's meeting plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanOf(pub i64);

/// A cohort's meeting rows that start in `[from, to)` (microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowsStarting {
    pub cohort_id: i64,
    pub from: i64,
    pub to: i64,
}
/// The rows of a window, or the news that there are too many to list.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub rows: Vec<meeting::Model>,
    pub too_many: bool,
}
/// A meeting row's RSVPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RsvpsOf(pub i64);
/// A meeting row's attendance marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttendanceOf(pub i64);
/// A membership's calendar-feed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeedOf(pub i64);

/// The meetings' share of [`forget_all`](super::loaders::forget_all): every key type loaded here.
pub fn forget_meetings(
    loader: &async_graphql::dataloader::DataLoader<Loaders, async_graphql::dataloader::HashMapCache>,
) {
    loader.clear::<PlanOf>();
    loader.clear::<RowsStarting>();
    loader.clear::<RsvpsOf>();
    loader.clear::<AttendanceOf>();
    loader.clear::<FeedOf>();
}

type LoadResult<K, V> = std::result::Result<HashMap<K, V>, ApiError>;

fn loader<'a>(ctx: &Context<'a>) -> Result<&'a DataLoader<Loaders, HashMapCache>, ApiError> {
    data::<DataLoader<Loaders, HashMapCache>>(ctx)
}

impl Loader<PlanOf> for Loaders {
    type Value = meeting_plan::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[PlanOf]) -> LoadResult<PlanOf, meeting_plan::Model> {
        let rows = reads::plans(&self.store, self.tenant_id, keys.iter().map(|k| k.0).collect()).await?;
        Ok(rows.into_iter().map(|r| (PlanOf(r.cohort_id), r)).collect())
    }
}

impl Loader<RowsStarting> for Loaders {
    type Value = Rows;
    type Error = ApiError;

    /// Per window asked about: one statement counts each cohort's rows, one loads those of the
    /// cohorts that are not over the limit.
    async fn load(&self, keys: &[RowsStarting]) -> LoadResult<RowsStarting, Rows> {
        let mut windows: HashMap<(i64, i64), Vec<i64>> = HashMap::new();
        for key in keys {
            windows.entry((key.from, key.to)).or_default().push(key.cohort_id);
        }
        let mut out = HashMap::new();
        for ((from, to), cohort_ids) in windows {
            let counts =
                reads::count_meetings_starting_between(&self.store, self.tenant_id, &cohort_ids, from, to).await?;
            let listable: Vec<i64> = cohort_ids
                .iter()
                .copied()
                .filter(|id| counts.get(id).copied().unwrap_or(0) <= dm::MAX_OCCURRENCES as u64)
                .collect();
            let rows = if counts.is_empty() || listable.is_empty() {
                Vec::new()
            } else {
                reads::meetings_starting_between(&self.store, self.tenant_id, &listable, from, to).await?
            };
            for cohort_id in cohort_ids {
                let too_many = !listable.contains(&cohort_id);
                let mine = rows.iter().filter(|r| r.cohort_id == cohort_id).cloned().collect();
                out.insert(RowsStarting { cohort_id, from, to }, Rows { rows: mine, too_many });
            }
        }
        Ok(out)
    }
}

impl Loader<RsvpsOf> for Loaders {
    type Value = Vec<rsvp::Model>;
    type Error = ApiError;

    async fn load(&self, keys: &[RsvpsOf]) -> LoadResult<RsvpsOf, Vec<rsvp::Model>> {
        let rows = reads::rsvps_of(&self.store, self.tenant_id, keys.iter().map(|k| k.0).collect()).await?;
        Ok(grouped(keys, rows, |row| RsvpsOf(row.meeting_id)))
    }
}

impl Loader<AttendanceOf> for Loaders {
    type Value = Vec<attendance::Model>;
    type Error = ApiError;

    async fn load(&self, keys: &[AttendanceOf]) -> LoadResult<AttendanceOf, Vec<attendance::Model>> {
        let rows = reads::attendance_of(&self.store, self.tenant_id, keys.iter().map(|k| k.0).collect()).await?;
        Ok(grouped(keys, rows, |row| AttendanceOf(row.meeting_id)))
    }
}

impl Loader<FeedOf> for Loaders {
    type Value = calendar_feed::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[FeedOf]) -> LoadResult<FeedOf, calendar_feed::Model> {
        let ids = keys.iter().map(|k| k.0).collect();
        let rows = reads::calendar_feeds_of(&self.store, self.tenant_id, ids).await?;
        Ok(rows.into_iter().map(|r| (FeedOf(r.membership_id), r)).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Reads behind `Cohort`, `Membership` and `node`

async fn plan_of(ctx: &Context<'_>, cohort_id: i64) -> Result<Option<meeting_plan::Model>, ApiError> {
    loader(ctx)?.load_one(PlanOf(cohort_id)).await
}

/// `Cohort.cadence`.
pub async fn cadence(ctx: &Context<'_>, cohort: &Cohort) -> Result<Option<Cadence>, ApiError> {
    Ok(plan_of(ctx, cohort.model.id).await?.and_then(|p| p.cadence()).map(Into::into))
}

/// `Cohort.place`.
pub async fn place(ctx: &Context<'_>, cohort: &Cohort) -> Result<Option<MeetingPlace>, ApiError> {
    Ok(plan_of(ctx, cohort.model.id).await?.and_then(|p| p.place()).map(Into::into))
}

/// `Cohort.channel`.
pub async fn channel(ctx: &Context<'_>, cohort: &Cohort) -> Result<Option<CommunicationChannel>, ApiError> {
    Ok(plan_of(ctx, cohort.model.id).await?.and_then(|p| p.channel()).map(Into::into))
}

fn bad_input(err: afterclass_domain::DomainError) -> ApiError {
    ApiError::BadUserInput(err.message)
}

/// `Cohort.meetings(from, to)`: what overlaps the window, at most 200; a window holding more is
/// refused without computing them.
pub async fn meetings(
    ctx: &Context<'_>,
    cohort: &Cohort,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Meeting>, ApiError> {
    meetings_in(ctx, cohort, Window::new(from, to).map_err(bad_input)?).await
}

async fn meetings_in(ctx: &Context<'_>, cohort: &Cohort, window: Window) -> Result<Vec<Meeting>, ApiError> {
    let plan = plan_of(ctx, cohort.model.id).await?;
    let computed = match plan.as_ref().and_then(meeting_plan::Model::cadence) {
        Some(c) => dm::occurrences(&c, window, dm::MAX_OCCURRENCES).map_err(bad_input)?,
        None => Vec::new(),
    };
    let key = RowsStarting {
        cohort_id: cohort.model.id,
        from: to_micros(window.from).saturating_sub(LONGEST_MEETING_MICROS),
        to: to_micros(window.to),
    };
    let rows = loader(ctx)?.load_one(key).await?.unwrap_or_default();
    if rows.too_many {
        return Err(bad_input(dm::too_many(dm::MAX_OCCURRENCES)));
    }
    let slots = sm::merge(cohort.model.id, &computed, rows.rows, window);
    if slots.len() > dm::MAX_OCCURRENCES {
        return Err(bad_input(dm::too_many(dm::MAX_OCCURRENCES)));
    }
    let plan_place = plan.as_ref().and_then(meeting_plan::Model::place);
    Ok(slots.into_iter().map(|slot| Meeting { slot, plan_place: plan_place.clone(), access: cohort.access }).collect())
}

/// How far ahead `nextMeeting` looks, in growing steps so that a weekly rhythm costs one window.
const NEXT_STEPS_DAYS: [i64; 4] = [8, 35, 120, 400];

/// `Cohort.nextMeeting(after)`: the first meeting not cancelled that has not ended by `after`
/// (one in progress counts), looking about a year ahead.
pub async fn next_meeting(
    ctx: &Context<'_>,
    cohort: &Cohort,
    after: Option<DateTime<Utc>>,
) -> Result<Option<Meeting>, ApiError> {
    let after = match after {
        Some(t) => t,
        None => data::<RequestTime>(ctx)?.0,
    };
    for days in NEXT_STEPS_DAYS {
        let Some(to) = after.checked_add_signed(Duration::days(days)) else { break };
        let found = meetings_in(ctx, cohort, Window::new(after, to).map_err(bad_input)?).await?;
        if let Some(m) = found.into_iter().find(|m| m.slot.status() != dm::MeetingStatus::Cancelled) {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

/// `node(id)` of a meeting: NOT_FOUND unless its cohort is visible and has a meeting then.
pub async fn load(ctx: &Context<'_>, cohort_id: i64, starts_at: i64) -> Result<Meeting, ApiError> {
    let cohort = super::query::visible_cohort(ctx, cohort_id).await?;
    let plan = plan_of(ctx, cohort_id).await?;
    let store = data::<Store>(ctx)?;
    let slot = reads::slot_at(store, &cohort.model, plan.as_ref(), starts_at)
        .await?
        .ok_or_else(|| ApiError::not_found("meeting"))?;
    let plan_place = plan.as_ref().and_then(meeting_plan::Model::place);
    Ok(Meeting { slot, plan_place, access: cohort.access })
}

/// `Membership.calendarFeedUrl`: the member's own feed URL; null for anyone else.
pub async fn calendar_feed_url(ctx: &Context<'_>, member: &membership::Model) -> Result<Option<String>, ApiError> {
    let viewer = data::<Viewer>(ctx)?;
    if viewer.person_id() != Some(member.person_id) {
        return Ok(None);
    }
    let feed = loader(ctx)?.load_one(FeedOf(member.id)).await?;
    let feeds = data::<Arc<Feeds>>(ctx)?;
    crate::app::calendar::url_for(feeds, viewer.person_id(), member, feed.as_ref().map(|f| f.nonce.as_str()))
}

// ---------------------------------------------------------------------------------------------
// Mutations

fn app<'a>(ctx: &Context<'a>) -> Result<App<'a>, ApiError> {
    Ok(App { store: data::<Store>(ctx)?, viewer: data::<Viewer>(ctx)?, now: data::<super::RequestTime>(ctx)?.0 })
}

/// A broken rule in a nested input names its path, e.g. ["input", "cadence", "weekday"].
pub fn nested_paths(mut errors: Vec<UserError>) -> Vec<UserError> {
    for e in &mut errors {
        if let Some(path) = &mut e.field {
            *path = path.iter().flat_map(|p| p.split('.')).map(str::to_owned).collect();
        }
    }
    errors
}

fn change<T, U>(value: MaybeUndefined<T>, wrap: impl FnOnce(T) -> U) -> Change<U> {
    match value {
        MaybeUndefined::Undefined => Change::Keep,
        MaybeUndefined::Null => Change::Clear,
        MaybeUndefined::Value(v) => Change::Set(wrap(v)),
    }
}

async fn meeting_payload(ctx: &Context<'_>, result: Result<MeetingDone, Failure>) -> Result<MeetingPayload> {
    let (done, user_errors) = payload(result, |d| d)?;
    let meeting = match done {
        Some(done) => {
            let access = Cohort::known(ctx, done.cohort).await?.access;
            let plan_place = done.plan.as_ref().and_then(meeting_plan::Model::place);
            Some(Meeting { slot: done.slot, plan_place, access })
        }
        None => None,
    };
    Ok(MeetingPayload { meeting, user_errors: nested_paths(user_errors) })
}

/// The cohort and the change `setMeetingPlan` asks for.
pub fn plan_change(input: SetMeetingPlanInput) -> Result<(i64, PlanChange), ApiError> {
    let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
    let plan = PlanChange {
        cadence: change(input.cadence, |c| dm::CadenceDraft {
            frequency: c.frequency.into(),
            weekday: c.weekday,
            local_time: c.local_time,
            time_zone: c.time_zone,
            duration_minutes: c.duration_minutes,
            week_of_month: c.week_of_month,
        }),
        place: change(input.place, Into::into),
        channel: change(input.channel, |c| (c.kind.into(), c.address)),
    };
    Ok((id, plan))
}

pub async fn schedule_meeting(ctx: &Context<'_>, input: ScheduleMeetingInput) -> Result<MeetingPayload> {
    let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
    let result = app(ctx)?
        .schedule_meeting(
            id,
            input.starts_at,
            input.duration_minutes,
            input.place.map(Into::into),
            input.agenda.as_deref(),
        )
        .await;
    meeting_payload(ctx, result).await
}

pub async fn cancel_meeting(ctx: &Context<'_>, input: CancelMeetingInput) -> Result<MeetingPayload> {
    let (cohort_id, starts_at) = ids::decode_meeting(&input.meeting_id)?;
    let result = app(ctx)?.cancel_meeting(cohort_id, starts_at, input.reason.as_deref()).await;
    meeting_payload(ctx, result).await
}

pub async fn rsvp(ctx: &Context<'_>, input: RsvpInput) -> Result<RsvpPayload> {
    let (cohort_id, starts_at) = ids::decode_meeting(&input.meeting_id)?;
    let result = app(ctx)?.rsvp(cohort_id, starts_at, input.answer.into()).await;
    let (rsvp, user_errors) = payload(result, Rsvp)?;
    Ok(RsvpPayload { rsvp, user_errors })
}

pub async fn record_attendance(ctx: &Context<'_>, input: RecordAttendanceInput) -> Result<MeetingPayload> {
    let (cohort_id, starts_at) = ids::decode_meeting(&input.meeting_id)?;
    let entries = input
        .entries
        .into_iter()
        .map(|e| Ok((ids::decode(Kind::Membership, &e.membership_id)?, e.mark.into())))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let result = app(ctx)?.record_attendance(cohort_id, starts_at, entries).await;
    meeting_payload(ctx, result).await
}

pub async fn revoke_calendar_feed(ctx: &Context<'_>, input: RevokeCalendarFeedInput) -> Result<MembershipPayload> {
    let id = ids::decode(Kind::Membership, &input.membership_id)?;
    let (membership, user_errors) = payload(app(ctx)?.revoke_calendar_feed(id).await, Membership)?;
    Ok(MembershipPayload { membership, user_errors })
}
