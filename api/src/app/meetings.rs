//! The use cases of meeting regularly: the meeting plan, one-off meetings, cancelling, RSVPs,
//! attendance and revoking a calendar feed. They keep `app`'s order of checks (unknown or
//! invisible objects are NOT_FOUND, then the viewer's right to act is FORBIDDEN, then domain
//! rules become `userErrors`) and write nothing unless every check passed.
//!
//! A meeting is named by its cohort and start (see `ids::encode_meeting`). An occurrence of the
//! cadence becomes a row the first time something is attached to it: an RSVP, attendance or a
//! cancellation; a one-off is a row from the start. The cohort's row lock serialises all of it.

use afterclass_domain::access::{Action, Standing};
use afterclass_domain::meeting::{
    self as dm, AttendanceMark, Cadence, CadenceDraft, Channel, ChannelKind, MeetingStatus, Place, PlaceDraft,
    RsvpAnswer,
};
use afterclass_domain::{DomainError, ErrorCode};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
};

use super::access::standing;
use super::{App, Locked, Outcome};
use crate::error::ApiError;
use crate::ids;
use crate::store::entities::{cohort, membership};
use crate::store::events;
use crate::store::meetings::{Slot, attendance, meeting, meeting_at, meeting_plan, rsvp, slot_at};
use crate::store::{from_micros, queries, to_micros};
use afterclass_domain::event::EventKind;

/// What a field of `setMeetingPlan` asks for: left out keeps it, null clears it.
#[derive(Debug, Clone)]
pub enum Change<T> {
    Keep,
    Clear,
    Set(T),
}

/// A change to the meeting plan.
#[derive(Debug, Clone)]
pub struct PlanChange {
    pub cadence: Change<CadenceDraft>,
    pub place: Change<PlaceDraft>,
    pub channel: Change<(ChannelKind, String)>,
}

/// A meeting after a change, with what is needed to show it.
#[derive(Debug, Clone)]
pub struct MeetingDone {
    pub cohort: cohort::Model,
    pub plan: Option<meeting_plan::Model>,
    pub slot: Slot,
}

/// A meeting found for a change: a row, or an occurrence of the cadence not yet a row.
struct Found {
    locked: Locked,
    plan: Option<meeting_plan::Model>,
    slot: Slot,
}

/// Prefixes the field of a rule broken inside a nested input, e.g. `cadence.weekday`.
fn within(part: &str) -> impl Fn(DomainError) -> DomainError + '_ {
    move |e| {
        let field = e.field.clone().map_or_else(|| part.to_owned(), |f| format!("{part}.{f}"));
        e.on_field(&field)
    }
}

async fn plan_of(txn: &DatabaseTransaction, cohort: &cohort::Model) -> Outcome<Option<meeting_plan::Model>> {
    Ok(meeting_plan::Entity::find_by_id(cohort.id)
        .filter(meeting_plan::Column::TenantId.eq(cohort.tenant_id))
        .one(txn)
        .await?)
}

