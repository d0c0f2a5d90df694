//! sea-orm entities, one module per table of the `core` migration. Timestamps are microseconds
//! since the Unix epoch (see `store::time`); enumerations are stored by their domain names.
//! Relations are not declared: queries join by explicit columns and always filter by tenant.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod tenant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub key: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod person {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "persons")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub external_id: String,
        pub display_name: String,
        pub email: Option<String>,
        pub created_at: i64,
        /// When the person's identifying data was erased (`app::privacy`); null until then.
        pub erased_at: Option<i64>,
    }
    no_relations!();
}

pub mod cohort {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cohorts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub name: String,
        pub domain: String,
        pub purpose: String,
        pub scope: Option<String>,
        /// A JSON array of strings.
        pub tags: String,
        pub course_lms_id: Option<String>,
        pub course_title: Option<String>,
        pub course_ended_on: Option<String>,
        pub horizon: String,
        pub stage: String,
        pub visibility: String,
        pub conduct_version: Option<i32>,
        pub created_by: Option<i64>,
        pub created_at: i64,
        pub activated_at: Option<i64>,
        pub ended_at: Option<i64>,
        /// A JSON list of criteria; `None` means the defaults of the cohort's horizon.
        pub criteria: Option<String>,
        /// Whether the sweeper carries out what the evaluation recommends.
        pub auto_apply: bool,
        /// Why an instructor declined the proposal, for the proposer to read.
        pub decline_reason: Option<String>,
    }
    no_relations!();
}

pub mod conduct_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "conduct_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub version: i32,
        pub text: String,
        pub created_by: Option<i64>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod membership {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "memberships")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub person_id: i64,
        pub role: String,
        pub status: String,
        pub conduct_accepted_version: Option<i32>,
        pub conduct_accepted_at: Option<i64>,
        pub commitment: Option<String>,
        pub invited_at: i64,
        pub joined_at: Option<i64>,
        pub left_at: Option<i64>,
        /// Whether the member receives nudges (each member decides for themself).
        pub nudges_enabled: bool,
    }
    no_relations!();
}

pub mod goal {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "goals")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub title: String,
        pub unit: String,
        pub target: f64,
        pub start_value: Option<f64>,
        pub aggregation: String,
        pub deadline: Option<String>,
        pub status: String,
        pub achieved_at: Option<i64>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod check_in {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "check_ins")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub membership_id: i64,
        pub goal_id: Option<i64>,
        pub value: Option<f64>,
        pub note: Option<String>,
        pub confidence: Option<i16>,
        pub blockers: Option<String>,
        pub occurred_at: i64,
        pub created_at: i64,
        pub idempotency_key: Option<String>,
    }
    no_relations!();
}

pub mod stage_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "stage_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub from_stage: Option<String>,
        pub to_stage: String,
        pub actor_person_id: Option<i64>,
        pub reason: String,
        pub occurred_at: i64,
    }
    no_relations!();
}

pub mod outcome {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "outcomes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub reason: String,
        pub retrospective: Option<String>,
        pub recorded_by: Option<i64>,
        pub recorded_at: i64,
        pub formal_structure: Option<String>,
        /// The evaluation that justified the end, as JSON.
        pub evaluation: Option<String>,
    }
    no_relations!();
}

pub mod cohort_signal {
    use sea_orm::entity::prelude::*;

    /// The sweeper's last observation of a cohort.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cohort_signals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub cohort_id: i64,
        pub tenant_id: i64,
        pub health_status: String,
        pub recommendation: String,
        pub evaluated_at: i64,
    }
    no_relations!();
}

pub mod event {
    use sea_orm::entity::prelude::*;

    /// One entry of the event log (`store::events`).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub kind: String,
        pub actor_person_id: Option<i64>,
        /// The person the event is about, if any: they read it as their own.
        pub person_id: Option<i64>,
        pub occurred_at: i64,
        /// The JSON document `{type, timestamp, data}`.
        pub payload: String,
        /// Its transaction on PostgreSQL, 0 on SQLite (see `store::events::Position`).
        pub tx: i64,
    }
    no_relations!();
}

pub mod sweeper_lease {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sweeper_leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub holder: String,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod course_roster {
    use sea_orm::entity::prelude::*;

    /// A person on an origin course's roster, as imported with a cohort.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "course_rosters")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub lms_course_id: String,
        pub person_id: i64,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod join_request {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "join_requests")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub person_id: i64,
        pub message: Option<String>,
        pub status: String,
        pub from_outside_course: bool,
        pub created_at: i64,
        pub decided_at: Option<i64>,
        pub decided_by: Option<i64>,
    }
    no_relations!();
}

pub mod webhook_endpoint {
    use sea_orm::entity::prelude::*;

    /// A tenant's webhook receiver (`webhooks`).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub url: String,
        /// The event kinds it receives, comma-separated; empty means every kind.
        pub kinds: String,
        pub enabled: bool,
        /// The signing secret, `whsec_…`.
        pub secret: String,
        /// The secret before the last rotation, signing beside the new one until
        /// `previous_secret_until`.
        pub previous_secret: Option<String>,
        pub previous_secret_until: Option<i64>,
        /// How far into the tenant's event log deliveries have been fanned out.
        /// How far into the log it has fanned out (`store::events::Position`).
        pub last_event_tx: i64,
        pub last_event_id: i64,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod webhook_delivery {
    use sea_orm::entity::prelude::*;

    /// One event for one endpoint, and its attempts.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub endpoint_id: i64,
        pub event_id: i64,
        /// `PENDING`, `DELIVERED`, `RETRYING` or `FAILED`.
        pub status: String,
        pub attempts: i32,
        pub last_response_status: Option<i32>,
        pub next_attempt_at: Option<i64>,
        pub delivered_at: Option<i64>,
        /// Until when a worker holds it for an attempt.
        pub locked_until: Option<i64>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod lti_nonce {
    use sea_orm::entity::prelude::*;

    /// The nonce of an accepted LTI launch, so that the launch is accepted once (`lti`).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "lti_nonces")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub nonce: String,
        pub issuer: String,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod nudge_policy {
    use sea_orm::entity::prelude::*;

    /// A cohort's nudge policy once a leader changed its defaults (`nudges`).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "nudge_policies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub cohort_id: i64,
        pub tenant_id: i64,
        pub check_in_every_days: Option<i32>,
        pub meeting_reminder_hours: Option<i32>,
        pub leader_digest: bool,
        pub max_unanswered: i32,
        /// ISO weekday, 1 = Monday.
        pub digest_weekday: i32,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod nudge {
    use sea_orm::entity::prelude::*;

    /// A nudge found due, once per member, kind and slot, and its delivery.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "nudges")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub tenant_id: i64,
        pub cohort_id: i64,
        pub membership_id: i64,
        /// `CHECK_IN_DUE`, `MEETING_SOON` or `LEADER_DIGEST`.
        pub kind: String,
        pub slot: String,
        pub due_at: i64,
        /// `PENDING`, `SENT`, `SKIPPED` or `FAILED`.
        pub status: String,
        pub subject: String,
        pub body: String,
        pub attempts: i32,
        pub next_attempt_at: Option<i64>,
        pub sent_at: Option<i64>,
        pub last_error: Option<String>,
        pub created_at: i64,
    }
    no_relations!();
}
