//! Setting a cohort up: creating and proposing it, deciding proposals, its code of conduct,
//! its goals, and activating it.

use super::*;

impl App<'_> {
    /// Instructor or integration: a cohort in `FORMING`, with its roster invited.
    pub async fn create_cohort(&self, draft: CohortDraft) -> Outcome<cohort::Model> {
        if !policy::may_create_cohort(self.viewer.role) {
            return Err(ApiError::forbidden("only instructors and the integration account create cohorts").into());
        }
        self.insert_cohort(draft, Stage::Forming).await
    }

    /// Trainee: a cohort in `PROPOSED`, with the proposer as its leader.
    pub async fn propose_cohort(&self, draft: CohortDraft) -> Outcome<cohort::Model> {
        if !policy::may_propose_cohort(self.viewer.role) {
            return Err(ApiError::forbidden("only trainees propose cohorts; instructors create them").into());
        }
        self.insert_cohort(draft, Stage::Proposed).await
    }

    pub(super) async fn insert_cohort(&self, draft: CohortDraft, stage: Stage) -> Outcome<cohort::Model> {
        let name = text::parse(text::COHORT_NAME, &draft.name)?;
        let domain = text::parse(text::DOMAIN, &draft.domain)?;
        let purpose = text::parse(text::PURPOSE, &draft.purpose)?;
        let scope = text::parse_optional(text::SCOPE, draft.scope.as_deref())?;
        let tags = text::parse_tags(&draft.tags)?;
        let course = draft
            .course
            .map(|c| -> Result<_, DomainError> {
                Ok((text::parse(COURSE_ID, &c.lms_course_id)?, text::parse(COURSE_TITLE, &c.title)?, c.ended_on))
            })
            .transpose()?;
        let conduct = text::parse_optional(CODE_OF_CONDUCT, draft.code_of_conduct.as_deref())
            .map_err(|e| e.on_field("codeOfConduct"))?;
        let roster = super::members::parse_roster(&draft.roster).map_err(|e| e.on_field("roster"))?;
        let now = self.now_micros();

        let txn = self.begin().await?;
        let cohort = cohort::ActiveModel {
            tenant_id: Set(self.viewer.tenant_id),
            name: Set(name),
            domain: Set(domain),
            purpose: Set(purpose),
            scope: Set(scope),
            tags: Set(serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into())),
            course_lms_id: Set(course.as_ref().map(|c| c.0.clone())),
            course_title: Set(course.as_ref().map(|c| c.1.clone())),
            course_ended_on: Set(course.as_ref().and_then(|c| c.2).map(|d| d.format("%Y-%m-%d").to_string())),
            horizon: Set(draft.horizon.as_str().to_owned()),
            stage: Set(stage.as_str().to_owned()),
            visibility: Set(draft.visibility.unwrap_or(Visibility::ByRequest).as_str().to_owned()),
            conduct_version: Set(conduct.as_ref().map(|_| 1)),
            created_by: Set(self.viewer.person_id()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        if let Some(text) = &conduct {
            self.insert_conduct_version(&txn, &cohort, 1, text).await?;
        }
        let why = match &course {
            Some((id, title, _)) => format!("created from course {title} ({id})"),
            None if stage == Stage::Proposed => "proposed by a trainee".to_owned(),
            None => "created".to_owned(),
        };
        self.record_stage_change(&txn, &cohort, None, stage, &why).await?;

        // A person who creates or proposes a cohort leads it from the start.
        if let Some(person_id) = self.viewer.person_id() {
            let leader = membership::ActiveModel {
                tenant_id: Set(cohort.tenant_id),
                cohort_id: Set(cohort.id),
                person_id: Set(person_id),
                role: Set(MemberRole::Leader.as_str().to_owned()),
                status: Set(MembershipStatus::Active.as_str().to_owned()),
                conduct_accepted_version: Set(cohort.conduct_version),
                conduct_accepted_at: Set(cohort.conduct_version.map(|_| now)),
                invited_at: Set(now),
                joined_at: Set(Some(now)),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            self.member_joined(&txn, &cohort, &leader).await?;
        }
        let invited = self.invite(&txn, &cohort, &roster).await?;
        if let Some(course) = &cohort.course_lms_id {
            let people: Vec<i64> = invited.iter().map(|m| m.person_id).collect();
            super::joining::record_course_roster(&txn, cohort.tenant_id, course, &people, now).await?;
        }
        txn.commit().await?;
        Ok(cohort)
    }

    pub(super) async fn insert_conduct_version(
        &self,
        txn: &DatabaseTransaction,
        cohort: &cohort::Model,
        version: i32,
        text: &str,
    ) -> Outcome<()> {
        conduct_version::ActiveModel {
            tenant_id: Set(cohort.tenant_id),
            cohort_id: Set(cohort.id),
            version: Set(version),
            text: Set(text.to_owned()),
            created_by: Set(self.viewer.person_id()),
            created_at: Set(self.now_micros()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        Ok(())
    }

    /// Instructor: `PROPOSED` → `FORMING`.
    pub async fn approve_cohort(&self, cohort_id: i64) -> Outcome<cohort::Model> {
        let txn = self.begin().await?;
        let locked = self.lock(&txn, cohort_id).await?;
        if !policy::may_approve_proposals(self.viewer.role) {
            return Err(ApiError::forbidden("only instructors approve proposals").into());
        }
        let from = locked.stage();
        let to = from.approve()?;
        let cohort = self.set_stage(&txn, locked.cohort, to, |_| {}).await?;
        self.record_stage_change(&txn, &cohort, Some(from), to, "proposal approved").await?;
        txn.commit().await?;
        Ok(cohort)
    }

    pub(super) async fn set_stage(
        &self,
        txn: &DatabaseTransaction,
        cohort: cohort::Model,
        to: Stage,
        more: impl FnOnce(&mut cohort::ActiveModel),
    ) -> Outcome<cohort::Model> {
        let mut am = cohort.into_active_model();
        am.stage = Set(to.as_str().to_owned());
        more(&mut am);
        Ok(am.update(txn).await?)
    }

    /// Leaders: a new version of the code of conduct. Members accept it again before their next
    /// check-in; the author has accepted what they wrote.
    pub async fn set_code_of_conduct(&self, cohort_id: i64, text_in: &str) -> Outcome<cohort::Model> {
        let text = text::parse(CODE_OF_CONDUCT, text_in)?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        let version = locked.cohort.conduct_version.unwrap_or(0) + 1;
        self.insert_conduct_version(&txn, &locked.cohort, version, &text).await?;
        let mut am = locked.cohort.into_active_model();
        am.conduct_version = Set(Some(version));
        let cohort = am.update(&txn).await?;
        if let Some(mine) = locked.mine {
            let mut am = mine.into_active_model();
            am.conduct_accepted_version = Set(Some(version));
            am.conduct_accepted_at = Set(Some(self.now_micros()));
            am.update(&txn).await?;
        }
        let data = events::data([("version", version.into())]);
        self.record_event(&txn, &cohort, EventKind::ConductChanged, None, data).await?;
        txn.commit().await?;
        Ok(cohort)
    }

    /// Leaders: a new measurable goal.
    pub async fn add_goal(&self, cohort_id: i64, draft: GoalDraft) -> Outcome<goal_row::Model> {
        let spec = GoalSpec::parse(
            &draft.title,
            &draft.unit,
            draft.target,
            draft.start_value,
            draft.aggregation,
            draft.deadline,
        )?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        let row = goal_row::ActiveModel {
            tenant_id: Set(locked.cohort.tenant_id),
            cohort_id: Set(locked.cohort.id),
            title: Set(spec.title().to_owned()),
            unit: Set(spec.unit().to_owned()),
            target: Set(spec.target()),
            start_value: Set(spec.start_value()),
            aggregation: Set(spec.aggregation().as_str().to_owned()),
            deadline: Set(spec.deadline().map(|d| d.format("%Y-%m-%d").to_string())),
            status: Set(GoalStatus::Open.as_str().to_owned()),
            created_at: Set(self.now_micros()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let data = events::data([("goalId", ids::encode(ids::Kind::Goal, row.id).into())]);
        self.record_event(&txn, &locked.cohort, EventKind::GoalAdded, None, data).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Leaders: `FORMING` → `ACTIVE`, once the cohort has what it needs.
    pub async fn activate_cohort(&self, cohort_id: i64) -> Outcome<cohort::Model> {
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        let id = locked.cohort.id;
        let leaders = queries::active_leaders(&txn, id).await?;
        let goals = goal_row::Entity::find()
            .filter(goal_row::Column::CohortId.eq(id))
            .filter(goal_row::Column::Status.ne(GoalStatus::Abandoned.as_str()))
            .count(&txn)
            .await?;
        let facts = ActivationFacts {
            has_active_leader: leaders > 0,
            has_purpose: !locked.cohort.purpose.trim().is_empty(),
            goal_count: goals,
            has_code_of_conduct: locked.cohort.conduct_version.is_some(),
        };
        let from = locked.stage();
        let to = from.activate(facts)?;
        let now = self.now_micros();
        let cohort = self.set_stage(&txn, locked.cohort, to, |am| am.activated_at = Set(Some(now))).await?;
        self.record_stage_change(&txn, &cohort, Some(from), to, "activated").await?;
        txn.commit().await?;
        Ok(cohort)
    }

    /// Instructors decline a proposal with a reason the proposer can read; it is kept, ended.
    pub async fn decline_proposal(&self, cohort_id: i64, reason: &str) -> Outcome<cohort::Model> {
        let reason = text::parse(text::DECLINE_REASON, reason)?;
        let txn = self.begin().await?;
        let locked = self.lock(&txn, cohort_id).await?;
        if !policy::may_approve_proposals(self.viewer.role) {
            return Err(ApiError::forbidden("only instructors decide proposals").into());
        }
        let from = locked.stage();
        let to = from.decline()?;
        let now = self.now_micros();
        let mut am = locked.cohort.into_active_model();
        am.stage = Set(to.as_str().to_owned());
        am.ended_at = Set(Some(now));
        am.decline_reason = Set(Some(reason.clone()));
        let cohort = am.update(&txn).await?;
        self.record_stage_change(&txn, &cohort, Some(from), to, &format!("proposal declined: {reason}")).await?;
        txn.commit().await?;
        Ok(cohort)
    }
}
