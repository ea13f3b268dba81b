"""Labels the code picks at run time (``t(f"col.{name}")``), written out for ``pybabel extract``.

A key built from a value is invisible to the extractor: each family below lists its keys,
so that the catalogues hold them and tests/test_i18n.py can tell a used label from a dead one.
A new value of one of these families (a column, a channel, an audit action...) adds its key
here, then `python tools/catalogues.py update` (docs/translations.md).
"""

from services.i18n import N_

# Column headers: ``.rename(columns=lambda c: t(f"col.{c}"))`` on the pages' tables.
COL = (
    N_("col.advisor"),
    N_("col.age"),
    N_("col.at"),
    N_("col.attended"),
    N_("col.booked"),
    N_("col.booking_to_enrollment"),
    N_("col.by"),
    N_("col.candidate"),
    N_("col.candidates"),
    N_("col.click_rate"),
    N_("col.click_to_booking"),
    N_("col.click_to_open"),
    N_("col.clicked"),
    N_("col.code"),
    N_("col.column"),
    N_("col.companies"),
    N_("col.companies_previous"),
    N_("col.day"),
    N_("col.detail"),
    N_("col.earlier_bookings"),
    N_("col.email"),
    N_("col.enrolled"),
    N_("col.first_free"),
    N_("col.free_slots"),
    N_("col.group"),
    N_("col.high"),
    N_("col.interviews"),
    N_("col.level"),
    N_("col.low"),
    N_("col.minor"),
    N_("col.name"),
    N_("col.new"),
    N_("col.offers"),
    N_("col.offers_previous"),
    N_("col.old"),
    N_("col.open_rate"),
    N_("col.opened"),
    N_("col.origin_channel"),
    N_("col.path"),
    N_("col.people"),
    N_("col.phone"),
    N_("col.position"),
    N_("col.positions"),
    N_("col.positions_previous"),
    N_("col.pre_registered"),
    N_("col.program"),
    N_("col.program_code"),
    N_("col.reached"),
    N_("col.rows"),
    N_("col.rule"),
    N_("col.seats"),
    N_("col.sent"),
    N_("col.site"),
    N_("col.site_code"),
    N_("col.source"),
    N_("col.status"),
    N_("col.table"),
    N_("col.target"),
    N_("col.time"),
    N_("col.touchpoints"),
    N_("col.utm_campaign"),
    N_("col.value"),
    N_("col.variants"),
    N_("col.week"),
    N_("col.what"),
)

# Columns of the Données page's tables (``f"data.col.{c}"``).
DATA_COL = (
    N_("data.col.accepted"),
    N_("data.col.advisor_email"),
    N_("data.col.created_at"),
    N_("data.col.disabled"),
    N_("data.col.email"),
    N_("data.col.file"),
    N_("data.col.inserted"),
    N_("data.col.kind"),
    N_("data.col.locked_until"),
    N_("data.col.problems"),
    N_("data.col.role"),
    N_("data.col.rows"),
    N_("data.col.unchanged"),
    N_("data.col.updated"),
)

# The tables one may export from the Données page (``f"data.table.{name}"``).
DATA_TABLE = (
    N_("data.table.accounts"),
    N_("data.table.advisors"),
    N_("data.table.audit_events"),
    N_("data.table.booking_changes"),
    N_("data.table.booking_notes"),
    N_("data.table.bookings"),
    N_("data.table.campaigns"),
    N_("data.table.candidates"),
    N_("data.table.channel_rules"),
    N_("data.table.companies"),
    N_("data.table.enrollments"),
    N_("data.table.events"),
    N_("data.table.import_runs"),
    N_("data.table.meetings"),
    N_("data.table.offers"),
    N_("data.table.programs"),
    N_("data.table.sites"),
    N_("data.table.touchpoints"),
)

# Columns of the job-dating planning page (``f"jdplan.col.{column}"``).
JDPLAN_COL = (
    N_("jdplan.col.at"),
    N_("jdplan.col.by"),
    N_("jdplan.col.candidate"),
    N_("jdplan.col.candidate_ref"),
    N_("jdplan.col.company"),
    N_("jdplan.col.contract_signed_on"),
    N_("jdplan.col.field"),
    N_("jdplan.col.first_name"),
    N_("jdplan.col.new"),
    N_("jdplan.col.offer_ref"),
    N_("jdplan.col.old"),
    N_("jdplan.col.outcome"),
    N_("jdplan.col.program"),
    N_("jdplan.col.program_code"),
    N_("jdplan.col.rank"),
    N_("jdplan.col.ref"),
    N_("jdplan.col.site_code"),
    N_("jdplan.col.status"),
)

