/*
 * Afterclass web app: what instructors and trainees use inside an LMS frame.
 * Plain ES2020, no framework, no build step; served by the afterclass binary at GET /app.
 *
 * Session (kept in memory and in sessionStorage, so a reload inside the frame keeps working):
 *   1. embedded by the LTI launch: <script type="application/json" id="afterclass-session">
 *      {"token", "role": "instructor"|"trainee", "course": {"lmsCourseId","title"}|null,
 *       "person": {"externalId","displayName"}, "roster": bool, "expiresAt": RFC3339}
 *   2. for local use, the URL fragment #token=JWT&course=LMSCOURSEID&title=TITLE&role=instructor|trainee
 *      (role read from { viewer { role } } when missing); removed from the address bar once read;
 *   3. what sessionStorage kept from 1 or 2;
 *   otherwise the page says "Open Afterclass from your course in the LMS" and offers a token form.
 *
 * Every GraphQL document is in `Q` below (one place, so they can be reviewed and tested together;
 * tests/tests/web_app.rs reads them from this file and has the server validate each one).
 *
 * Stable ids and test ids for browser tests:
 *   #status                 the aria-live status line (successes and progress)
 *   #who                    who is signed in, and in which course
 *   #signed-out             the "Open Afterclass from your course in the LMS" message
 *   #token-form #token-input #token-submit          paste a token (local use)
 *   #session-error          why the session is unusable (expired, refused)
 *   #home                   the list view
 *   #my-cohorts             list of the viewer's own cohorts (trainee)
 *   #course-cohorts         list of the course's cohorts (instructor: all of them; trainee: the ones to discover)
 *   [data-cohort-id="ID"]   one cohort in a list; its button [data-testid="open-cohort"] opens it
 *   #new-cohort             instructor: opens the create form
 *   #create-cohort-form     the create form, with #cohort-name #cohort-domain #cohort-purpose
 *                           #cohort-tags #cohort-horizon #cohort-visibility #course-ended-on
 *                           #goal-title #goal-unit #goal-target #goal-aggregation #goal-deadline
 *                           #cohort-conduct, the roster #roster (checkboxes [data-external-id]),
 *                           #roster-status, #check-similar, #similar-cohorts (matches
 *                           [data-cohort-id]), #create-cohort (shown once similar cohorts were
 *                           checked), #create-errors, #create-cancel
 *   #cohort-detail          one cohort; #back, #cohort-title, #cohort-stage, #standing
 *   #conduct #conduct-text #accept-conduct #conduct-errors
 *   #request-join #join-message #join-errors #join-pending
 *   #checkin-button #checkin-form #checkin-goal #checkin-value #checkin-note
 *   #checkin-confidence #checkin-blockers #checkin-save #checkin-cancel #checkin-errors
 *   #checkin-unavailable    why check-ins are not open to the viewer
 *   #goals [data-goal-id]   goals and their progress; #progress-chart (the SVG chart as <img>)
 *   #my-history             the viewer's own check-ins
 *   #meetings [data-meeting-id]  meetings; RSVP buttons [data-testid="rsvp-GOING|MAYBE|NOT_GOING"]
 *                           (aria-pressed shows the current answer), #rsvp-errors
 *   #calendar-feed          the viewer's private calendar feed link; #calendar-feed-url (copyable)
 *   #reminders #nudges-enabled #reminders-errors   the member's own nudges, on or off
 *   #attendance             leaders and facilitators: forms [data-testid="attendance-form"]
 *                           [data-meeting-id], selects [data-membership-id], button
 *                           [data-testid="attendance-save"], errors [data-testid="attendance-errors"]
 *   #members [data-membership-id]  members, roles, statuses and participation levels
 *   #health #health-status #health-reasons
 *   #evaluation #evaluation-recommendation #evaluation-summary #evaluation-results
 *   #retrospective #apply-evaluation #apply-errors
 *   #activation #activate #activation-missing #activate-errors
 *   #add-goal-form (same goal field ids as the create form, prefixed "add-": #add-goal-title ...)
 *   #add-goal-errors #set-conduct-form #set-conduct-text #set-conduct-errors
 *   #outcome                an ended cohort's outcome
 */
'use strict';

/** Every GraphQL operation of the app. No interpolation: each is a complete document. */
const Q = {
  viewer: `query Viewer {
    viewer { role person { id externalId displayName } }
  }`,
  myMemberships: `query MyMemberships {
    viewer { memberships(first: 100) { nodes { id role status conductAcceptedVersion calendarFeedUrl nudgesEnabled cohort { id } } } }
  }`,
  courseCohorts: `query CourseCohorts($course: String!) {
    cohorts(first: 100, filter: { lmsCourseId: $course }) {
      totalCount
      nodes { id name domain purpose stage visibility horizon course { lmsCourseId title } members(first: 0) { totalCount } }
    }
  }`,
  allCohorts: `query AllCohorts {
    cohorts(first: 100) {
      totalCount
      nodes { id name domain purpose stage visibility horizon course { lmsCourseId title } members(first: 0) { totalCount } }
    }
  }`,
  myCohorts: `query MyCohorts {
    cohorts(first: 100, filter: { mine: true }) {
      totalCount
      nodes { id name domain purpose stage visibility horizon course { lmsCourseId title } members(first: 0) { totalCount } }
    }
  }`,
  cohortFace: `query CohortFace($id: ID!) {
    cohort(id: $id) {
      id name domain purpose scope tags stage visibility horizon createdAt activatedAt endedAt declineReason
      course { lmsCourseId title endedOn }
      members(first: 0) { totalCount }
      cadence { frequency weekday localTime timeZone durationMinutes }
      place { format location onlineUrl }
      channel { kind address }
      nextMeeting { id startsAt endsAt status }
      outcome { reason endedAt retrospective formalStructure }
    }
  }`,
  cohortSetup: `query CohortSetup($id: ID!) {
    cohort(id: $id) {
      id
      codeOfConduct { version text updatedAt }
      goals { id title unit target startValue aggregation deadline status }
    }
  }`,
  cohortActivity: `query CohortActivity($id: ID!, $from: DateTime!, $to: DateTime!) {
    cohort(id: $id) {
      id progressChartUrl
      goals { id progress { current target fraction expectedFraction pace achievedAt } }
      members(first: 50) {
        totalCount
        nodes { id role status conductAcceptedVersion person { id externalId displayName } participation }
      }
      meetings(from: $from, to: $to) {
        id startsAt endsAt status oneOff agenda cancelReason attendanceRate
        place { format location onlineUrl }
        rsvps { answer membership { id } }
        attendance { mark membership { id } }
      }
    }
  }`,
  cohortHealth: `query CohortHealth($id: ID!) {
    cohort(id: $id) {
      id
      health { status reasons activeMemberRatio checkInsPerMemberPerWeek trend attendanceRate daysSinceLastActivity leaderActive }
      evaluation { recommendation summary results { holds observed threshold explanation criterion { kind effect } } }
    }
  }`,
  checkIns: `query CheckIns($id: ID!, $after: String) {
    cohort(id: $id) {
      id
      checkIns(first: 100, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes { id value note confidence blockers occurredAt membership { id } goal { id title unit } }
      }
    }
  }`,
  similarCohorts: `query SimilarCohorts($input: SimilarCohortsInput!) {
    similarCohorts(input: $input) {
      score reasons
      cohort { id name domain stage visibility members(first: 0) { totalCount } }
    }
  }`,
  createCohort: `mutation CreateCohort($input: CreateCohortInput!) {
    createCohort(input: $input) {
      cohort { id name stage }
      similarExisting { score reasons cohort { id name stage } }
      userErrors { code message field }
    }
  }`,
  addGoal: `mutation AddGoal($input: AddGoalInput!) {
    addGoal(input: $input) { goal { id title } userErrors { code message field } }
  }`,
  setCodeOfConduct: `mutation SetCodeOfConduct($input: SetCodeOfConductInput!) {
    setCodeOfConduct(input: $input) { cohort { id codeOfConduct { version } } userErrors { code message field } }
  }`,
  activateCohort: `mutation ActivateCohort($input: CohortRefInput!) {
    activateCohort(input: $input) { cohort { id stage activatedAt } userErrors { code message field } }
  }`,
  applyEvaluation: `mutation ApplyEvaluation($input: ApplyEvaluationInput!) {
    applyEvaluation(input: $input) {
      cohort { id stage endedAt outcome { reason } }
      userErrors { code message field }
    }
  }`,
  acceptCodeOfConduct: `mutation AcceptCodeOfConduct($input: AcceptCodeOfConductInput!) {
    acceptCodeOfConduct(input: $input) { membership { id status conductAcceptedVersion } userErrors { code message field } }
  }`,
  logCheckIn: `mutation LogCheckIn($input: LogCheckInInput!) {
    logCheckIn(input: $input) { checkIn { id value occurredAt } userErrors { code message field } }
  }`,
  setNudgesEnabled: `mutation SetNudgesEnabled($input: SetNudgesEnabledInput!) {
    setNudgesEnabled(input: $input) { membership { id nudgesEnabled } userErrors { code message field } }
  }`,
  rsvp: `mutation Rsvp($input: RsvpInput!) {
    rsvp(input: $input) { rsvp { answer answeredAt } userErrors { code message field } }
  }`,
  recordAttendance: `mutation RecordAttendance($input: RecordAttendanceInput!) {
    recordAttendance(input: $input) {
      meeting { id status attendanceRate attendance { mark membership { id } } }
      userErrors { code message field }
    }
  }`,
  requestToJoin: `mutation RequestToJoin($input: RequestToJoinInput!) {
    requestToJoin(input: $input) {
      joinRequest { id status }
      membership { id status role }
      userErrors { code message field }
    }
  }`,
};

