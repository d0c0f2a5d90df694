//! The meetings part of the store: entities for meeting plans, meetings (one-offs, and the
//! occurrences something was attached to), RSVPs, attendance and calendar-feed state; reading a
//! plan back into the domain's terms; and the attendance aggregates that participation, health
//! and the `ATTENDANCE_BELOW` criterion use. Every query here filters by tenant or by cohorts
//! already filtered by tenant.

use std::collections::HashMap;

use afterclass_domain::lifecycle::ATTENDANCE_MEETINGS;
use afterclass_domain::meeting::{
    self as dm, Cadence, Channel, ChannelKind, Frequency, MeetingFormat, Place, WeekOfMonth,
};
use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::tallies::Binds;

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod meeting_plan {
    use sea_orm::entity::prelude::*;

    /// A cohort's cadence, place and channel; each part may be absent.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "meeting_plans")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub cohort_id: i64,
        pub tenant_id: i64,
        pub frequency: Option<String>,
        pub weekday: Option<i16>,
        /// `HH:MM`.
        pub local_time: Option<String>,
        pub time_zone: Option<String>,
        pub duration_minutes: Option<i32>,
        pub week_of_month: Option<i16>,
        /// The local date the cadence runs from (ISO).
        pub starts_on: Option<String>,
        pub place_format: Option<String>,
        pub place_location: Option<String>,
        pub place_online_url: Option<String>,
        pub channel_kind: Option<String>,
        pub channel_address: Option<String>,
        pub updated_by: Option<i64>,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod meeting {
    use sea_orm::entity::prelude::*;

    /// A one-off meeting, or an occurrence of the cadence that something was attached to.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "meetings")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub starts_at: i64,
        pub ends_at: i64,
        pub one_off: bool,
        pub status: String,
        pub agenda: Option<String>,
        /// A place of its own; otherwise the plan's.
        pub place_format: Option<String>,
        pub place_location: Option<String>,
        pub place_online_url: Option<String>,
        pub cancel_reason: Option<String>,
        pub created_by: Option<i64>,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod rsvp {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "rsvps")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub meeting_id: i64,
        pub membership_id: i64,
        pub answer: String,
        pub answered_at: i64,
    }
    no_relations!();
}

pub mod attendance {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "attendance")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub meeting_id: i64,
        pub membership_id: i64,
        pub meeting_starts_at: i64,
        pub mark: String,
        pub recorded_by: Option<i64>,
        pub recorded_at: i64,
    }
    no_relations!();
}

pub mod calendar_feed {
    use sea_orm::entity::prelude::*;

    /// The random nonce a membership's feed URL is signed over; revoking replaces it.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "calendar_feeds")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub membership_id: i64,
        pub nonce: String,
        pub rotated_at: i64,
    }
    no_relations!();
}

/// How far before a window meetings that may still be running at its start begin.
pub const LONGEST_MEETING_MICROS: i64 = dm::MAX_DURATION_MINUTES as i64 * 60_000_000;

impl meeting_plan::Model {
    /// The cadence, if one is set.
    pub fn cadence(&self) -> Option<Cadence> {
        let week_of_month = match self.week_of_month {
            Some(n) => Some(WeekOfMonth::parse(i32::from(n)).ok()?),
            None => None,
        };
        Some(Cadence {
            frequency: Frequency::parse(self.frequency.as_deref()?)?,
            weekday: dm::weekday(i32::from(self.weekday?)).ok()?,
            local_time: dm::local_time(self.local_time.as_deref()?).ok()?,
            zone: dm::time_zone(self.time_zone.as_deref()?).ok()?,
            duration_minutes: self.duration_minutes?,
            week_of_month,
            starts_on: NaiveDate::parse_from_str(self.starts_on.as_deref()?, "%Y-%m-%d").ok()?,
        })
    }

    pub fn place(&self) -> Option<Place> {
        place_of(self.place_format.as_deref(), &self.place_location, &self.place_online_url)
    }

    pub fn channel(&self) -> Option<Channel> {
        Some(Channel {
            kind: ChannelKind::parse(self.channel_kind.as_deref()?)?,
            address: self.channel_address.clone()?,
        })
    }
}

impl meeting::Model {
    /// The meeting's own place, if it has one.
    pub fn own_place(&self) -> Option<Place> {
        place_of(self.place_format.as_deref(), &self.place_location, &self.place_online_url)
    }
}

fn place_of(format: Option<&str>, location: &Option<String>, online_url: &Option<String>) -> Option<Place> {
    Some(Place { format: MeetingFormat::parse(format?)?, location: location.clone(), online_url: online_url.clone() })
}