# A consent of a selection of candidates (``f"jdplan.consent.many.{choice}"``).
JDPLAN_CONSENT_CHOICE = (
    N_("jdplan.consent.many.no"),
    N_("jdplan.consent.many.unchanged"),
    N_("jdplan.consent.many.yes"),
)

# Kinds of the job-dating e-mails (``f"jdplan.mail.kind.{kind}"``, services.integrations.invitations).
JDPLAN_MAIL_KIND = (
    N_("jdplan.mail.kind.cancel"),
    N_("jdplan.mail.kind.schedule"),
    N_("jdplan.mail.kind.update"),
)

# Meeting statuses (``f"jdplan.status.{status}"``, services.meetings.MEETING_STATUSES).
JDPLAN_STATUS = (
    N_("jdplan.status.cancelled"),
    N_("jdplan.status.held"),
    N_("jdplan.status.no_show"),
    N_("jdplan.status.planned"),
)

# Meeting outcomes (``f"jdplan.outcome.{outcome}"``, MEETING_OUTCOMES).
JDPLAN_OUTCOME = (
    N_("jdplan.outcome.both_interested"),
    N_("jdplan.outcome.candidate_interested"),
    N_("jdplan.outcome.company_interested"),
    N_("jdplan.outcome.contract_signed"),
    N_("jdplan.outcome.none"),
)

# Columns of the job-dating page (``f"jobdating.col.{column}"``).
JOBDATING_COL = (
    N_("jobdating.col.company"),
    N_("jobdating.col.contracts"),
    N_("jobdating.col.contracts_dated"),
    N_("jobdating.col.days_to_contract"),
    N_("jobdating.col.enrollment_status"),
    N_("jobdating.col.first_name"),
    N_("jobdating.col.gap"),
    N_("jobdating.col.held"),
    N_("jobdating.col.last_name"),
    N_("jobdating.col.mutual_interest"),
    N_("jobdating.col.no_show"),
    N_("jobdating.col.offer_ref"),
    N_("jobdating.col.offers"),
    N_("jobdating.col.offers_previous"),
    N_("jobdating.col.planned"),
    N_("jobdating.col.positions_previous"),
    N_("jobdating.col.program"),
    N_("jobdating.col.program_code"),
    N_("jobdating.col.published_on"),
    N_("jobdating.col.site"),
    N_("jobdating.col.site_code"),
    N_("jobdating.col.uncovered_candidates"),
    N_("jobdating.col.uncovered_offers"),
    N_("jobdating.col.uncovered_positions"),
)

# Steps of the meetings-to-contracts funnel (``f"jobdating.step.{step}"``).
JOBDATING_STEP = (
    N_("jobdating.step.contracts"),
    N_("jobdating.step.held"),
    N_("jobdating.step.mutual_interest"),
    N_("jobdating.step.planned"),
)

# Enrollment statuses of seeking candidates (``f"jobdating.enrollment.{status}"``).
JOBDATING_ENROLLMENT = (
    N_("jobdating.enrollment.enrolled"),
    N_("jobdating.enrollment.pre_registered"),
)

# Tables a purge or an erasure touches (``f"privacy.table.{table}"``).
PRIVACY_TABLE = (
    N_("privacy.table.attendance_suggestions"),
    N_("privacy.table.booking_changes"),
    N_("privacy.table.booking_notes"),
    N_("privacy.table.bookings"),
    N_("privacy.table.candidates"),
    N_("privacy.table.enrollments"),
    N_("privacy.table.meeting_changes"),
    N_("privacy.table.meeting_suggestions"),
    N_("privacy.table.mail_sends"),
    N_("privacy.table.meetings"),
    N_("privacy.table.room_attempts"),
    N_("privacy.table.touchpoints"),
)

# What a purge does to a table (``f"privacy.action.{action}"``).
PRIVACY_ACTION = (
    N_("privacy.action.anonymised"),
    N_("privacy.action.deleted"),
)