// ---------------------------------------------------------------------------------------------
// Small helpers

/** An element: h('p', { id: 'x', class: 'y', text: 'z', onclick: fn }, child, ...). Text is never HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') el.textContent = value;
    else if (key === 'class') el.className = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else if (key === 'checked' || key === 'selected' || key === 'disabled' || key === 'required') el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);

function main() { return document.getElementById('main'); }

function setStatus(text) {
  const el = document.getElementById('status');
  if (el) el.textContent = text || '';
}

/** A field: label + control, for a11y every input has its label. */
function field(label, control, hint) {
  const wrap = h('div', { class: 'field' }, h('label', { for: control.id, text: label }), control);
  if (hint) {
    const hintId = control.id + '-hint';
    control.setAttribute('aria-describedby', hintId);
    wrap.append(h('p', { class: 'hint', id: hintId, text: hint }));
  }
  return wrap;
}

/** An alert box for a form's errors (role="alert", empty until needed). */
function alertBox(id) {
  return h('div', { id, class: 'errors', role: 'alert' });
}

function showErrors(box, messages) {
  box.replaceChildren();
  const list = (messages || []).filter(Boolean);
  if (list.length === 1) box.append(h('p', { text: list[0] }));
  else if (list.length > 1) box.append(h('ul', {}, list.map((m) => h('li', { text: m }))));
}

const WORDS = {
  PROPOSED: 'Proposed', FORMING: 'Forming', ACTIVE: 'Active', DISBANDED: 'Disbanded', GRADUATED: 'Graduated',
  OPEN: 'Open to join', BY_REQUEST: 'Join by request', INVITE_ONLY: 'Invite only',
  SHORT_TERM: 'Short term', OPEN_ENDED: 'Open ended',
  LEADER: 'Leader', FACILITATOR: 'Facilitator', MEMBER: 'Member', OBSERVER: 'Observer',
  INVITED: 'Invited', REQUESTED: 'Asked to join', LEFT: 'Left', REMOVED: 'Removed',
  CORE: 'Core', PERIPHERAL: 'Peripheral', INACTIVE: 'Inactive',
  THRIVING: 'Thriving', STEADY: 'Steady', FLAGGING: 'Flagging', DORMANT: 'Dormant',
  CONTINUE: 'Continue', DISBAND: 'Disband', GRADUATE: 'Graduate',
  AHEAD: 'ahead of pace', ON_TRACK: 'on track', BEHIND: 'behind pace', NO_DEADLINE: 'no deadline',
  GOING: 'Going', MAYBE: 'Maybe', NOT_GOING: 'Not going',
  PRESENT: 'Present', ABSENT: 'Absent', EXCUSED: 'Excused',
  SCHEDULED: 'Scheduled', HELD: 'Held', CANCELLED: 'Cancelled',
  SUM: 'Sum of all check-ins', EACH_MEMBER: 'Each member reaches it', AVERAGE: 'Average of members',
  GOALS_MET: 'Goals met', EXPIRED: 'Expired', TOO_SMALL: 'Too small', LEADERS_DECISION: "Leaders' decision",
};
const word = (v) => WORDS[v] || String(v || '').toLowerCase().replace(/_/g, ' ');
const TERMINAL = ['DISBANDED', 'GRADUATED'];

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function num(v) {
  if (v === null || v === undefined) return '–';
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
}

function pct(f) { return f === null || f === undefined ? '–' : `${Math.round(f * 100)} %`; }

/** A random key so a retried request never records twice (crypto.randomUUID needs a secure context). */
function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------------------------------------
// Session

const STORE_KEY = 'afterclass-session';
const app = {
  session: null, // { token, role, course, person, roster, expiresAt }
  viewer: null, // { role, person }
  memberships: new Map(), // cohort id -> the viewer's membership
  membershipsError: null,
  view: null, // 'home' | 'create' | cohort id
};

function readEmbeddedSession() {
  const el = document.getElementById('afterclass-session');
  if (!el) return null;
  try { return JSON.parse(el.textContent); } catch (_) { return null; }
}

function readFragmentSession() {
  if (!location.hash || location.hash.length < 2) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (!token) return null;
  const course = params.get('course');
  const role = params.get('role');
  // The token does not stay in the address bar (nor in the frame's history).
  try { history.replaceState(null, '', location.pathname + location.search); } catch (_) { /* sandboxed */ }
  return {
    token,
    role: role === 'instructor' || role === 'trainee' ? role : null,
    course: course ? { lmsCourseId: course, title: params.get('title') || course } : null,
    person: null,
    roster: false,
    expiresAt: null,
  };
}

function storedSession() {
  try {
    const text = sessionStorage.getItem(STORE_KEY);
    return text ? JSON.parse(text) : null;
  } catch (_) { return null; }
}

function keepSession(session) {
  try {
    if (session) sessionStorage.setItem(STORE_KEY, JSON.stringify(session));
    else sessionStorage.removeItem(STORE_KEY);
  } catch (_) { /* storage refused inside some frames: memory only */ }
}

function expired(session) {
  if (!session || !session.expiresAt) return false;
  const t = Date.parse(session.expiresAt);
  return !Number.isNaN(t) && t <= Date.now();
}

function endSession(message) {
  app.session = null;
  keepSession(null);
  renderSignedOut(message);
}

// ---------------------------------------------------------------------------------------------
// Talking to the API

class ApiError extends Error {
  constructor(message, code) { super(message); this.code = code || null; }
}

/** What to tell a person about a top-level GraphQL error: the API's own words, in context. */
function explain(code, message) {
  switch (code) {
    case 'UNAUTHENTICATED': return `Your sign-in was not accepted (${message}). Open Afterclass again from your course.`;
    case 'FORBIDDEN': return `Not allowed: ${message}.`;
    case 'NOT_FOUND': return `Not found: ${message}.`;
    case 'BAD_USER_INPUT': return `The request was refused: ${message}.`;
    case 'TIMEOUT': return `The server took too long: ${message}.`;
    case 'INTERNAL': return 'Something went wrong on the server. Please try again in a moment.';
    default: return message;
  }
}

