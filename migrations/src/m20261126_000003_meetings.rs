//! Meeting regularly: each cohort's meeting plan (cadence, place, channel), the meetings that
//! became rows because something was attached to them (a one-off, a cancellation, an agenda, an
//! RSVP or attendance), RSVPs, attendance, and the per-membership state of private calendar feeds.
//!
//! Occurrences of a cadence are computed, never stored ahead: a `meetings` row exists only for a
//! one-off or an occurrence something was attached to, keyed by `(cohort_id, starts_at)`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builders::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cohorts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum MeetingPlans {
    Table,
    CohortId,
    TenantId,
    Frequency,
    Weekday,
    LocalTime,
    TimeZone,
    DurationMinutes,
    WeekOfMonth,
    StartsOn,
    PlaceFormat,
    PlaceLocation,
    PlaceOnlineUrl,
    ChannelKind,
    ChannelAddress,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Meetings {
    Table,
    Id,
    TenantId,
    CohortId,
    StartsAt,
    EndsAt,
    OneOff,
    Status,
    Agenda,
    PlaceFormat,
    PlaceLocation,
    PlaceOnlineUrl,
    CancelReason,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Rsvps {
    Table,
    Id,
    TenantId,
    MeetingId,
    MembershipId,
    Answer,
    AnsweredAt,
}

#[derive(DeriveIden)]
enum Attendance {
    Table,
    Id,
    TenantId,
    CohortId,
    MeetingId,
    MembershipId,
    // The meeting's start, kept beside each mark so that activity windows read one table.
    MeetingStartsAt,
    Mark,
    RecordedBy,
    RecordedAt,
}

#[derive(DeriveIden)]
enum CalendarFeeds {
    Table,
    Id,
    TenantId,
    MembershipId,
    Nonce,
    RotatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One plan per cohort; each part (cadence, place, channel) may be absent.
        m.create_table(
            Table::create()
                .table(MeetingPlans::Table)
                .if_not_exists()
                .col(big_integer(MeetingPlans::CohortId).primary_key())
                .col(big_integer(MeetingPlans::TenantId))
                .col(string_len_null(MeetingPlans::Frequency, 20))
                .col(small_integer_null(MeetingPlans::Weekday))
                .col(string_len_null(MeetingPlans::LocalTime, 5))
                .col(string_len_null(MeetingPlans::TimeZone, 64))
                .col(integer_null(MeetingPlans::DurationMinutes))
                .col(small_integer_null(MeetingPlans::WeekOfMonth))
                .col(string_len_null(MeetingPlans::StartsOn, 10))
                .col(string_len_null(MeetingPlans::PlaceFormat, 20))
                .col(text_null(MeetingPlans::PlaceLocation))
                .col(text_null(MeetingPlans::PlaceOnlineUrl))
                .col(string_len_null(MeetingPlans::ChannelKind, 20))
                .col(text_null(MeetingPlans::ChannelAddress))
                .col(big_integer_null(MeetingPlans::UpdatedBy))
                .col(big_integer(MeetingPlans::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_meeting_plans_cohort",
                    (MeetingPlans::Table, MeetingPlans::CohortId),
                    (Cohorts::Table, Cohorts::Id),
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Meetings::Table)
                .if_not_exists()
                .col(big_pk_auto(Meetings::Id))
                .col(big_integer(Meetings::TenantId))
                .col(big_integer(Meetings::CohortId))
                .col(big_integer(Meetings::StartsAt))
                .col(big_integer(Meetings::EndsAt))
                .col(boolean(Meetings::OneOff))
                .col(string_len(Meetings::Status, 20))
                .col(text_null(Meetings::Agenda))
                .col(string_len_null(Meetings::PlaceFormat, 20))
                .col(text_null(Meetings::PlaceLocation))
                .col(text_null(Meetings::PlaceOnlineUrl))
                .col(text_null(Meetings::CancelReason))
                .col(big_integer_null(Meetings::CreatedBy))
                .col(big_integer(Meetings::CreatedAt))
                .col(big_integer(Meetings::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_meetings_cohort",
                    (Meetings::Table, Meetings::CohortId),
                    (Cohorts::Table, Cohorts::Id),
                ))
                .to_owned(),
        )
        .await?;
        // The deterministic key of an occurrence, and the index windows are read by.
        m.create_index(index("meetings_cohort_start_key", Meetings::Table, &["cohort_id", "starts_at"], true)).await?;

        m.create_table(
            Table::create()
                .table(Rsvps::Table)
                .if_not_exists()
                .col(big_pk_auto(Rsvps::Id))
                .col(big_integer(Rsvps::TenantId))
                .col(big_integer(Rsvps::MeetingId))
                .col(big_integer(Rsvps::MembershipId))
                .col(string_len(Rsvps::Answer, 20))
                .col(big_integer(Rsvps::AnsweredAt))
                .foreign_key(&mut fk(
                    "fk_rsvps_meeting",
                    (Rsvps::Table, Rsvps::MeetingId),
                    (Meetings::Table, Meetings::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_rsvps_membership",
                    (Rsvps::Table, Rsvps::MembershipId),
                    (Memberships::Table, Memberships::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("rsvps_meeting_membership_key", Rsvps::Table, &["meeting_id", "membership_id"], true))
            .await?;

        m.create_table(
            Table::create()
                .table(Attendance::Table)
                .if_not_exists()
                .col(big_pk_auto(Attendance::Id))
                .col(big_integer(Attendance::TenantId))
                .col(big_integer(Attendance::CohortId))
                .col(big_integer(Attendance::MeetingId))
                .col(big_integer(Attendance::MembershipId))
                .col(big_integer(Attendance::MeetingStartsAt))
                .col(string_len(Attendance::Mark, 20))
                .col(big_integer_null(Attendance::RecordedBy))
                .col(big_integer(Attendance::RecordedAt))
                .foreign_key(&mut fk(
                    "fk_attendance_meeting",
                    (Attendance::Table, Attendance::MeetingId),
                    (Meetings::Table, Meetings::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_attendance_membership",
                    (Attendance::Table, Attendance::MembershipId),
                    (Memberships::Table, Memberships::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "attendance_meeting_membership_key",
            Attendance::Table,
            &["meeting_id", "membership_id"],
            true,
        ))
        .await?;
        // Participation and health read attendance by cohort and meeting time.
        m.create_index(index("attendance_cohort_time", Attendance::Table, &["cohort_id", "meeting_starts_at"], false))
            .await?;

        m.create_table(
            Table::create()
                .table(CalendarFeeds::Table)
                .if_not_exists()
                .col(big_pk_auto(CalendarFeeds::Id))
                .col(big_integer(CalendarFeeds::TenantId))
                .col(big_integer_uniq(CalendarFeeds::MembershipId))
                .col(string_len(CalendarFeeds::Nonce, 64))
                .col(big_integer(CalendarFeeds::RotatedAt))
                .foreign_key(&mut fk(
                    "fk_calendar_feeds_membership",
                    (CalendarFeeds::Table, CalendarFeeds::MembershipId),
                    (Memberships::Table, Memberships::Id),
                ))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents, so foreign keys never block a drop.
        m.drop_table(Table::drop().table(CalendarFeeds::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Attendance::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Rsvps::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Meetings::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(MeetingPlans::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