impl App<'_> {
    /// Finds a meeting of a cohort the viewer may know of, locking the cohort; NOT_FOUND for
    /// another tenant's, an invisible cohort's, or a time at which the cohort has no meeting.
    async fn find_meeting(&self, txn: &DatabaseTransaction, cohort_id: i64, starts_at: i64) -> Outcome<Found> {
        let locked = self.lock(txn, cohort_id).await?;
        let plan = plan_of(txn, &locked.cohort).await?;
        let slot = slot_at(txn, &locked.cohort, plan.as_ref(), starts_at)
            .await?
            .ok_or_else(|| ApiError::not_found("meeting"))?;
        Ok(Found { locked, plan, slot })
    }

    fn ensure_manages(&self, locked: &Locked) -> Outcome<()> {
        locked.access(self.viewer.role).ensure_may(Action::RunMeetings)
    }

    /// The meeting's row, made now if the meeting was an occurrence only, with `status`.
    async fn materialise(
        &self,
        txn: &DatabaseTransaction,
        found: &Found,
        status: MeetingStatus,
    ) -> Outcome<meeting::Model> {
        let now = self.now_micros();
        match &found.slot.row {
            Some(row) if row.status == status.as_str() => Ok(row.clone()),
            Some(row) => {
                let mut am = row.clone().into_active_model();
                am.status = Set(status.as_str().to_owned());
                am.updated_at = Set(now);
                Ok(am.update(txn).await?)
            }
            None => Ok(meeting::ActiveModel {
                tenant_id: Set(found.locked.cohort.tenant_id),
                cohort_id: Set(found.locked.cohort.id),
                starts_at: Set(found.slot.starts_at),
                ends_at: Set(found.slot.ends_at),
                one_off: Set(false),
                status: Set(status.as_str().to_owned()),
                created_by: Set(self.viewer.person_id()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(txn)
            .await?),
        }
    }

    /// Leaders and facilitators: set, change or clear the cadence, the place and the channel,
    /// in any stage before the cohort ends (so while it is still forming, too).
    pub async fn set_meeting_plan(&self, cohort_id: i64, change: PlanChange) -> Outcome<cohort::Model> {
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::RunMeetings).await?;
        dm::ensure_plannable(locked.stage())?;
        let existing = plan_of(&txn, &locked.cohort).await?;
        let previous = existing.as_ref().and_then(meeting_plan::Model::cadence);
        let cadence = match &change.cadence {
            Change::Keep => Change::Keep,
            Change::Clear => Change::Clear,
            Change::Set(draft) => {
                Change::Set(Cadence::parse(draft, self.now, previous.as_ref()).map_err(within("cadence"))?)
            }
        };
        let place = match &change.place {
            Change::Keep => Change::Keep,
            Change::Clear => Change::Clear,
            Change::Set(draft) => Change::Set(Place::parse(draft).map_err(within("place"))?),
        };
        let channel = match &change.channel {
            Change::Keep => Change::Keep,
            Change::Clear => Change::Clear,
            Change::Set((kind, address)) => Change::Set(Channel::parse(*kind, address).map_err(within("channel"))?),
        };

        let is_new = existing.is_none();
        let mut am = match existing {
            Some(row) => row.into_active_model(),
            None => meeting_plan::ActiveModel {
                cohort_id: Set(locked.cohort.id),
                tenant_id: Set(locked.cohort.tenant_id),
                frequency: Set(None),
                weekday: Set(None),
                local_time: Set(None),
                time_zone: Set(None),
                duration_minutes: Set(None),
                week_of_month: Set(None),
                starts_on: Set(None),
                place_format: Set(None),
                place_location: Set(None),
                place_online_url: Set(None),
                channel_kind: Set(None),
                channel_address: Set(None),
                updated_by: Set(None),
                updated_at: Set(0),
            },
        };
        match cadence {
            Change::Keep => {}
            Change::Clear => {
                am.frequency = Set(None);
                am.weekday = Set(None);
                am.local_time = Set(None);
                am.time_zone = Set(None);
                am.duration_minutes = Set(None);
                am.week_of_month = Set(None);
                am.starts_on = Set(None);
            }
            Change::Set(c) => {
                am.frequency = Set(Some(c.frequency.as_str().to_owned()));
                am.weekday = Set(Some(c.weekday_number() as i16));
                am.local_time = Set(Some(c.local_time_text()));
                am.time_zone = Set(Some(c.zone_name().to_owned()));
                am.duration_minutes = Set(Some(c.duration_minutes));
                am.week_of_month = Set(c.week_of_month.map(|w| w.number() as i16));
                am.starts_on = Set(Some(c.starts_on.format("%Y-%m-%d").to_string()));
            }
        }
        match place {
            Change::Keep => {}
            Change::Clear => {
                am.place_format = Set(None);
                am.place_location = Set(None);
                am.place_online_url = Set(None);
            }
            Change::Set(p) => {
                am.place_format = Set(Some(p.format.as_str().to_owned()));
                am.place_location = Set(p.location);
                am.place_online_url = Set(p.online_url);
            }
        }
        match channel {
            Change::Keep => {}
            Change::Clear => {
                am.channel_kind = Set(None);
                am.channel_address = Set(None);
            }
            Change::Set(c) => {
                am.channel_kind = Set(Some(c.kind.as_str().to_owned()));
                am.channel_address = Set(Some(c.address));
            }
        }
        am.updated_by = Set(self.viewer.person_id());
        am.updated_at = Set(self.now_micros());
        if is_new {
            am.insert(&txn).await?;
        } else {
            am.update(&txn).await?;
        }
        txn.commit().await?;
        Ok(locked.cohort)
    }

    /// Leaders and facilitators: a one-off meeting in the future, at a time the cohort has no
    /// other meeting starting.
    pub async fn schedule_meeting(
        &self,
        cohort_id: i64,
        starts_at: DateTime<Utc>,
        duration_minutes: i32,
        place: Option<PlaceDraft>,
        agenda: Option<&str>,
    ) -> Outcome<MeetingDone> {
        let starts_at = from_micros(to_micros(starts_at));
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::RunMeetings).await?;
        let (occurrence, agenda) = dm::one_off(locked.stage(), starts_at, duration_minutes, agenda, self.now)?;
        let place = place.as_ref().map(Place::parse).transpose().map_err(within("place"))?;
        let plan = plan_of(&txn, &locked.cohort).await?;
        let start = to_micros(occurrence.starts_at);
        let taken = meeting_at(&txn, locked.cohort.tenant_id, locked.cohort.id, start).await?.is_some()
            || plan.as_ref().and_then(meeting_plan::Model::cadence).and_then(|c| c.occurrence_at(starts_at)).is_some();
        if taken {
            return Err(DomainError::new(ErrorCode::AlreadyExists, "the cohort already has a meeting starting then")
                .on_field("startsAt")
                .into());
        }
        let now = self.now_micros();
        let row = meeting::ActiveModel {
            tenant_id: Set(locked.cohort.tenant_id),
            cohort_id: Set(locked.cohort.id),
            starts_at: Set(start),
            ends_at: Set(to_micros(occurrence.ends_at)),
            one_off: Set(true),
            status: Set(MeetingStatus::Scheduled.as_str().to_owned()),
            agenda: Set(agenda),
            place_format: Set(place.as_ref().map(|p| p.format.as_str().to_owned())),
            place_location: Set(place.as_ref().and_then(|p| p.location.clone())),
            place_online_url: Set(place.as_ref().and_then(|p| p.online_url.clone())),
            cancel_reason: Set(None),
            created_by: Set(self.viewer.person_id()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        self.meeting_event(&txn, &locked.cohort, EventKind::MeetingScheduled, &row, []).await?;
        txn.commit().await?;
        Ok(MeetingDone { cohort: locked.cohort, plan, slot: Slot::from_row(row) })
    }

    /// Leaders and facilitators: cancel a meeting that has not ended and was not held. It stays
    /// listed, as CANCELLED, with its RSVPs; cancelling it again changes nothing.
    pub async fn cancel_meeting(&self, cohort_id: i64, starts_at: i64, reason: Option<&str>) -> Outcome<MeetingDone> {
        let txn = self.begin().await?;
        let found = self.find_meeting(&txn, cohort_id, starts_at).await?;
        self.ensure_manages(&found.locked)?;
        let reason = dm::cancel(found.locked.stage(), &found.slot.facts(), reason, self.now)?;
        if found.slot.status() == MeetingStatus::Cancelled {
            return Ok(MeetingDone { cohort: found.locked.cohort, plan: found.plan, slot: found.slot });
        }
        let row = self.materialise(&txn, &found, MeetingStatus::Cancelled).await?;
        let mut am = row.into_active_model();
        am.cancel_reason = Set(reason);
        let row = am.update(&txn).await?;
        self.meeting_event(&txn, &found.locked.cohort, EventKind::MeetingCancelled, &row, []).await?;
        txn.commit().await?;
        Ok(MeetingDone { cohort: found.locked.cohort, plan: found.plan, slot: Slot::from_row(row) })
    }

    /// An active member answers for themselves; answering again replaces the answer.
    pub async fn rsvp(&self, cohort_id: i64, starts_at: i64, answer: RsvpAnswer) -> Outcome<rsvp::Model> {
        let txn = self.begin().await?;
        let found = self.find_meeting(&txn, cohort_id, starts_at).await?;
        found.locked.access(self.viewer.role).ensure_may(Action::Participate)?;
        dm::ensure_may_rsvp(found.locked.stage(), found.locked.standing(), &found.slot.facts(), self.now)?;
        let Some(mine) = found.locked.mine.clone() else {
            return Err(ApiError::Internal("answered without a membership".into()).into());
        };
        let status = found.slot.status();
        let row = self.materialise(&txn, &found, status).await?;
        let existing = rsvp::Entity::find()
            .filter(rsvp::Column::MeetingId.eq(row.id))
            .filter(rsvp::Column::MembershipId.eq(mine.id))
            .one(&txn)
            .await?;
        let answered = match existing {
            Some(previous) => {
                let mut am = previous.into_active_model();
                am.answer = Set(answer.as_str().to_owned());
                am.answered_at = Set(self.now_micros());
                am.update(&txn).await?
            }
            None => {
                rsvp::ActiveModel {
                    tenant_id: Set(row.tenant_id),
                    meeting_id: Set(row.id),
                    membership_id: Set(mine.id),
                    answer: Set(answer.as_str().to_owned()),
                    answered_at: Set(self.now_micros()),
                    ..Default::default()
                }
                .insert(&txn)
                .await?
            }
        };
        txn.commit().await?;
        Ok(answered)
    }

    /// Leaders and facilitators mark attendance from the meeting's start; marking a member again
    /// corrects their mark. The meeting becomes HELD.
    pub async fn record_attendance(
        &self,
        cohort_id: i64,
        starts_at: i64,
        entries: Vec<(i64, AttendanceMark)>,
    ) -> Outcome<MeetingDone> {
        let txn = self.begin().await?;
        let found = self.find_meeting(&txn, cohort_id, starts_at).await?;
        self.ensure_manages(&found.locked)?;
        dm::ensure_may_record_attendance(found.locked.stage(), &found.slot.facts(), self.now)?;
        let ids: Vec<i64> = entries.iter().map(|(id, _)| *id).collect();
        dm::ensure_entries(&ids)?;
        let members = membership::Entity::find()
            .filter(membership::Column::CohortId.eq(found.locked.cohort.id))
            .filter(membership::Column::Id.is_in(ids.iter().copied()))
            .all(&txn)
            .await?;
        for id in &ids {
            let status = members.iter().find(|m| m.id == *id).map(|m| standing(Some(m))).unwrap_or(Standing::NONE);
            dm::ensure_markable(status.status)?;
        }

        let row = self.materialise(&txn, &found, MeetingStatus::Held).await?;
        let marked = attendance::Entity::find().filter(attendance::Column::MeetingId.eq(row.id)).all(&txn).await?;
        let now = self.now_micros();
        let count = entries.len();
        for (membership_id, mark) in entries {
            match marked.iter().find(|a| a.membership_id == membership_id) {
                Some(a) if a.mark == mark.as_str() => {}
                Some(a) => {
                    let mut am = a.clone().into_active_model();
                    am.mark = Set(mark.as_str().to_owned());
                    am.recorded_by = Set(self.viewer.person_id());
                    am.recorded_at = Set(now);
                    am.update(&txn).await?;
                }
                None => {
                    attendance::ActiveModel {
                        tenant_id: Set(row.tenant_id),
                        cohort_id: Set(row.cohort_id),
                        meeting_id: Set(row.id),
                        membership_id: Set(membership_id),
                        meeting_starts_at: Set(row.starts_at),
                        mark: Set(mark.as_str().to_owned()),
                        recorded_by: Set(self.viewer.person_id()),
                        recorded_at: Set(now),
                        ..Default::default()
                    }
                    .insert(&txn)
                    .await?;
                }
            }
        }
        let marked = [("members", count.into())];
        self.meeting_event(&txn, &found.locked.cohort, EventKind::AttendanceRecorded, &row, marked).await?;
        txn.commit().await?;
        Ok(MeetingDone { cohort: found.locked.cohort, plan: found.plan, slot: Slot::from_row(row) })
    }

    /// Records an event about a meeting: its ID and start, and `more`.
    async fn meeting_event<const N: usize>(
        &self,
        txn: &DatabaseTransaction,
        cohort: &cohort::Model,
        kind: EventKind,
        row: &meeting::Model,
        more: [(&str, serde_json::Value); N],
    ) -> Outcome<()> {
        let mut data = events::data([
            ("meetingId", ids::encode_meeting(row.cohort_id, row.starts_at).into()),
            ("startsAt", from_micros(row.starts_at).to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into()),
        ]);
        data.extend(events::data(more));
        self.record_event(txn, cohort, kind, None, data).await
    }

    /// A member revokes their calendar feed's URL: the old one stops working at once and
    /// `calendarFeedUrl` gives a new one. Allowed in any stage, since it protects the member
    /// rather than changing the cohort.
    pub async fn revoke_calendar_feed(&self, membership_id: i64) -> Outcome<membership::Model> {
        let txn = self.begin().await?;
        let target = queries::find_membership(&txn, self.viewer.tenant_id, membership_id)
            .await?
            .ok_or_else(|| ApiError::not_found("membership"))?;
        let locked = self.lock(&txn, target.cohort_id).await?;
        if self.viewer.person_id() != Some(target.person_id) {
            return Err(ApiError::forbidden("only the member themself revokes their calendar feed").into());
        }
        locked.access(self.viewer.role).ensure_may(Action::RevokeOwnFeed)?;
        let nonce = crate::links::new_nonce()?;
        crate::store::meetings::rotate_feed(&txn, &target, nonce, self.now_micros()).await?;
        txn.commit().await?;
        Ok(target)
    }
}