async function gql(name, variables, opts) {
  if (!app.session) throw new ApiError('You are not signed in.', 'UNAUTHENTICATED');
  const tolerate = (opts && opts.tolerate) || (() => false);
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${app.session.token}` },
      body: JSON.stringify({ query: Q[name], variables: variables || {}, operationName: null }),
    });
  } catch (_) {
    throw new ApiError('Could not reach the Afterclass server. Check your connection and try again.', 'NETWORK');
  }
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (!body) throw new ApiError(`The server answered HTTP ${res.status} without a readable body.`, 'INTERNAL');
  // Some errors only hide a part of the answer (e.g. a cohort the viewer may no longer see).
  const errors = (body.errors || []).filter((e) => !(body.data && tolerate(e)));
  if (errors.length) {
    const code = (errors[0].extensions && errors[0].extensions.code) || null;
    const text = errors.map((e) => explain((e.extensions && e.extensions.code) || null, e.message));
    if (res.status === 401 || code === 'UNAUTHENTICATED') {
      endSession(text[0]);
    }
    throw new ApiError([...new Set(text)].join(' '), code);
  }
  return body.data;
}

/** Runs a mutation; gives its payload, or shows its userErrors (or the API's refusal) in `box`. */
async function mutate(name, input, box, busy) {
  if (busy) busy.disabled = true;
  showErrors(box, []);
  try {
    const data = await gql(name, { input });
    const payload = data[name];
    const errs = (payload && payload.userErrors) || [];
    if (errs.length) {
      showErrors(box, errs.map((e) => e.message));
      return null;
    }
    return payload;
  } catch (err) {
    showErrors(box, [err.message]);
    return null;
  } finally {
    if (busy) busy.disabled = false;
  }
}

async function fetchRoster() {
  const res = await fetch('/lti/roster', { headers: { Authorization: `Bearer ${app.session.token}` } });
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    throw new Error((body && body.error) || `The course roster could not be loaded (HTTP ${res.status}).`);
  }
  return (body && body.members) || [];
}

async function loadMemberships() {
  app.memberships = new Map();
  app.membershipsError = null;
  try {
    // A membership of a cohort the viewer may no longer know of (they left an invite-only
    // one) comes back without its cohort and a NOT_FOUND error at its path: skip it.
    const hidden = (e) => e.extensions && e.extensions.code === 'NOT_FOUND' && Array.isArray(e.path) && e.path[e.path.length - 1] === 'cohort';
    const data = await gql('myMemberships', {}, { tolerate: hidden });
    const nodes = (data && data.viewer && data.viewer.memberships && data.viewer.memberships.nodes) || [];
    for (const m of nodes) if (m && m.cohort) app.memberships.set(m.cohort.id, m);
  } catch (err) {
    app.membershipsError = err.message;
  }
}

// ---------------------------------------------------------------------------------------------
// Standing: what the page offers follows what the API would allow (DESIGN.md "Who may do what")

const LEVEL = { outsider: 0, former: 1, invited: 2, member: 3, facilitator: 4, leader: 5 };

function levelOf(membership) {
  if (!membership) return LEVEL.outsider;
  switch (membership.status) {
    case 'REQUESTED': return LEVEL.outsider;
    case 'LEFT': case 'REMOVED': return LEVEL.former;
    case 'INVITED': return LEVEL.invited;
    case 'ACTIVE':
      if (membership.role === 'LEADER') return LEVEL.leader;
      if (membership.role === 'FACILITATOR') return LEVEL.facilitator;
      return LEVEL.member;
    default: return LEVEL.outsider;
  }
}

function standingText(membership, level) {
  if (!membership) return isInstructor() ? 'You are not a member of this cohort; as an instructor you can read all of it.' : 'You are not a member of this cohort.';
  if (membership.status === 'REQUESTED') return 'You asked to join; a leader or facilitator will answer.';
  if (level === LEVEL.former) return `You ${membership.status === 'LEFT' ? 'left' : 'were removed from'} this cohort.`;
  if (level === LEVEL.invited) return 'You are invited: accept the code of conduct to join.';
  return `You are an active ${word(membership.role).toLowerCase()} of this cohort.`;
}

const isInstructor = () => app.viewer && app.viewer.role === 'INSTRUCTOR';

// ---------------------------------------------------------------------------------------------
// Views: signed out

function renderSignedOut(message) {
  document.getElementById('who').textContent = '';
  const input = h('input', { id: 'token-input', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h('form', { id: 'token-form', class: 'card', onsubmit: (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    start({ token, role: null, course: null, person: null, roster: false, expiresAt: null });
  } },
  h('h2', { text: 'Local use: paste a token' }),
  field('Bearer token', input, 'A token from the afterclass token command or the demo; it stays in this tab only.'),
  h('button', { id: 'token-submit', type: 'submit', text: 'Open with this token' }));
  main().replaceChildren(
    h('section', { id: 'signed-out' },
      h('h1', { text: 'Open Afterclass from your course in the LMS' }),
      message ? h('p', { id: 'session-error', class: 'errors', role: 'alert', text: message }) : null,
      h('p', { text: 'Afterclass opens inside your course page once your LMS launches it.' })),
    form);
}

// ---------------------------------------------------------------------------------------------
// Views: home (lists)

function cohortItem(c, membership) {
  const count = c.members ? c.members.totalCount : null;
  const mine = membership ? ` · you: ${word(membership.status === 'ACTIVE' ? membership.role : membership.status)}` : '';
  return h('li', { 'data-cohort-id': c.id, class: 'cohort-item' },
    h('button', { type: 'button', class: 'link', 'data-testid': 'open-cohort', onclick: () => openCohort(c.id), text: c.name }),
    h('span', { class: `badge stage-${c.stage}`, text: word(c.stage) }),
    h('p', { class: 'meta', text: `${c.domain} · ${word(c.visibility)}${count === null ? '' : ` · ${count} member${count === 1 ? '' : 's'}`}${mine}` }));
}

function cohortList(id, cohorts, empty) {
  if (!cohorts.length) return h('p', { id, class: 'empty', text: empty });
  return h('ul', { id, class: 'cohorts' }, cohorts.map((c) => cohortItem(c, app.memberships.get(c.id))));
}

async function renderHome() {
  app.view = 'home';
  keepView();
  const course = app.session.course;
  const root = h('section', { id: 'home' });
  main().replaceChildren(root);
  setStatus('Loading cohorts…');
  try {
    await loadMemberships();
    if (app.membershipsError) root.append(h('p', { class: 'errors', role: 'alert', text: `Your memberships could not be read: ${app.membershipsError}` }));
    if (isInstructor()) {
      const data = course ? await gql('courseCohorts', { course: course.lmsCourseId }) : await gql('allCohorts');
      root.append(
        h('h1', { text: course ? `Cohorts of ${course.title}` : 'Cohorts of your organisation' }),
        h('button', { id: 'new-cohort', type: 'button', class: 'primary', onclick: renderCreate, text: 'Create a cohort' }),
        cohortList('course-cohorts', data.cohorts.nodes, course ? 'No cohort has been created from this course yet.' : 'No cohorts yet.'));
    } else {
      const mine = (await gql('myCohorts')).cohorts.nodes;
      root.append(h('h1', { text: 'My cohorts' }), cohortList('my-cohorts', mine, 'You are not in a cohort yet.'));
      if (course) {
        const mineIds = new Set(mine.map((c) => c.id));
        const others = (await gql('courseCohorts', { course: course.lmsCourseId })).cohorts.nodes.filter((c) => !mineIds.has(c.id));
        root.append(h('h2', { text: `Cohorts of ${course.title} you can discover` }),
          cohortList('course-cohorts', others, 'No other cohort of this course is open to discover.'));
      }
    }
    setStatus('');
  } catch (err) {
    setStatus('');
    root.append(h('p', { class: 'errors', role: 'alert', text: err.message }));
  }
}

// ---------------------------------------------------------------------------------------------
// Views: creating a cohort (instructor)

function goalFields(prefix) {
  const p = prefix ? `${prefix}-` : '';
  const aggregation = h('select', { id: `${p}goal-aggregation` },
    ['SUM', 'EACH_MEMBER', 'AVERAGE'].map((a) => h('option', { value: a, text: word(a) })));
  return h('fieldset', { class: 'group' }, h('legend', { text: 'A goal' }),
    field('Goal', h('input', { id: `${p}goal-title`, required: true, maxlength: 200, placeholder: 'Finish the exercise book' })),
    field('Unit', h('input', { id: `${p}goal-unit`, required: true, maxlength: 50, placeholder: 'exercises' })),
    field('Target', h('input', { id: `${p}goal-target`, type: 'number', required: true, min: '0', step: 'any', inputmode: 'decimal' })),
    field('How progress adds up', aggregation),
    field('Deadline (optional)', h('input', { id: `${p}goal-deadline`, type: 'date' })));
}

function goalInput(prefix, cohortId) {
  const p = prefix ? `${prefix}-` : '';
  const val = (id) => document.getElementById(`${p}${id}`).value.trim();
  const input = { cohortId, title: val('goal-title'), unit: val('goal-unit'), target: Number(val('goal-target')), aggregation: val('goal-aggregation') };
  if (val('goal-deadline')) input.deadline = val('goal-deadline');
  return input;
}

async function renderCreate() {
  app.view = 'create';
  const course = app.session.course;
  const errors = alertBox('create-errors');
  const similar = h('div', { id: 'similar-cohorts', 'aria-live': 'polite' });
  const rosterBox = h('fieldset', { id: 'roster', class: 'group' }, h('legend', { text: 'Invite from the course roster' }),
    h('p', { id: 'roster-status', class: 'hint', text: app.session.roster ? 'Loading the roster…' : 'This launch brings no roster; trainees can ask to join once the cohort exists.' }));
  const createButton = h('button', { id: 'create-cohort', type: 'submit', class: 'primary', hidden: true, text: 'Create cohort' });
  const checkButton = h('button', { id: 'check-similar', type: 'button', text: 'Check for similar cohorts' });
  const today = new Date().toISOString().slice(0, 10);
  const form = h('form', { id: 'create-cohort-form', class: 'card', novalidate: false },
    h('h1', { text: course ? `New cohort from ${course.title}` : 'New cohort' }),
    field('Name', h('input', { id: 'cohort-name', required: true, maxlength: 200 })),
    field('Domain (the shared interest)', h('input', { id: 'cohort-domain', required: true, maxlength: 200, placeholder: 'Rust for data engineers' })),
    field('Purpose', h('textarea', { id: 'cohort-purpose', required: true, rows: 3, maxlength: 2000 })),
    field('Tags (optional, comma-separated)', h('input', { id: 'cohort-tags', placeholder: 'rust, practice' })),
    field('Horizon', h('select', { id: 'cohort-horizon' },
      h('option', { value: 'SHORT_TERM', text: 'Short term, with concrete goals' }),
      h('option', { value: 'OPEN_ENDED', text: 'Open ended, with fuzzy goals' }))),
    field('Who may join', h('select', { id: 'cohort-visibility' },
      h('option', { value: 'BY_REQUEST', text: word('BY_REQUEST') }),
      h('option', { value: 'OPEN', text: word('OPEN') }),
      h('option', { value: 'INVITE_ONLY', text: word('INVITE_ONLY') }))),
    course ? field('Course ended on', h('input', { id: 'course-ended-on', type: 'date', value: today })) : null,
    goalFields(''),
    field('Code of conduct', h('textarea', { id: 'cohort-conduct', required: true, rows: 4, maxlength: 10000, placeholder: 'Be kind. Share what you tried, not only what worked.' })),
    rosterBox,
    similar,
    errors,
    h('div', { class: 'actions' }, checkButton, createButton,
      h('button', { id: 'create-cancel', type: 'button', class: 'secondary', onclick: renderHome, text: 'Cancel' })));
  main().replaceChildren(form);
  document.getElementById('cohort-name').focus();

  const draft = () => {
    const tags = document.getElementById('cohort-tags').value.split(',').map((t) => t.trim()).filter(Boolean);
    return { name: $('#cohort-name').value.trim(), domain: $('#cohort-domain').value.trim(), purpose: $('#cohort-purpose').value.trim(), tags };
  };
  checkButton.addEventListener('click', async () => {
    if (!form.reportValidity()) return;
    checkButton.disabled = true;
    showErrors(errors, []);
    similar.replaceChildren(h('p', { text: 'Looking for similar cohorts…' }));
    try {
      const d = draft();
      const data = await gql('similarCohorts', { input: { name: d.name, domain: d.domain, purpose: d.purpose, tags: d.tags, limit: 5 } });
      showSimilar(similar, data.similarCohorts, 'Similar cohorts already exist: would your trainees join one instead?');
      createButton.hidden = false;
      createButton.textContent = data.similarCohorts.length ? 'Create a new cohort anyway' : 'Create cohort';
    } catch (err) {
      similar.replaceChildren();
      showErrors(errors, [err.message]);
    } finally {
      checkButton.disabled = false;
    }
  });

  let roster = [];
  if (app.session.roster) {
    fetchRoster().then((members) => {
      const me = app.viewer.person && app.viewer.person.externalId;
      roster = members.filter((m) => m.externalId !== me);
      const status = document.getElementById('roster-status');
      if (!status) return;
      status.textContent = roster.length ? `${roster.length} people on the roster; untick anyone not to invite.` : 'The roster is empty.';
      rosterBox.append(...roster.map((m, i) => h('div', { class: 'check' },
        h('input', { type: 'checkbox', id: `roster-${i}`, checked: true, 'data-external-id': m.externalId }),
        h('label', { for: `roster-${i}`, text: `${m.displayName}${m.lmsRole === 'instructor' ? ' (instructor, as facilitator)' : ''}` }))));
    }).catch((err) => {
      const status = document.getElementById('roster-status');
      if (status) { status.textContent = `The roster could not be loaded: ${err.message}`; status.classList.add('errors'); }
    });
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (createButton.hidden) { checkButton.click(); return; }
    const d = draft();
    const input = {
      name: d.name, domain: d.domain, purpose: d.purpose, tags: d.tags,
      horizon: $('#cohort-horizon').value, visibility: $('#cohort-visibility').value,
      codeOfConduct: $('#cohort-conduct').value.trim(),
    };
    if (course) {
      input.course = { lmsCourseId: course.lmsCourseId, title: course.title };
      const ended = $('#course-ended-on').value;
      if (ended) input.course.endedOn = ended;
    }
    const chosen = new Set(Array.from(rosterBox.querySelectorAll('input[data-external-id]:checked'), (c) => c.dataset.externalId));
    const invite = roster.filter((m) => chosen.has(m.externalId)).map((m) => {
      const entry = { externalId: m.externalId, displayName: m.displayName, role: m.lmsRole === 'instructor' ? 'FACILITATOR' : 'MEMBER' };
      if (m.email) entry.email = m.email;
      return entry;
    });
    if (invite.length) input.roster = invite;
    setStatus('Creating the cohort…');
    const payload = await mutate('createCohort', input, errors, createButton);
    if (!payload) { setStatus(''); return; }
    const cohort = payload.cohort;
    const goal = await mutate('addGoal', goalInput('', cohort.id), errors, createButton);
    await loadMemberships();
    setStatus(goal ? `Cohort “${cohort.name}” created with its goal. Activate it when you are ready.`
      : `Cohort “${cohort.name}” created, but its goal was not added; add one on the cohort's page.`);
    await openCohort(cohort.id, { keepStatus: true });
  });
}

