"""Who sees what: the pages of each role and the personal data each role may read.

- advisor: their own interviews with the candidates' names, age and contact details; the other
  advisors' schedules without any personal data;
- director: every figure and list, candidates' names but no contact details;
- marketing: aggregates only; a breakdown by a personal attribute hides groups under 5, and a
  partner so that none is recomputed from the total, and is not shown for fewer than 20 candidates;
- admin: everything, plus the data page and the audit log.

Whatever the role, a video room's host link is seen by the interview's advisor only: it makes
whoever opens it the host of the room (not even a director or an admin sees it).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from services.access.accounts import SignedIn
from services.logs import redact

#: Page → the roles that may open it (the navigation registers a page only for these).
PAGES: dict[str, tuple[str, ...]] = {
    "results": ("director", "advisor", "marketing", "admin"),
    "jobdating": ("director", "advisor", "marketing", "admin"),
    "schedule": ("director", "advisor", "admin"),
    "jobdating_planning": ("director", "advisor", "admin"),
    "channels": ("director", "marketing", "admin"),
    "data": ("admin",),
    "audit": ("admin",),
    "privacy": ("admin",),
}
#: A group of fewer candidates than this (0 included) is hidden in a breakdown by personal attribute.
SMALL_GROUP = 5
#: A breakdown by personal attribute of fewer candidates than this is not shown at all
#: (docs/privacy.md, *Petits effectifs*).
MIN_SCOPE = 20
#: What a hidden group reads (the page translates it): the same for a small group and its partner.
SUPPRESSED = "suppressed"
#: Columns of an interview that identify or reach the candidate.
CONTACT_COLUMNS = ("email", "phone")
IDENTITY_COLUMNS = ("candidate_ref", "candidate", "age", "minor", "meeting_url")
#: Columns of an interview that only its own advisor may read, whatever the viewer's role.
ADVISOR_ONLY_COLUMNS = ("host_room_url",)
#: What a hidden cell reads.
HIDDEN = "—"


@dataclass(frozen=True)
class Viewer:
    """What decides what a person sees: their role and, for an advisor, which advisor they are.

    Hashable and plain, so that cached results are keyed on it and never shared between
    people whose rights differ.
    """

    role: str
    advisor_email: str | None = None

    @classmethod
    def of(cls, account: SignedIn) -> Viewer:
        """The viewer of a signed-in account."""
        return cls(account.role, account.advisor_email if account.role == "advisor" else None)


def may_open(page: str, role: str) -> bool:
    """Whether a role may open a page."""
    return role in PAGES[page]


def pages_for(role: str) -> list[str]:
    """The pages of a role, in the navigation's order."""
    return [page for page, roles in PAGES.items() if role in roles]


def sees_personal_data(viewer: Viewer) -> bool:
    """Whether this viewer's pages show candidates' names (their views are audited)."""
    return viewer.role in {"director", "advisor", "admin"}


def reads_all_contacts(viewer: Viewer) -> bool:
    """Whether this viewer reads any candidate's and parent's e-mail address and phone number (an
    advisor reads those of their own interviews only, through ``interviews_for``)."""
    return viewer.role == "admin"


def recipient_for(viewer: Viewer, party: str, address: str) -> str:
    """The address of a message to a job dating's ``party`` (company, candidate, parent) as this
    viewer may read it: a company's as it is, a candidate's or a parent's only for a viewer who
    reads every contact (``HIDDEN`` otherwise)."""
    return address if party == "company" or reads_all_contacts(viewer) else HIDDEN


def contacts_hidden(viewer: Viewer, text: str) -> str:
    """A text of the app's or of an outside server's (a mail server's refusal names the address)
    with its e-mail addresses and phone numbers masked, unless this viewer reads every contact."""
    return text if reads_all_contacts(viewer) else redact(text)


def may_record_outcome(viewer: Viewer, advisor_email: str | None) -> bool:
    """An advisor records the outcomes of their own interviews; an admin, of any."""
    return viewer.role == "admin" or (viewer.role == "advisor" and viewer.advisor_email == advisor_email)


def interviews_for(schedule: pd.DataFrame, viewer: Viewer) -> pd.DataFrame:
    """The interviews with only the personal data this viewer may read (other cells read "—")."""
    if viewer.role not in PAGES["schedule"]:
        raise PermissionError(f"le rôle {viewer.role} ne voit pas les plannings")
    shown = schedule.copy()
    own = (viewer.role == "advisor") & (shown["advisor_email"] == viewer.advisor_email)
    for column in ADVISOR_ONLY_COLUMNS:
        if column in shown.columns:
            shown[column] = shown[column].astype(object).where(own, HIDDEN)
    if viewer.role == "admin":
        return shown
    contacts = [column for column in CONTACT_COLUMNS if column in shown.columns]
    hidden = pd.Series(True, index=shown.index)
    columns = contacts
    if viewer.role == "advisor":
        hidden = shown["advisor_email"] != viewer.advisor_email
        columns = [*contacts, *(column for column in IDENTITY_COLUMNS if column in shown.columns)]
    for column in columns:
        shown[column] = shown[column].astype(object).where(~hidden, HIDDEN)
    return shown


def candidates_for(candidates: pd.DataFrame, viewer: Viewer) -> pd.DataFrame:
    """A list of candidates by name, for a viewer who may read names (marketing sees counts only)."""
    if not sees_personal_data(viewer):
        raise PermissionError(f"le rôle {viewer.role} ne voit pas de liste de candidats")
    return candidates


def names_shown(schedule: pd.DataFrame) -> bool:
    """Whether interviews as a viewer gets them show at least one candidate's name."""
    names = schedule["candidate"]
    return bool((names.notna() & (names != HIDDEN) & (names != "")).any())


def hide_small_groups(counts: pd.DataFrame, column: str = "candidates") -> pd.DataFrame:
    """A breakdown by personal attribute as marketing may see it (docs/privacy.md, *Petits effectifs*).

    ``counts`` holds every candidate of the scope once (its groups add up to the scope's total,
    which marketing reads elsewhere: the results page's *booked*). The counts become text:

    - fewer than ``MIN_SCOPE`` candidates in all: no row at all;
    - a group under ``SMALL_GROUP``, 0 included, reads ``SUPPRESSED`` (a 0 that showed would
      differ from a hidden 1);
    - while one group alone is hidden, or the hidden ones hold fewer than ``SMALL_GROUP``
      together, the smallest shown group (the first on a tie) is hidden as well: the total minus
      the shown groups then never gives a hidden group back, nor says they are all small.
    """
    values = [int(count) for count in counts[column]]
    if sum(values) < MIN_SCOPE:
        return counts.iloc[0:0].astype({column: object})
    hidden = {row for row, count in enumerate(values) if count < SMALL_GROUP}
    partners = sorted(set(range(len(values))) - hidden, key=lambda row: (values[row], row))
    for row in partners:
        if not hidden or (len(hidden) > 1 and sum(values[h] for h in hidden) >= SMALL_GROUP):
            break
        hidden.add(row)
    shown = counts.copy()
    shown[column] = [SUPPRESSED if row in hidden else str(count) for row, count in enumerate(values)]
    return shown