/// The plans of some cohorts.
pub async fn plans(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    cohort_ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<meeting_plan::Model>, DbErr> {
    meeting_plan::Entity::find()
        .filter(meeting_plan::Column::TenantId.eq(tenant_id))
        .filter(meeting_plan::Column::CohortId.is_in(cohort_ids))
        .all(conn)
        .await
}

/// A cohort's meeting row starting at `starts_at`, if there is one.
pub async fn meeting_at(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    cohort_id: i64,
    starts_at: i64,
) -> Result<Option<meeting::Model>, DbErr> {
    meeting::Entity::find()
        .filter(meeting::Column::TenantId.eq(tenant_id))
        .filter(meeting::Column::CohortId.eq(cohort_id))
        .filter(meeting::Column::StartsAt.eq(starts_at))
        .one(conn)
        .await
}

/// The meeting a cohort has at `starts_at`: its row if something is attached to it, otherwise the
/// occurrence its cadence computes then; `None` when the cohort does not meet at that moment.
pub async fn slot_at(
    conn: &impl ConnectionTrait,
    cohort: &super::entities::cohort::Model,
    plan: Option<&meeting_plan::Model>,
    starts_at: i64,
) -> Result<Option<Slot>, DbErr> {
    if let Some(row) = meeting_at(conn, cohort.tenant_id, cohort.id, starts_at).await? {
        return Ok(Some(Slot::from_row(row)));
    }
    let occurrence =
        plan.and_then(meeting_plan::Model::cadence).and_then(|c| c.occurrence_at(super::from_micros(starts_at)));
    Ok(occurrence.map(|o| Slot::from_occurrence(cohort.id, &o)))
}

/// How many meeting rows of each cohort start in `[from, to)`.
pub async fn count_starting_between(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    cohort_ids: &[i64],
    from: i64,
    to: i64,
) -> Result<HashMap<i64, u64>, DbErr> {
    let counts: Vec<(i64, i64)> = meeting::Entity::find()
        .select_only()
        .column(meeting::Column::CohortId)
        .column_as(Expr::col(meeting::Column::Id).count(), "n")
        .filter(meeting::Column::TenantId.eq(tenant_id))
        .filter(meeting::Column::CohortId.is_in(cohort_ids.iter().copied()))
        .filter(meeting::Column::StartsAt.gte(from))
        .filter(meeting::Column::StartsAt.lt(to))
        .group_by(meeting::Column::CohortId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(counts.into_iter().map(|(id, n)| (id, u64::try_from(n).unwrap_or(0))).collect())
}

/// The meeting rows of some cohorts that start in `[from, to)`, in time order.
pub async fn starting_between(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    cohort_ids: &[i64],
    from: i64,
    to: i64,
) -> Result<Vec<meeting::Model>, DbErr> {
    meeting::Entity::find()
        .filter(meeting::Column::TenantId.eq(tenant_id))
        .filter(meeting::Column::CohortId.is_in(cohort_ids.iter().copied()))
        .filter(meeting::Column::StartsAt.gte(from))
        .filter(meeting::Column::StartsAt.lt(to))
        .order_by_asc(meeting::Column::StartsAt)
        .all(conn)
        .await
}

/// Each membership's meetings attended (marked PRESENT) that started in `(from, to]`, as rows
/// `(membership_id, n)` of the cohorts `cohorts` (an SQL condition on a cohort id, such as `IN
/// (…)`, which may go on with more conditions on the attendance `a`), `from` and `to` SQL
/// expressions; a membership without any has no row.
pub(super) fn attended_in_window_sql(b: &mut Binds, cohorts: &str, from: &str, to: &str) -> String {
    let present = b.bind(dm::AttendanceMark::Present.as_str());
    format!(
        "SELECT a.membership_id, COUNT(*) AS n FROM attendance a \
         WHERE a.cohort_id {cohorts} AND a.mark = {present} AND a.meeting_starts_at > {from} \
           AND a.meeting_starts_at <= {to} \
         GROUP BY a.membership_id"
    )
}

/// Rows `(cohort_id, marked, present)`: each cohort's marked members and of them those PRESENT
/// across its last [`ATTENDANCE_MEETINGS`] meetings with attendance that started by `at` (an
/// SQL expression), for the cohorts `cohorts` (an SQL condition on a cohort id, such as `IN
/// (…)`); a cohort without any attendance recorded by then has no row. The meetings of each
/// cohort are ranked by start with a window function, and only the last few of each are added
/// up. The rate is `afterclass_domain::meeting::attendance_rate` of the two.
pub(super) fn attendance_sums_sql(b: &mut Binds, cohorts: &str, at: &str) -> String {
    let (present, last) = (b.bind(dm::AttendanceMark::Present.as_str()), b.bind(i64::from(ATTENDANCE_MEETINGS)));
    format!(
        "SELECT cohort_id, CAST(SUM(marked) AS BIGINT) AS marked, CAST(SUM(present) AS BIGINT) AS present FROM ( \
             SELECT a.cohort_id, COUNT(*) AS marked, SUM(CASE WHEN a.mark = {present} THEN 1 ELSE 0 END) AS present, \
                    ROW_NUMBER() OVER (PARTITION BY a.cohort_id ORDER BY MAX(a.meeting_starts_at) DESC) AS recency \
             FROM attendance a WHERE a.cohort_id {cohorts} AND a.meeting_starts_at <= {at} \
             GROUP BY a.cohort_id, a.meeting_id) per_meeting \
         WHERE recency <= {last} GROUP BY cohort_id"
    )
}

/// A scalar subquery giving the start of the latest meeting at or before `at` at which someone
/// of the cohort `cohort` was present (SQL expressions); NULL without one.
pub(super) fn last_attended(b: &mut Binds, cohort: &str, at: &str) -> String {
    let present = b.bind(dm::AttendanceMark::Present.as_str());
    format!(
        "(SELECT MAX(a.meeting_starts_at) FROM attendance a \
          WHERE a.cohort_id = {cohort} AND a.mark = {present} AND a.meeting_starts_at <= {at})"
    )
}

/// One meeting as the API shows it: an occurrence of the cadence, or a row (a one-off, or an
/// occurrence something was attached to), which wins over the occurrence it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub cohort_id: i64,
    /// Microseconds, like every stored time.
    pub starts_at: i64,
    pub ends_at: i64,
    pub row: Option<meeting::Model>,
}

impl Slot {
    pub fn from_row(row: meeting::Model) -> Slot {
        Slot { cohort_id: row.cohort_id, starts_at: row.starts_at, ends_at: row.ends_at, row: Some(row) }
    }

    pub fn from_occurrence(cohort_id: i64, o: &dm::Occurrence) -> Slot {
        Slot { cohort_id, starts_at: super::to_micros(o.starts_at), ends_at: super::to_micros(o.ends_at), row: None }
    }

    pub fn status(&self) -> dm::MeetingStatus {
        self.row.as_ref().and_then(|r| dm::MeetingStatus::parse(&r.status)).unwrap_or(dm::MeetingStatus::Scheduled)
    }

    pub fn facts(&self) -> dm::MeetingFacts {
        dm::MeetingFacts {
            status: self.status(),
            starts_at: super::from_micros(self.starts_at),
            ends_at: super::from_micros(self.ends_at),
        }
    }
}

/// The meetings of one cohort that overlap the window: the cadence's occurrences, with the rows
/// put in place of the occurrences they stand for, in time order. `rows` are those that start
/// in the window or up to a day before it (the longest a meeting may run into it).
pub fn merge(cohort_id: i64, computed: &[dm::Occurrence], rows: Vec<meeting::Model>, window: dm::Window) -> Vec<Slot> {
    let mut by_start: std::collections::BTreeMap<i64, Slot> =
        computed.iter().map(|o| (super::to_micros(o.starts_at), Slot::from_occurrence(cohort_id, o))).collect();
    for row in rows.into_iter().filter(|r| r.cohort_id == cohort_id) {
        by_start.insert(row.starts_at, Slot::from_row(row));
    }
    let (from, to) = (super::to_micros(window.from), super::to_micros(window.to));
    by_start.into_values().filter(|s| s.starts_at < to && s.ends_at > from).collect()
}

/// Gives a membership's calendar feed a new nonce: every URL it had stops working.
pub async fn rotate_feed(
    conn: &impl ConnectionTrait,
    member: &crate::store::entities::membership::Model,
    nonce: String,
    now: i64,
) -> Result<(), DbErr> {
    let existing =
        calendar_feed::Entity::find().filter(calendar_feed::Column::MembershipId.eq(member.id)).one(conn).await?;
    match existing {
        Some(feed) => {
            let mut am = feed.into_active_model();
            am.nonce = Set(nonce);
            am.rotated_at = Set(now);
            am.update(conn).await?;
        }
        None => {
            calendar_feed::ActiveModel {
                tenant_id: Set(member.tenant_id),
                membership_id: Set(member.id),
                nonce: Set(nonce),
                rotated_at: Set(now),
                ..Default::default()
            }
            .insert(conn)
            .await?;
        }
    }
    Ok(())
}