function showSimilar(box, matches, intro) {
  box.replaceChildren();
  if (!matches.length) { box.append(h('p', { text: 'No similar cohorts found.' })); return; }
  box.append(h('h2', { text: intro }), h('ul', { class: 'cohorts' }, matches.map((m) => h('li', { 'data-cohort-id': m.cohort.id, class: 'cohort-item' },
    h('button', { type: 'button', class: 'link', 'data-testid': 'open-cohort', onclick: () => openCohort(m.cohort.id), text: m.cohort.name }),
    h('span', { class: `badge stage-${m.cohort.stage}`, text: word(m.cohort.stage) }),
    h('p', { class: 'meta', text: `${Math.round(m.score * 100)} % alike: ${m.reasons.join('; ')}` })))));
}

// ---------------------------------------------------------------------------------------------
// Views: one cohort

function keepView() {
  try { sessionStorage.setItem(`${STORE_KEY}-view`, app.view || 'home'); } catch (_) { /* memory only */ }
}

async function openCohort(id, opts) {
  app.view = id;
  keepView();
  const root = h('section', { id: 'cohort-detail', 'data-cohort-id': id },
    h('button', { id: 'back', type: 'button', class: 'secondary', onclick: renderHome, text: '← All cohorts' }));
  main().replaceChildren(root);
  if (!(opts && opts.keepStatus)) setStatus('Loading the cohort…');
  try {
    if (!app.memberships.size && !app.membershipsError) await loadMemberships();
    const face = (await gql('cohortFace', { id })).cohort;
    if (!face) throw new ApiError('This cohort is not visible to you.', 'NOT_FOUND');
    const membership = app.memberships.get(id) || null;
    const level = levelOf(membership);
    const reader = isInstructor();
    const ctx = { id, face, membership, level, reader, root };
    ctx.setup = (reader || level >= LEVEL.invited) ? (await gql('cohortSetup', { id })).cohort : null;
    if (reader || level >= LEVEL.member) {
      const now = Date.now();
      const from = new Date(now - 14 * 86400000).toISOString();
      const to = new Date(now + 60 * 86400000).toISOString();
      ctx.activity = (await gql('cohortActivity', { id, from, to })).cohort;
      ctx.health = face.stage === 'PROPOSED' ? null : (await gql('cohortHealth', { id })).cohort;
      ctx.checkIns = membership && level >= LEVEL.member ? await allCheckIns(id) : [];
    }
    renderCohort(ctx);
    if (!(opts && opts.keepStatus)) setStatus('');
    document.getElementById('cohort-title').focus();
  } catch (err) {
    setStatus('');
    root.append(h('p', { class: 'errors', role: 'alert', text: err.message }));
  }
}