# Audit actions (``services.audit.action_label``: ``f"audit.action.{action}"``).
# tests/test_access.py checks that every recorded action has one.
AUDIT_ACTION = (
    N_("audit.action.account.add"),
    N_("audit.action.account.disable"),
    N_("audit.action.account.enable"),
    N_("audit.action.account.locked"),
    N_("audit.action.account.set_password"),
    N_("audit.action.account.set_role"),
    N_("audit.action.attendance.confirm"),
    N_("audit.action.attendance.dismiss"),
    N_("audit.action.booking.outcome"),
    N_("audit.action.booking.reassign"),
    N_("audit.action.calcom.mapping"),
    N_("audit.action.calcom.mapping.delete"),
    N_("audit.action.candidate.erase"),
    N_("audit.action.candidate.export"),
    N_("audit.action.candidate.presentation_consent"),
    N_("audit.action.company.windows"),
    N_("audit.action.demo.end"),
    N_("audit.action.export"),
    N_("audit.action.import"),
    N_("audit.action.mail.send"),
    N_("audit.action.meeting.outcome"),
    N_("audit.action.meeting.plan"),
    N_("audit.action.purge"),
    N_("audit.action.room.adopt"),
    N_("audit.action.room.create"),
    N_("audit.action.room.delete"),
    N_("audit.action.room.relink"),
    N_("audit.action.sign_in"),
    N_("audit.action.sign_in.failed"),
    N_("audit.action.sign_out"),
    N_("audit.action.sso_group.map"),
    N_("audit.action.sso_group.unmap"),
    N_("audit.action.view"),
)

# Age bands of the audience (``f"age.{band}"``).
AGE = (
    N_("age.15_17"),
    N_("age.18_20"),
    N_("age.21_25"),
    N_("age.26_plus"),
    N_("age.under_15"),
    N_("age.unknown"),
)

# Channels (``f"channel.{channel}"``, services.channels.CHANNELS).
CHANNEL = (
    N_("channel.direct"),
    N_("channel.email"),
    N_("channel.newspaper"),
    N_("channel.other"),
    N_("channel.search"),
    N_("channel.social"),
)

# Attribution models (``f"model.{model}"``, services.attribution.MODELS).
MODEL = (
    N_("model.first_touch"),
    N_("model.last_touch"),
    N_("model.linear"),
    N_("model.markov"),
    N_("model.position_based"),
    N_("model.time_decay"),
)

# Attribution goals (``f"goal.{goal}"``).
GOAL = (
    N_("goal.booking"),
    N_("goal.enrollment"),
)

# Booking statuses (``f"status.{status}"``).
STATUS = (
    N_("status.attended"),
    N_("status.booked"),
    N_("status.cancelled"),
    N_("status.no_show"),
)

# Programme levels (``f"level.{level}"``, services.store.models.PROGRAM_LEVELS): the contract's
# codes as a reader names them.
LEVEL = (
    N_("level.BAC_PRO"),
    N_("level.BTS"),
    N_("level.CAP"),
    N_("level.CQPM"),
    N_("level.INGENIEUR"),
    N_("level.LICENCE_PRO"),
    N_("level.TITRE_PRO"),
)

# Steps of the open days' funnel (``f"step.{step}"``).
STEP = (
    N_("step.attended"),
    N_("step.booked"),
    N_("step.enrolled"),
    N_("step.reached"),
)

# Roles (``f"role.{role}"``, services.access.ROLES).
ROLE = (
    N_("role.admin"),
    N_("role.advisor"),
    N_("role.director"),
    N_("role.marketing"),
)

# Findings of the Résultats page (``f"signal.{kind}"``).
SIGNAL = (
    N_("signal.full_day"),
    N_("signal.high_no_show"),
    N_("signal.seats_without_booking"),
)

# Help of the KPI cards (``f"{LABELS[name]}.help"`` in pages/directors/results.py).
KPI = (
    N_("kpi.booked.help"),
    N_("kpi.conversion.help"),
    N_("kpi.cost_per_enrollment.help"),
    N_("kpi.enrolled.help"),
    N_("kpi.family_attendance.help"),
    N_("kpi.show_rate.help"),
    N_("kpi.spend.help"),
)

# Attendance read in a call (``f"schedule.suggestion.{key}"`` in services.whereby).
SCHEDULE_SUGGESTION = (
    N_("schedule.suggestion.advisor_absent"),
    N_("schedule.suggestion.attended"),
    N_("schedule.suggestion.attended_family"),
    N_("schedule.suggestion.no_show"),
    N_("schedule.suggestion.nobody"),
)

# Day or week view of the schedule (``f"schedule.view.{v}"``).
SCHEDULE_VIEW = (
    N_("schedule.view.day"),
    N_("schedule.view.week"),
)
