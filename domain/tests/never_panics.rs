//! The domain is total: whatever IDs, times and values arrive, its functions answer (a value or
//! a `DomainError`) and never panic. Times range over everything `DateTime<Utc>` can hold, values
//! over every `f64` bit pattern.

use afterclass_domain::access::Standing;
use afterclass_domain::checkin::{self, CheckInContext, CheckInDraft};
use afterclass_domain::cohort::{MemberRole, MembershipStatus};
use afterclass_domain::goal::{self, Aggregation, GoalSpec, Observations};
use afterclass_domain::lifecycle::{self, Criterion, CriterionKind, Effect, Snapshot};
use afterclass_domain::meeting::{self, Cadence, CadenceDraft, Frequency, MeetingFacts, MeetingStatus, Window};
use afterclass_domain::nudge::{self, Policy, PolicyChange};
use afterclass_domain::stage::Stage;
use afterclass_domain::text;
use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;

/// Any instant chrono can represent, weighted towards the ends of time.
fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
    let min = DateTime::<Utc>::MIN_UTC.timestamp_micros();
    let max = DateTime::<Utc>::MAX_UTC.timestamp_micros();
    prop_oneof![
        min..=max,
        min..min + 400 * 86_400_000_000,
        max - 400 * 86_400_000_000..=max,
        0i64..4_102_444_800_000_000,
    ]
    .prop_map(|micros| DateTime::from_timestamp_micros(micros).unwrap_or_default())
}

/// Any microsecond count, as a meeting's ID carries it: most are beyond the range of time.
fn any_micros() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -1i64..=1]
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    any_time().prop_map(|t| t.date_naive())
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(1.7e308),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        -2e12f64..2e12,
    ]
}

fn any_cadence() -> impl Strategy<Value = Cadence> {
    (0usize..3, 1i32..=7, 0u32..24, 0u32..60, 0usize..6, 1i32..=1440, prop_oneof![Just(-1), 1i32..=4], any_time())
        .prop_filter_map("valid cadence", |(f, weekday, h, m, zone, minutes, week, set_at)| {
            let frequency = Frequency::ALL[f];
            let zones =
                ["UTC", "Europe/Berlin", "America/New_York", "Pacific/Apia", "Asia/Kathmandu", "Pacific/Kiritimati"];
            let draft = CadenceDraft {
                frequency,
                weekday,
                local_time: format!("{h:02}:{m:02}"),
                time_zone: zones[zone].into(),
                duration_minutes: minutes,
                week_of_month: (frequency == Frequency::Monthly).then_some(week),
            };
            Cadence::parse(&draft, set_at, None).ok()
        })
}