async function allCheckIns(id) {
  const out = [];
  let after = null;
  for (let page = 0; page < 20; page += 1) {
    const conn = (await gql('checkIns', { id, after })).cohort.checkIns;
    out.push(...conn.nodes);
    if (!conn.pageInfo.hasNextPage) break;
    after = conn.pageInfo.endCursor;
  }
  return out;
}

function renderCohort(ctx) {
  const { face, membership, level, root } = ctx;
  const terminal = TERMINAL.includes(face.stage);
  root.append(
    h('h1', { id: 'cohort-title', tabindex: '-1', text: face.name }),
    h('p', {}, h('span', { id: 'cohort-stage', class: `badge stage-${face.stage}`, text: word(face.stage) }), ' ',
      h('span', { class: 'meta', text: `${word(face.horizon)} · ${word(face.visibility)} · ${face.members.totalCount} member${face.members.totalCount === 1 ? '' : 's'}` })),
    h('p', { id: 'standing', class: 'standing', text: standingText(membership, level) }),
    h('dl', { class: 'facts' },
      h('dt', { text: 'Domain' }), h('dd', { text: face.domain }),
      h('dt', { text: 'Purpose' }), h('dd', { text: face.purpose }),
      face.scope ? [h('dt', { text: 'Scope' }), h('dd', { text: face.scope })] : null,
      face.tags.length ? [h('dt', { text: 'Tags' }), h('dd', { text: face.tags.join(', ') })] : null,
      face.course ? [h('dt', { text: 'Course' }), h('dd', { text: face.course.title })] : null,
      face.channel ? [h('dt', { text: 'Channel' }), h('dd', { text: `${word(face.channel.kind)}: ${face.channel.address}` })] : null,
      face.nextMeeting ? [h('dt', { text: 'Next meeting' }), h('dd', { text: when(face.nextMeeting.startsAt) })] : null));
  if (terminal && face.outcome) {
    root.append(h('section', { id: 'outcome', class: 'card' }, h('h2', { text: 'Outcome' }),
      h('p', { text: `${word(face.stage)} on ${when(face.outcome.endedAt)}: ${word(face.outcome.reason)}.` }),
      face.outcome.formalStructure ? h('p', { text: `It became: ${face.outcome.formalStructure}` }) : null,
      face.outcome.retrospective ? h('p', { text: face.outcome.retrospective }) : null));
  }
  if (terminal) root.append(h('p', { class: 'note', text: 'This cohort has ended; everything stays readable, nothing can be changed.' }));
  renderJoin(ctx, terminal);
  renderConduct(ctx, terminal);
  renderActivation(ctx);
  renderCheckIn(ctx, terminal);
  renderGoals(ctx);
  renderHistory(ctx);
  renderMeetings(ctx, terminal);
  renderCalendar(ctx);
  renderReminders(ctx, terminal);
  renderAttendance(ctx, terminal);
  renderMembers(ctx);
  renderHealth(ctx, terminal);
}

function renderJoin(ctx, terminal) {
  const { face, membership, level, root } = ctx;
  if (isInstructor() || level !== LEVEL.outsider) return;
  if (membership && membership.status === 'REQUESTED') {
    root.append(h('p', { id: 'join-pending', class: 'note', text: 'Your request to join is waiting for a leader or facilitator.' }));
    return;
  }
  if (terminal || face.stage === 'PROPOSED' || face.visibility === 'INVITE_ONLY') return;
  const errors = alertBox('join-errors');
  const message = h('textarea', { id: 'join-message', rows: 2, maxlength: 1000 });
  const button = h('button', { id: 'request-join', type: 'submit', class: 'primary', text: face.visibility === 'OPEN' ? 'Join this cohort' : 'Ask to join' });
  root.append(h('form', { class: 'card', id: 'join-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const input = { cohortId: ctx.id };
    if (message.value.trim()) input.message = message.value.trim();
    const payload = await mutate('requestToJoin', input, errors, button);
    if (!payload) return;
    await loadMemberships();
    setStatus(payload.membership && payload.membership.status === 'INVITED'
      ? 'You are in: read and accept the code of conduct to start.'
      : 'Your request was sent; a leader or facilitator will answer.');
    await openCohort(ctx.id, { keepStatus: true });
  } },
  h('h2', { text: face.visibility === 'OPEN' ? 'Join' : 'Ask to join' }),
  field('A message to the leaders (optional)', message), errors, button));
}

