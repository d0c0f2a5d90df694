//! Who is in a cohort: inviting people (rosters), accepting the code of conduct, roles and
//! leaving.

use afterclass_domain::membership::{Invite, RosterSource};

use super::*;

/// What a roster sync did.
#[derive(Debug, Default)]
pub struct Synced {
    pub invited: Vec<membership::Model>,
    pub removed: Vec<membership::Model>,
    /// People listed whose membership stayed as it was.
    pub unchanged: usize,
}

impl App<'_> {
    /// Invites roster entries; people already in the cohort keep their membership, and people
    /// who left or were removed are invited again.
    pub(super) async fn invite(
        &self,
        txn: &DatabaseTransaction,
        cohort: &cohort::Model,
        roster: &[RosterEntry],
    ) -> Outcome<Vec<membership::Model>> {
        let mut out = Vec::with_capacity(roster.len());
        for entry in roster {
            out.push(self.bring_in(txn, cohort, entry, RosterSource::Invitation).await?.0);
        }
        Ok(out)
    }

    /// Brings one person of a roster into the cohort as [`dmembership::invite`] decides: their
    /// membership, and whether it was invited now.
    async fn bring_in(
        &self,
        txn: &DatabaseTransaction,
        cohort: &cohort::Model,
        entry: &RosterEntry,
        source: RosterSource,
    ) -> Outcome<(membership::Model, bool)> {
        let person = ensure_person_on(
            txn,
            txn,
            cohort.tenant_id,
            &entry.external_id,
            Some(&entry.display_name),
            entry.email.as_deref(),
        )
        .await?;
        let existing = queries::membership_of(txn, cohort.id, Some(person.id)).await?;
        let role = entry.role.unwrap_or(MemberRole::Member).as_str().to_owned();
        let status = existing.as_ref().and_then(|m| MembershipStatus::parse(&m.status));
        let row = match (dmembership::invite(status, source), existing) {
            (Invite::Again, Some(m)) => {
                let mut am = m.into_active_model();
                am.status = Set(MembershipStatus::Invited.as_str().to_owned());
                am.role = Set(role);
                am.invited_at = Set(self.now_micros());
                am.left_at = Set(None);
                am.update(txn).await?
            }
            (Invite::Keep, Some(m)) => return Ok((m, false)),
            _ => {
                membership::ActiveModel {
                    tenant_id: Set(cohort.tenant_id),
                    cohort_id: Set(cohort.id),
                    person_id: Set(person.id),
                    role: Set(role),
                    status: Set(MembershipStatus::Invited.as_str().to_owned()),
                    invited_at: Set(self.now_micros()),
                    ..Default::default()
                }
                .insert(txn)
                .await?
            }
        };
        self.member_joined(txn, cohort, &row).await?;
        Ok((row, true))
    }

    /// Leaders and the integration account: bring the cohort's roster in line with the LMS's,
    /// idempotently. People missing are invited; with `remove_missing`, invited and active
    /// members the roster does not list are marked `REMOVED` (never a leader). Everyone listed is
    /// recorded on the cohort's course roster.
    pub async fn sync_roster(&self, cohort_id: i64, roster: Vec<RosterEntry>, remove_missing: bool) -> Outcome<Synced> {
        let roster = parse_roster(&roster).map_err(|e| e.on_field("members"))?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::AddMembers).await?;
        let cohort = &locked.cohort;
        let mut synced = Synced::default();
        let mut listed = Vec::with_capacity(roster.len());
        for entry in &roster {
            let (row, invited) = self.bring_in(&txn, cohort, entry, RosterSource::Sync).await?;
            listed.push(row.person_id);
            if invited {
                synced.invited.push(row);
            } else {
                synced.unchanged += 1;
            }
        }
        if remove_missing {
            let members = membership::Entity::find()
                .filter(membership::Column::CohortId.eq(cohort.id))
                .filter(membership::Column::PersonId.is_not_in(listed.iter().copied()))
                .all(&txn)
                .await?;
            for m in members {
                let standing = super::access::standing(Some(&m));
                if !dmembership::sync_removes(standing.role, standing.status) {
                    continue;
                }
                let mut am = m.into_active_model();
                am.status = Set(MembershipStatus::Removed.as_str().to_owned());
                am.left_at = Set(Some(self.now_micros()));
                let row = am.update(&txn).await?;
                let data = events::data([("status", row.status.as_str().into())]);
                self.record_event(&txn, cohort, EventKind::MemberLeft, Some(&row), data).await?;
                synced.removed.push(row);
            }
        }
        if let Some(course) = &cohort.course_lms_id {
            super::joining::record_course_roster(&txn, cohort.tenant_id, course, &listed, self.now_micros()).await?;
        }
        txn.commit().await?;
        Ok(synced)
    }

    /// Records that a membership joined the cohort's roster, as invited or as active.
    pub(super) async fn member_joined(
        &self,
        txn: &DatabaseTransaction,
        cohort: &cohort::Model,
        row: &membership::Model,
    ) -> Outcome<()> {
        let data = events::data([("status", row.status.as_str().into()), ("role", row.role.as_str().into())]);
        self.record_event(txn, cohort, EventKind::MemberJoined, Some(row), data).await
    }

    /// Leaders and the integration account: invite people, idempotent per person.
    pub async fn add_members(&self, cohort_id: i64, roster: Vec<RosterEntry>) -> Outcome<Vec<membership::Model>> {
        let roster = parse_roster(&roster).map_err(|e| e.on_field("members"))?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::AddMembers).await?;
        let rows = self.invite(&txn, &locked.cohort, &roster).await?;
        txn.commit().await?;
        Ok(rows)
    }

    /// A member accepts the current code of conduct; an invited member becomes active.
    pub async fn accept_code_of_conduct(&self, cohort_id: i64, version: i32) -> Outcome<membership::Model> {
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Membership).await?;
        let status = dmembership::accept_conduct(locked.standing().status, locked.cohort.conduct_version, version)?;
        let Some(mine) = locked.mine else {
            return Err(ApiError::Internal("accepted without a membership".into()).into());
        };
        let was_active = mine.status == MembershipStatus::Active.as_str();
        let mut am = mine.into_active_model();
        am.status = Set(status.as_str().to_owned());
        am.conduct_accepted_version = Set(Some(version));
        am.conduct_accepted_at = Set(Some(self.now_micros()));
        if !was_active {
            am.joined_at = Set(Some(self.now_micros()));
        }
        let row = am.update(&txn).await?;
        if !was_active {
            self.member_joined(&txn, &locked.cohort, &row).await?;
        }
        txn.commit().await?;
        Ok(row)
    }

    /// Leaders: change a member's role.
    pub async fn change_member_role(&self, membership_id: i64, role: MemberRole) -> Outcome<membership::Model> {
        let txn = self.begin().await?;
        let cohort_id = queries::find_membership(&txn, self.viewer.tenant_id, membership_id)
            .await?
            .ok_or_else(|| ApiError::not_found("membership"))?
            .cohort_id;
        let locked = self.lock_for(&txn, cohort_id, Action::ChangeRoles).await?;
        // Read again now that the cohort is held: a change of this membership that committed in
        // the meantime (its member left, another leader changed the role) is seen, so the rule
        // is checked and the event told from the membership as it is, not as it was.
        let target = queries::find_membership(&txn, self.viewer.tenant_id, membership_id)
            .await?
            .ok_or_else(|| ApiError::not_found("membership"))?;
        let leaders = queries::active_leaders(&txn, locked.cohort.id).await?;
        policy::change_role(locked.stage(), standing(Some(&target)), role, leaders)?;
        let from = target.role.clone();
        let mut am = target.into_active_model();
        am.role = Set(role.as_str().to_owned());
        let row = am.update(&txn).await?;
        let data = events::data([("from", from.into()), ("to", role.as_str().into())]);
        self.record_event(&txn, &locked.cohort, EventKind::MemberRoleChanged, Some(&row), data).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// A member leaves; the membership is kept as `LEFT`.
    pub async fn leave_cohort(&self, cohort_id: i64) -> Outcome<membership::Model> {
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Membership).await?;
        let status = dmembership::leave(locked.standing().status)?;
        let Some(mine) = locked.mine else { return Err(ApiError::Internal("left without a membership".into()).into()) };
        let mut am = mine.into_active_model();
        am.status = Set(status.as_str().to_owned());
        am.left_at = Set(Some(self.now_micros()));
        let row = am.update(&txn).await?;
        let data = events::data([("status", row.status.as_str().into())]);
        self.record_event(&txn, &locked.cohort, EventKind::MemberLeft, Some(&row), data).await?;
        txn.commit().await?;
        Ok(row)
    }
}

/// Validates a roster: bounded size, valid entries, each person once (the last entry wins).
pub(super) fn parse_roster(entries: &[RosterEntry]) -> Result<Vec<RosterEntry>, DomainError> {
    if entries.len() > text::ROSTER_SIZE {
        return Err(DomainError::invalid("roster", format!("at most {} people at once", text::ROSTER_SIZE)));
    }
    let mut out: Vec<RosterEntry> = Vec::with_capacity(entries.len());
    for entry in entries {
        let parsed = RosterEntry {
            external_id: text::parse(EXTERNAL_ID, &entry.external_id)?,
            display_name: text::parse(DISPLAY_NAME, &entry.display_name)?,
            email: text::parse_optional(EMAIL, entry.email.as_deref())?,
            role: entry.role,
        };
        match out.iter_mut().find(|e| e.external_id == parsed.external_id) {
            Some(existing) => *existing = parsed,
            None => out.push(parsed),
        }
    }
    Ok(out)
}