fn any_standing() -> impl Strategy<Value = Standing> {
    (proptest::option::of(0usize..4), proptest::option::of(0usize..5)).prop_map(|(r, s)| Standing {
        role: r.map(|r| MemberRole::ALL[r % MemberRole::ALL.len()]),
        status: s.map(|s| MembershipStatus::ALL[s % MembershipStatus::ALL.len()]),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn meeting_occurrences_never_panic(c in any_cadence(), from in any_time(), to in any_time(), at in any_micros()) {
        if let Ok(window) = Window::new(from, to) {
            let _ = meeting::occurrences(&c, window, meeting::MAX_OCCURRENCES);
        }
        let _ = c.occurrences_from(from).take(3).count();
        let _ = c.occurrence_at(from);
        let _ = c.next_date(from.date_naive());
        if let Some(t) = DateTime::from_timestamp_micros(at) {
            let _ = c.occurrence_at(t);
        }
        let _ = c.occurrence_at(DateTime::<Utc>::MIN_UTC);
        let _ = c.occurrence_at(DateTime::<Utc>::MAX_UTC);
        let _ = meeting::resolve_local(c.zone, from.naive_utc());
    }

    #[test]
    fn meeting_rules_never_panic(
        starts in any_time(), ends in any_time(), now in any_time(), minutes in any::<i32>(),
        who in any_standing(), stage in 0usize..5, status in 0usize..3,
    ) {
        let stage = Stage::ALL[stage];
        let facts = MeetingFacts { status: MeetingStatus::ALL[status], starts_at: starts, ends_at: ends };
        let _ = meeting::one_off(stage, starts, minutes, Some("agenda"), now);
        let _ = meeting::cancel(stage, &facts, Some("reason\u{0}"), now);
        let _ = meeting::ensure_may_rsvp(stage, who, &facts, now);
        let _ = meeting::ensure_may_record_attendance(stage, &facts, now);
    }

    #[test]
    fn check_in_validation_never_panics(
        value in proptest::option::of(any_value()), confidence in proptest::option::of(any::<i32>()),
        occurred in proptest::option::of(any_time()), created in any_time(), now in any_time(),
        note in proptest::option::of("\\PC{0,20}|\u{0}"), key in proptest::option::of(".{0,8}"),
        author in any_standing(),
    ) {
        let ctx = CheckInContext {
            stage: Stage::Active,
            cohort_created_at: created,
            current_conduct_version: Some(1),
            author,
            author_accepted_version: Some(1),
        };
        let _ = checkin::ensure_may_check_in(&ctx);
        let draft = CheckInDraft { value, note, confidence, blockers: None, occurred_at: occurred, idempotency_key: key };
        if let Ok(valid) = checkin::validate(draft, &ctx, now) {
            prop_assert!(valid.value.is_none_or(|v| v.is_finite() && v.abs() <= goal::MAX_MAGNITUDE));
            prop_assert!(valid.note.as_deref().is_none_or(|n| !n.contains(char::from(0))));
        }
    }

    #[test]
    fn progress_never_panics_and_stays_finite(
        target in any_value(), start in proptest::option::of(any_value()), agg in 0usize..3,
        deadline in proptest::option::of(any_date()),
        total in any_value(), values in proptest::collection::vec(any_value(), 0..8), members in any::<u32>(),
        activated in proptest::option::of(any_time()), as_of in any_time(),
    ) {
        let aggregation = Aggregation::ALL[agg];
        let _ = GoalSpec::parse("t", "u", target, start, aggregation, deadline);
        // Stored goals are rebuilt without checks: feed them anything too.
        let g = GoalSpec::from_stored(target, start, aggregation, deadline);
        let p = goal::progress(&g, &Observations { total, latest_values: values, active_members: members }, activated, as_of);
        prop_assert!(p.current.is_finite() && p.target.is_finite());
        prop_assert!((0.0..=1.0).contains(&p.fraction));
        prop_assert!(p.expected_fraction.is_none_or(|e| (0.0..=1.0).contains(&e)));
    }

    #[test]
    fn lifecycle_evaluation_never_panics(
        times in (any_time(), any_time(), proptest::option::of(any_time()), proptest::option::of(any_time())),
        counts in proptest::collection::vec(any::<u32>(), 9),
        leader_active in any::<bool>(),
        deadline in proptest::option::of(any_date()),
        attendance in proptest::option::of(any_value()),
        raw in proptest::collection::vec((0usize..8, any::<bool>(), proptest::option::of(any_value())), 0..10),
        activity in (any::<u32>(), any::<u32>(), any::<u32>()),
    ) {
        let (as_of, created_at, activated_at, last_activity_at) = times;
        let s = Snapshot {
            as_of,
            created_at,
            activated_at,
            active_members: counts[0],
            members_active_in_window: counts[1],
            check_ins_in_window: counts[2],
            check_ins_in_previous_window: counts[3],
            last_activity_at,
            active_leaders: counts[4],
            leader_active_in_window: leader_active,
            goals: counts[5],
            goals_achieved: counts[6],
            latest_deadline: deadline,
            attendance_rate: attendance,
            outside_interest: counts[7],
            active_weeks_in_a_row: counts[8],
            members_gone_quiet: counts[0],
        };
        let criteria: Vec<Criterion> = raw
            .into_iter()
            .map(|(k, graduate, threshold)| Criterion {
                kind: CriterionKind::ALL[k],
                effect: if graduate { Effect::Graduate } else { Effect::Disband },
                threshold,
            })
            .collect();
        let _ = lifecycle::validate_criteria(&criteria);
        let _ = lifecycle::evaluate(&criteria, &s);
        let _ = lifecycle::health(&s);
        let activity = lifecycle::MemberActivity { check_ins: activity.0, meetings_attended: activity.1, leadership_actions: activity.2 };
        for role in MemberRole::ALL {
            for status in MembershipStatus::ALL {
                let _ = lifecycle::participation(*role, *status, activity);
            }
        }
    }

    #[test]
    fn nudges_never_panic(
        (stage_active, zone, activated_at, now) in (any::<bool>(), 0usize..6, any_time(), any_time()),
        members in proptest::collection::vec(
            (any::<i64>(), any::<bool>(), 0usize..4, any::<bool>(), any_time(), proptest::option::of(any_time()), (any::<u32>(), proptest::option::of(any_time()))),
            0..4,
        ),
        meetings in proptest::collection::vec((".{0,3}", any_time(), proptest::collection::vec(any::<i64>(), 0..2)), 0..4),
        policy in (proptest::option::of(any::<u32>()), proptest::option::of(any::<u32>()), any::<bool>(), any::<u32>(), 0u8..7),
        change in (proptest::option::of(proptest::option::of(any::<i32>())), proptest::option::of(proptest::option::of(any::<i32>())), proptest::option::of(any::<i32>()), proptest::option::of(any::<i32>())),
    ) {
        let zones = ["UTC", "Europe/Berlin", "America/New_York", "Pacific/Apia", "Asia/Kathmandu", "Pacific/Kiritimati"];
        let snapshot = nudge::Snapshot {
            stage_active,
            zone: zones[zone].parse().unwrap(),
            activated_at,
            members: members
                .into_iter()
                .map(|(id, active, role, nudges_enabled, joined_at, last_check_in_at, (count, last_nudge))| nudge::Member {
                    membership_id: id,
                    active,
                    role: MemberRole::ALL[role],
                    nudges_enabled,
                    joined_at,
                    last_check_in_at,
                    check_in_nudges_since_last_check_in: count,
                    last_check_in_nudge_due_at: last_nudge,
                })
                .collect(),
            meetings: meetings
                .into_iter()
                .map(|(key, starts_at, declined)| nudge::Meeting { key, starts_at, declined })
                .collect(),
        };
        // Stored policies are read back without checks: feed it anything too.
        let policy = Policy {
            check_in_every_days: policy.0,
            meeting_reminder_hours: policy.1,
            leader_digest: policy.2,
            max_unanswered: policy.3,
            digest_weekday: chrono::Weekday::try_from(policy.4).unwrap(),
        };
        for d in nudge::due(&snapshot, &policy, now) {
            prop_assert!(d.due_at <= now);
        }
        for m in &snapshot.members {
            let _ = nudge::gone_quiet(m, &policy);
            let _ = nudge::check_in_base(&snapshot, m);
        }
        let _ = nudge::is_quiet(snapshot.zone, now);
        let _ = policy.change(PolicyChange {
            check_in_every_days: change.0,
            meeting_reminder_hours: change.1,
            leader_digest: Some(true),
            max_unanswered: change.2,
            digest_weekday: change.3,
        });
    }

    #[test]
    fn text_never_panics(value in "\\PC{0,50}|.{0,50}", min in 0usize..3, max in 0usize..60) {
        let limit = text::Limit { field: "field", min, max };
        if let Ok(clean) = text::parse(limit, &value) {
            prop_assert!(text::ensure_plain("field", &clean).is_ok());
        }
        let _ = text::parse_optional(limit, Some(&value));
        let _ = text::parse_tags(&[value.clone(), value]);
    }
}