function renderConduct(ctx, terminal) {
  const { setup, membership, level, root } = ctx;
  if (!setup) return;
  const conduct = setup.codeOfConduct;
  const section = h('section', { id: 'conduct', class: 'card' }, h('h2', { text: 'Code of conduct' }));
  if (!conduct) {
    section.append(h('p', { text: 'No code of conduct yet.' }));
    root.append(section);
    return;
  }
  section.append(h('p', { class: 'meta', text: `Version ${conduct.version}, ${when(conduct.updatedAt)}` }),
    h('div', { id: 'conduct-text', class: 'conduct', text: conduct.text }));
  const accepted = membership && membership.conductAcceptedVersion;
  const needs = membership && (level === LEVEL.invited || (level >= LEVEL.member && accepted !== conduct.version));
  if (needs && !terminal) {
    const errors = alertBox('conduct-errors');
    const button = h('button', { id: 'accept-conduct', type: 'button', class: 'primary', text: `I accept the code of conduct (version ${conduct.version})` });
    button.addEventListener('click', async () => {
      const payload = await mutate('acceptCodeOfConduct', { cohortId: ctx.id, version: conduct.version }, errors, button);
      if (!payload) return;
      await loadMemberships();
      setStatus('Thank you: you accepted the code of conduct.');
      await openCohort(ctx.id, { keepStatus: true });
    });
    if (level >= LEVEL.member) section.append(h('p', { class: 'note', text: 'The code of conduct changed: accept it again before your next check-in.' }));
    section.append(errors, button);
  } else if (membership && accepted) {
    section.append(h('p', { class: 'meta', text: `You accepted version ${accepted}.` }));
  }
  root.append(section);
}

function renderActivation(ctx) {
  const { face, setup, level, root } = ctx;
  if (face.stage !== 'FORMING' || level !== LEVEL.leader || !setup) return;
  const section = h('section', { id: 'activation', class: 'card' }, h('h2', { text: 'Activate' }));
  const missing = [];
  if (!setup.goals.length) missing.push('a goal');
  if (!setup.codeOfConduct) missing.push('a code of conduct');
  if (!face.purpose) missing.push('a purpose');
  if (missing.length) {
    section.append(h('p', { id: 'activation-missing', text: `Before it can be activated, the cohort needs ${missing.join(' and ')}.` }));
    if (!setup.goals.length) {
      const errors = alertBox('add-goal-errors');
      const button = h('button', { id: 'add-goal', type: 'submit', text: 'Add the goal' });
      section.append(h('form', { id: 'add-goal-form', onsubmit: async (ev) => {
        ev.preventDefault();
        const payload = await mutate('addGoal', goalInput('add', ctx.id), errors, button);
        if (payload) { setStatus('Goal added.'); await openCohort(ctx.id, { keepStatus: true }); }
      } }, goalFields('add'), errors, button));
    }
    if (!setup.codeOfConduct) {
      const errors = alertBox('set-conduct-errors');
      const text = h('textarea', { id: 'set-conduct-text', required: true, rows: 4, maxlength: 10000 });
      const button = h('button', { id: 'set-conduct', type: 'submit', text: 'Save the code of conduct' });
      section.append(h('form', { id: 'set-conduct-form', onsubmit: async (ev) => {
        ev.preventDefault();
        const payload = await mutate('setCodeOfConduct', { cohortId: ctx.id, text: text.value.trim() }, errors, button);
        if (payload) { setStatus('Code of conduct saved.'); await openCohort(ctx.id, { keepStatus: true }); }
      } }, field('Code of conduct', text), errors, button));
    }
  } else {
    const errors = alertBox('activate-errors');
    const button = h('button', { id: 'activate', type: 'button', class: 'primary', text: 'Activate the cohort' });
    button.addEventListener('click', async () => {
      const payload = await mutate('activateCohort', { cohortId: ctx.id }, errors, button);
      if (payload) { setStatus('The cohort is active: members can check in now.'); await openCohort(ctx.id, { keepStatus: true }); }
    });
    section.append(h('p', { text: 'It has a leader, a purpose, a goal and a code of conduct. Members can check in once it is active.' }), errors, button);
  }
  root.append(section);
}

function myCheckIns(ctx) {
  return ctx.membership ? ctx.checkIns.filter((c) => c.membership.id === ctx.membership.id) : [];
}

function renderCheckIn(ctx, terminal) {
  const { face, setup, membership, level, root } = ctx;
  if (!membership || level < LEVEL.member || terminal) return;
  const conductVersion = setup && setup.codeOfConduct ? setup.codeOfConduct.version : null;
  let why = null;
  if (face.stage !== 'ACTIVE') why = 'Check-ins open once the cohort is active.';
  else if (conductVersion !== null && membership.conductAcceptedVersion !== conductVersion) why = 'Accept the current code of conduct above before checking in.';
  const section = h('section', { id: 'checkin', class: 'card' }, h('h2', { text: 'Check in' }));
  root.append(section);
  if (why) { section.append(h('p', { id: 'checkin-unavailable', class: 'note', text: why })); return; }
  const goals = (setup ? setup.goals : []).filter((g) => g.status === 'OPEN');
  const mine = myCheckIns(ctx);
  const button = h('button', { id: 'checkin-button', type: 'button', class: 'primary', text: 'Check in' });
  section.append(button);
  button.addEventListener('click', () => {
    button.hidden = true;
    const errors = alertBox('checkin-errors');
    const goalSelect = h('select', { id: 'checkin-goal' },
      goals.map((g) => h('option', { value: g.id, text: `${g.title} (${g.unit})` })),
      h('option', { value: '', text: 'No particular goal' }));
    const value = h('input', { id: 'checkin-value', type: 'number', step: 'any', inputmode: 'decimal' });
    const prefill = () => {
      const goal = goals.find((g) => g.id === goalSelect.value);
      const last = [...mine].reverse().find((c) => (c.goal ? c.goal.id : '') === goalSelect.value && c.value !== null);
      // SUM adds every check-in: suggest the last amount, or 1; the other kinds count each member's latest value.
      value.value = last ? String(last.value) : (goal && goal.aggregation === 'SUM' ? '1' : '');
    };
    goalSelect.addEventListener('change', prefill);
    prefill();
    const confidence = h('select', { id: 'checkin-confidence' }, h('option', { value: '', text: 'Not saying' }),
      [1, 2, 3, 4, 5].map((n) => h('option', { value: String(n), text: `${n}${n === 1 ? ' (not at all)' : n === 5 ? ' (fully)' : ''}` })));
    const note = h('textarea', { id: 'checkin-note', rows: 2, maxlength: 2000 });
    const blockers = h('textarea', { id: 'checkin-blockers', rows: 2, maxlength: 2000 });
    const save = h('button', { id: 'checkin-save', type: 'submit', class: 'primary', text: 'Save' });
    const key = randomKey();
    const form = h('form', { id: 'checkin-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const input = { cohortId: ctx.id, idempotencyKey: key };
      if (goalSelect.value) input.goalId = goalSelect.value;
      if (value.value.trim() !== '') {
        const v = Number(value.value);
        if (!Number.isFinite(v)) { showErrors(errors, ['The value must be a number.']); value.focus(); return; }
        input.value = v;
      }
      if (note.value.trim()) input.note = note.value.trim();
      if (confidence.value) input.confidence = Number(confidence.value);
      if (blockers.value.trim()) input.blockers = blockers.value.trim();
      const payload = await mutate('logCheckIn', input, errors, save);
      if (!payload) return;
      setStatus('Check-in saved. Thank you!');
      await openCohort(ctx.id, { keepStatus: true });
    } },
    goals.length ? field('Goal', goalSelect) : null,
    field('Value', value, goals.length ? 'How far you got: for a sum goal, what you did since last time.' : null),
    field('Confidence of reaching the goal (1–5)', confidence),
    field('Note (optional)', note),
    field('Blockers (optional)', blockers),
    errors,
    h('div', { class: 'actions' }, save, h('button', { id: 'checkin-cancel', type: 'button', class: 'secondary', text: 'Cancel', onclick: () => { form.remove(); button.hidden = false; button.focus(); } })));
    section.append(form);
    value.focus();
    value.select();
  });
}

