//! The demo tenant: a course that ended five weeks ago, a short-term cohort four weeks into its
//! six, a leader, six trainees (one still invited), a goal and a few weeks of check-ins. Seeding
//! twice changes nothing.

use afterclass_domain::access::ViewerRole;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait};

use crate::store::entities::{check_in, cohort, conduct_version, goal, membership, person, stage_event, tenant};
use crate::store::{Store, tallies, to_micros};

pub const TENANT: &str = "demo";
/// The demo cohort's course (its `lmsCourseId`).
pub const COURSE_ID: &str = "RUST-101-2026";
const COHORT: &str = "Rust practice circle";

/// The people the demo prints tokens for: (externalId, role, name).
pub const PEOPLE_WITH_TOKENS: &[(&str, ViewerRole, &str)] = &[
    ("ada", ViewerRole::Instructor, "Ada Lovelace"),
    ("grace", ViewerRole::Trainee, "Grace Hopper"),
    ("lms", ViewerRole::Integration, "The LMS"),
];

const TRAINEES: &[(&str, &str)] = &[
    ("grace", "Grace Hopper"),
    ("alan", "Alan Turing"),
    ("barbara", "Barbara Liskov"),
    ("edsger", "Edsger Dijkstra"),
    ("margaret", "Margaret Hamilton"),
    ("ken", "Ken Thompson"),
];

#[derive(Debug)]
pub struct Seeded {
    pub cohort_name: String,
    pub members: usize,
}

/// Seeds the demo tenant as of `now`, unless it is there already.
pub async fn seed(store: &Store, now: DateTime<Utc>) -> Result<Seeded, DbErr> {
    let txn = store.writer().begin().await?;
    let t = |d: Duration| to_micros(now - d);
    let tenant = match tenant::Entity::find().filter(tenant::Column::Key.eq(TENANT)).one(&txn).await? {
        Some(t) => t,
        None => {
            tenant::ActiveModel {
                key: Set(TENANT.into()),
                created_at: Set(t(Duration::weeks(6))),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    let existing = cohort::Entity::find()
        .filter(cohort::Column::TenantId.eq(tenant.id))
        .filter(cohort::Column::Name.eq(COHORT))
        .one(&txn)
        .await?;
    if existing.is_some() {
        txn.rollback().await?;
        return Ok(Seeded { cohort_name: COHORT.into(), members: TRAINEES.len() + 1 });
    }

    let mut people = Vec::new();
    for (external_id, name) in std::iter::once(&("ada", "Ada Lovelace")).chain(TRAINEES) {
        let found = person::Entity::find()
            .filter(person::Column::TenantId.eq(tenant.id))
            .filter(person::Column::ExternalId.eq(*external_id))
            .one(&txn)
            .await?;
        let p = match found {
            Some(p) => p,
            None => {
                person::ActiveModel {
                    tenant_id: Set(tenant.id),
                    external_id: Set((*external_id).into()),
                    display_name: Set((*name).into()),
                    email: Set(Some(format!("{external_id}@example.org"))),
                    created_at: Set(t(Duration::weeks(6))),
                    ..Default::default()
                }
                .insert(&txn)
                .await?
            }
        };
        people.push(p);
    }

    let created = Duration::days(35);
    let activated = Duration::days(28);
    let deadline = (now + Duration::days(14)).date_naive();
    let c = cohort::ActiveModel {
        tenant_id: Set(tenant.id),
        name: Set(COHORT.into()),
        domain: Set("Rust programming".into()),
        purpose: Set("Keep writing Rust every week after the course, and finish the exercise book together.".into()),
        scope: Set(Some("The exercise book and small projects; no job-search talk.".into())),
        tags: Set(r#"["rust","practice","exercises"]"#.into()),
        course_lms_id: Set(Some(COURSE_ID.into())),
        course_title: Set(Some("Rust Fundamentals".into())),
        course_ended_on: Set(Some((now - created).date_naive().format("%Y-%m-%d").to_string())),
        horizon: Set("SHORT_TERM".into()),
        stage: Set("ACTIVE".into()),
        visibility: Set("BY_REQUEST".into()),
        conduct_version: Set(Some(1)),
        created_by: Set(Some(people[0].id)),
        created_at: Set(t(created)),
        activated_at: Set(Some(t(activated))),
        ended_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    conduct_version::ActiveModel {
        tenant_id: Set(tenant.id),
        cohort_id: Set(c.id),
        version: Set(1),
        text: Set("Be kind. Share what you tried, not only what worked. Meet on Thursdays at 18:00.".into()),
        created_by: Set(Some(people[0].id)),
        created_at: Set(t(created)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    for (from, to, ago, why) in [
        (None, "FORMING", created, "created from course Rust Fundamentals (RUST-101-2026)"),
        (Some("FORMING"), "ACTIVE", activated, "activated"),
    ] {
        stage_event::ActiveModel {
            tenant_id: Set(tenant.id),
            cohort_id: Set(c.id),
            from_stage: Set(from.map(Into::into)),
            to_stage: Set(to.into()),
            actor_person_id: Set(Some(people[0].id)),
            reason: Set(why.into()),
            occurred_at: Set(t(ago)),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    let g = goal::ActiveModel {
        tenant_id: Set(tenant.id),
        cohort_id: Set(c.id),
        title: Set("Finish the exercise book".into()),
        unit: Set("exercises".into()),
        target: Set(120.0),
        start_value: Set(None),
        aggregation: Set("SUM".into()),
        deadline: Set(Some(deadline.format("%Y-%m-%d").to_string())),
        status: Set("OPEN".into()),
        achieved_at: Set(None),
        created_at: Set(t(created)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;

    let mut members = 0;
    for (i, p) in people.iter().enumerate() {
        // The last trainee was invited but has not accepted the code of conduct yet.
        let invited_only = i == people.len() - 1;
        let m = membership::ActiveModel {
            tenant_id: Set(tenant.id),
            cohort_id: Set(c.id),
            person_id: Set(p.id),
            role: Set(if i == 0 { "LEADER" } else { "MEMBER" }.into()),
            status: Set(if invited_only { "INVITED" } else { "ACTIVE" }.into()),
            conduct_accepted_version: Set((!invited_only).then_some(1)),
            conduct_accepted_at: Set((!invited_only).then(|| t(activated))),
            commitment: Set(Some("check in weekly, attend 3 of 4 meetings".into())),
            invited_at: Set(t(created)),
            joined_at: Set((!invited_only).then(|| t(activated))),
            left_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        members += 1;
        if invited_only || i == 0 {
            continue;
        }
        for week in 0..4i64 {
            let ago = activated - Duration::days(7 * week + 2 + i as i64 % 3);
            let row = check_in::ActiveModel {
                tenant_id: Set(tenant.id),
                cohort_id: Set(c.id),
                membership_id: Set(m.id),
                goal_id: Set(Some(g.id)),
                value: Set(Some(3.0 + ((i as i64 + week) % 3) as f64)),
                note: Set(Some(format!("Week {} exercises done", week + 1))),
                confidence: Set(Some(3 + ((i as i64 + week) % 3) as i16)),
                blockers: Set((week == 2 && i == 2).then(|| "Lifetimes in chapter 10".to_owned())),
                occurred_at: Set(t(ago)),
                created_at: Set(t(ago)),
                idempotency_key: Set(None),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            tallies::record(&txn, &row).await?;
        }
    }
    txn.commit().await?;
    Ok(Seeded { cohort_name: COHORT.into(), members })
}