function renderGoals(ctx) {
  const { setup, activity, root } = ctx;
  if (!setup) return;
  const progress = new Map(((activity && activity.goals) || []).map((g) => [g.id, g.progress]));
  const section = h('section', { id: 'goals', class: 'card' }, h('h2', { text: 'Goals and progress' }));
  if (!setup.goals.length) section.append(h('p', { text: 'No goals yet.' }));
  const summary = [];
  for (const g of setup.goals) {
    const p = progress.get(g.id);
    const line = p ? `${num(p.current)} of ${num(p.target)} ${g.aggregation === 'EACH_MEMBER' ? 'members at target' : g.unit} (${pct(p.fraction)}), ${word(p.pace)}` : `Target ${num(g.target)} ${g.unit}`;
    summary.push(`${g.title}: ${line}`);
    section.append(h('div', { class: 'goal', 'data-goal-id': g.id },
      h('p', {}, h('strong', { text: g.title }), ' ', h('span', { class: 'meta', text: `${word(g.aggregation)}${g.deadline ? `, by ${g.deadline}` : ''}${g.status !== 'OPEN' ? ` · ${g.status.toLowerCase()}` : ''}` })),
      p ? h('progress', { max: '1', value: String(Math.min(1, p.fraction)), 'aria-label': `${g.title}: ${pct(p.fraction)}` }) : null,
      h('p', { class: 'meta', text: line })));
  }
  if (activity && activity.progressChartUrl && setup.goals.length) {
    // The chart is cached for a minute; a fresh render (after a check-in) asks for a fresh one.
    const fresh = `${activity.progressChartUrl}${activity.progressChartUrl.includes('?') ? '&' : '?'}shown=${Date.now()}`;
    section.append(h('img', { id: 'progress-chart', class: 'chart', src: fresh, width: '640', height: '320',
      alt: `Progress chart of the cohort's goals. ${summary.join('. ')}.` }));
  }
  root.append(section);
}

function renderHistory(ctx) {
  const { membership, level, root } = ctx;
  if (!membership || level < LEVEL.member) return;
  const mine = myCheckIns(ctx).slice().reverse();
  const section = h('section', { class: 'card' }, h('h2', { text: 'My check-ins' }));
  if (!mine.length) section.append(h('p', { id: 'my-history', class: 'empty', text: 'You have not checked in yet.' }));
  else {
    section.append(h('ol', { id: 'my-history', class: 'history' }, mine.map((c) => h('li', { 'data-checkin-id': c.id },
      h('span', { class: 'meta', text: when(c.occurredAt) }), ' ',
      h('strong', { text: c.value === null ? '—' : `${num(c.value)}${c.goal ? ` ${c.goal.unit}` : ''}` }),
      c.goal ? ` · ${c.goal.title}` : '',
      c.confidence ? ` · confidence ${c.confidence}/5` : '',
      c.note ? h('p', { text: c.note }) : null,
      c.blockers ? h('p', { class: 'meta', text: `Blockers: ${c.blockers}` }) : null))));
  }
  root.append(section);
}

function renderMeetings(ctx, terminal) {
  const { face, activity, membership, level, root } = ctx;
  const section = h('section', { id: 'meetings', class: 'card' }, h('h2', { text: 'Next meetings' }));
  if (face.cadence) {
    const c = face.cadence;
    section.append(h('p', { class: 'meta', text: `${word(c.frequency)} on ${['', 'Mondays', 'Tuesdays', 'Wednesdays', 'Thursdays', 'Fridays', 'Saturdays', 'Sundays'][c.weekday] || ''} at ${c.localTime} (${c.timeZone}), ${c.durationMinutes} minutes` }));
  }
  if (face.place) section.append(h('p', { class: 'meta', text: [word(face.place.format), face.place.location, face.place.onlineUrl].filter(Boolean).join(' · ') }));
  if (!activity) {
    section.append(h('p', { text: face.nextMeeting ? `Next: ${when(face.nextMeeting.startsAt)}` : 'No meeting is planned.' }));
    root.append(section);
    return;
  }
  const now = Date.now();
  const upcoming = activity.meetings.filter((m) => Date.parse(m.endsAt) > now).slice(0, 6);
  if (!upcoming.length) section.append(h('p', { text: 'No meeting is planned.' }));
  const canRsvp = membership && level >= LEVEL.member && !terminal && face.stage !== 'PROPOSED';
  const errors = alertBox('rsvp-errors');
  for (const m of upcoming) {
    const mineAnswer = membership ? (m.rsvps.find((r) => r.membership.id === membership.id) || {}).answer : null;
    const going = m.rsvps.filter((r) => r.answer === 'GOING').length;
    const item = h('div', { class: 'meeting', 'data-meeting-id': m.id },
      h('p', {}, h('strong', { text: when(m.startsAt) }), ' ', h('span', { class: 'meta', text: `${word(m.status)}${m.oneOff ? ' · one-off' : ''} · ${going} going` })),
      m.agenda ? h('p', { text: m.agenda }) : null,
      m.cancelReason ? h('p', { class: 'meta', text: `Cancelled: ${m.cancelReason}` }) : null);
    // Answers close when the meeting starts (and a cancelled one takes none).
    if (canRsvp && m.status !== 'CANCELLED' && Date.parse(m.startsAt) > now) {
      item.append(h('div', { class: 'rsvp', role: 'group', 'aria-label': `Your answer for ${when(m.startsAt)}` },
        ['GOING', 'MAYBE', 'NOT_GOING'].map((answer) => h('button', {
          type: 'button', 'data-testid': `rsvp-${answer}`, 'aria-pressed': String(mineAnswer === answer), class: 'toggle', text: word(answer),
          onclick: async (ev) => {
            const payload = await mutate('rsvp', { meetingId: m.id, answer }, errors, ev.currentTarget);
            if (!payload) return;
            for (const b of item.querySelectorAll('[data-testid^="rsvp-"]')) b.setAttribute('aria-pressed', String(b.dataset.testid === `rsvp-${answer}`));
            setStatus(`Your answer for ${when(m.startsAt)}: ${word(answer)}.`);
          },
        }))));
    } else if (canRsvp && m.status !== 'CANCELLED') {
      item.append(h('p', { class: 'meta', text: `Under way; answers closed at the start.${mineAnswer ? ` You answered: ${word(mineAnswer)}.` : ''}` }));
    }
    section.append(item);
  }
  section.append(errors);
  root.append(section);
}

function renderCalendar(ctx) {
  const { membership, level, root } = ctx;
  if (!membership || level < LEVEL.invited || !membership.calendarFeedUrl) return;
  const url = new URL(membership.calendarFeedUrl, location.href).href;
  root.append(h('section', { class: 'card' }, h('h2', { text: 'Calendar' }),
    h('p', {}, h('a', { id: 'calendar-feed', href: url, target: '_blank', rel: 'noopener', text: 'Subscribe to the meetings in your calendar' })),
    field('Private feed address (copy it into your calendar app)', h('input', { id: 'calendar-feed-url', readonly: true, value: url }), 'Keep it to yourself: anyone with it sees the meetings.')));
}

function renderReminders(ctx, terminal) {
  const { membership, level, root } = ctx;
  if (!membership || level < LEVEL.invited || terminal) return;
  const errors = alertBox('reminders-errors');
  const box = h('input', { id: 'nudges-enabled', type: 'checkbox', checked: membership.nudgesEnabled !== false });
  box.addEventListener('change', async () => {
    const payload = await mutate('setNudgesEnabled', { cohortId: ctx.id, enabled: box.checked }, errors, box);
    box.disabled = false;
    if (!payload) { box.checked = !box.checked; return; }
    membership.nudgesEnabled = payload.membership.nudgesEnabled;
    setStatus(box.checked ? 'Reminders are on.' : 'Reminders are off.');
  });
  root.append(h('section', { id: 'reminders', class: 'card' }, h('h2', { text: 'Reminders' }),
    h('div', { class: 'check' }, box, h('label', { for: 'nudges-enabled', text: 'Remind me to check in and before meetings' })),
    errors));
}

function renderAttendance(ctx, terminal) {
  const { face, activity, level, root } = ctx;
  if (!activity || level < LEVEL.facilitator || terminal || face.stage !== 'ACTIVE') return;
  const now = Date.now();
  const started = activity.meetings.filter((m) => Date.parse(m.startsAt) <= now && m.status !== 'CANCELLED').slice(-3).reverse();
  const active = activity.members.nodes.filter((m) => m.status === 'ACTIVE');
  const section = h('section', { id: 'attendance', class: 'card' }, h('h2', { text: 'Record attendance' }));
  if (!started.length) section.append(h('p', { text: 'No meeting has started in the last two weeks.' }));
  for (const m of started) {
    const marks = new Map(m.attendance.map((a) => [a.membership.id, a.mark]));
    const errors = h('div', { class: 'errors', role: 'alert', 'data-testid': 'attendance-errors' });
    const save = h('button', { type: 'submit', 'data-testid': 'attendance-save', text: m.status === 'HELD' ? 'Correct attendance' : 'Save attendance' });
    const selects = active.map((member) => h('select', { id: `att-${m.id}-${member.id}`, 'data-membership-id': member.id },
      ['PRESENT', 'ABSENT', 'EXCUSED'].map((mark) => h('option', { value: mark, text: word(mark), selected: (marks.get(member.id) || 'PRESENT') === mark }))));
    section.append(h('form', { 'data-testid': 'attendance-form', 'data-meeting-id': m.id, class: 'attendance', onsubmit: async (ev) => {
      ev.preventDefault();
      const entries = selects.map((s) => ({ membershipId: s.dataset.membershipId, mark: s.value }));
      const payload = await mutate('recordAttendance', { meetingId: m.id, entries }, errors, save);
      if (payload) setStatus(`Attendance saved for ${when(m.startsAt)}.`);
    } },
    h('h3', { text: `${when(m.startsAt)}${m.attendanceRate !== null ? ` · ${pct(m.attendanceRate)} present` : ''}` }),
    active.map((member, i) => field(member.person.displayName, selects[i])), errors, save));
  }
  root.append(section);
}

function renderMembers(ctx) {
  const { activity, level, root } = ctx;
  if (!activity || !(isInstructor() || level >= LEVEL.facilitator)) return;
  const members = activity.members;
  root.append(h('section', { class: 'card' }, h('h2', { text: `Members (${members.totalCount})` }),
    h('ul', { id: 'members', class: 'members' }, members.nodes.map((m) => h('li', { 'data-membership-id': m.id },
      h('strong', { text: m.person.displayName }), ' ',
      h('span', { class: 'meta', text: `${word(m.role)} · ${word(m.status)}` }), ' ',
      m.status === 'ACTIVE' ? h('span', { class: `badge level-${m.participation}`, text: word(m.participation) }) : null))),
    members.totalCount > members.nodes.length ? h('p', { class: 'meta', text: `Showing the first ${members.nodes.length}.` }) : null));
}

function renderHealth(ctx, terminal) {
  const { health, level, root } = ctx;
  if (!health) return;
  const hl = health.health;
  root.append(h('section', { id: 'health', class: 'card' }, h('h2', { text: 'Health' }),
    h('p', {}, h('span', { id: 'health-status', class: `badge health-${hl.status}`, text: word(hl.status) })),
    h('ul', { id: 'health-reasons' }, hl.reasons.map((r) => h('li', { text: r }))),
    h('p', { class: 'meta', text: `Active members ${pct(hl.activeMemberRatio)} · ${num(hl.checkInsPerMemberPerWeek)} check-ins per member per week${hl.attendanceRate !== null ? ` · attendance ${pct(hl.attendanceRate)}` : ''}${hl.leaderActive ? '' : ' · no active leader'}` })));
  const ev = health.evaluation;
  const section = h('section', { id: 'evaluation', class: 'card' }, h('h2', { text: 'Evaluation' }),
    h('p', {}, 'Recommendation: ', h('strong', { id: 'evaluation-recommendation', text: word(ev.recommendation) })),
    h('p', { id: 'evaluation-summary', text: ev.summary }),
    h('ul', { id: 'evaluation-results' }, ev.results.map((r) => h('li', { class: r.holds ? 'holds' : '' },
      h('span', { class: 'meta', text: `${r.holds ? 'Holds' : 'Does not hold'} (${word(r.criterion.effect).toLowerCase()}): ` }), r.explanation))));
  if (level === LEVEL.leader && !terminal && ctx.face.stage === 'ACTIVE' && ev.recommendation !== 'CONTINUE') {
    const errors = alertBox('apply-errors');
    const retro = h('textarea', { id: 'retrospective', rows: 3, maxlength: 10000 });
    const button = h('button', { id: 'apply-evaluation', type: 'submit', class: 'danger', text: ev.recommendation === 'GRADUATE' ? 'Graduate the cohort as recommended' : 'Disband the cohort as recommended' });
    section.append(h('form', { id: 'apply-form', onsubmit: async (e) => {
      e.preventDefault();
      const input = { cohortId: ctx.id };
      if (retro.value.trim()) input.retrospective = retro.value.trim();
      const payload = await mutate('applyEvaluation', input, errors, button);
      if (payload) { setStatus(`The cohort is now ${word(payload.cohort.stage).toLowerCase()}.`); await openCohort(ctx.id, { keepStatus: true }); }
    } }, h('p', { class: 'note', text: 'This ends the cohort for good; it stays readable.' }), field('Retrospective (optional)', retro), errors, button));
  } else if (level === LEVEL.leader && !terminal && ctx.face.stage === 'ACTIVE') {
    section.append(h('p', { class: 'meta', text: 'Nothing to apply while the evaluation says to continue.' }));
  }
  root.append(section);
}

// ---------------------------------------------------------------------------------------------
// Start

async function start(session) {
  if (expired(session)) { endSession('Your session has expired. Open Afterclass again from your course.'); return; }
  app.session = session;
  setStatus('Signing in…');
  let data;
  try {
    data = await gql('viewer');
  } catch (err) {
    if (app.session) endSession(err.message);
    setStatus('');
    return;
  }
  app.viewer = data.viewer;
  if (app.viewer.role === 'INTEGRATION') { endSession('This is the LMS integration account: it does not act as a person, so it has no page here.'); return; }
  session.role = app.viewer.role.toLowerCase();
  if (!session.person && app.viewer.person) session.person = { externalId: app.viewer.person.externalId, displayName: app.viewer.person.displayName };
  keepSession(session);
  const who = document.getElementById('who');
  who.textContent = `${(app.viewer.person && app.viewer.person.displayName) || ''} · ${word(app.viewer.role === 'INSTRUCTOR' ? 'instructor' : 'trainee')}${session.course ? ` · ${session.course.title}` : ''}`;
  setStatus('');
  let view = null;
  try { view = sessionStorage.getItem(`${STORE_KEY}-view`); } catch (_) { /* memory only */ }
  if (view && view !== 'home' && view !== 'create') await openCohort(view);
  else await renderHome();
}

function boot() {
  const embedded = readEmbeddedSession();
  if (embedded) {
    // A fresh launch starts at the list.
    try { sessionStorage.removeItem(`${STORE_KEY}-view`); } catch (_) { /* memory only */ }
  }
  const fragment = embedded ? null : readFragmentSession();
  if (fragment) { try { sessionStorage.removeItem(`${STORE_KEY}-view`); } catch (_) { /* memory only */ } }
  const session = embedded || fragment || storedSession();
  const loading = document.getElementById('loading');
  if (loading) loading.remove();
  if (!session || !session.token) { renderSignedOut(null); return; }
  start(session);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
