"""The ``externalId`` Rencontres puts in a Whereby room link, and the links that carry it.

Whereby records a link's ``externalId`` with each participant (insights, webhooks) and refuses
one outside ``A-Za-z0-9-_`` or longer than 36 characters; our booking and meeting refs may hold
``/``, spaces or 45 characters (``RDV-2027/001``). A ref that Whereby takes is used as it is (the
links made before this rule stay as they were); any other becomes a readable prefix (its letters,
digits, ``-`` and ``_``, the others replaced by ``_``, cut to 25 characters) then ``_`` and the
first 10 hex digits of the SHA-256 of the whole ref. Stable (a function of the ref alone) and
distinct: a ref used as it is never ends like a derived id (such a ref is derived too), and two
derived ids differ by their hash when the refs differ, also when only the replaced characters do.

This module imports nothing of the project, so that the job-dating schedules can use it too.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: What Whereby takes as an ``externalId``.
EXTERNAL_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")
#: A derived id ends with ``_`` and 10 lower-case hex digits.
DERIVED = re.compile(r".*_[0-9a-f]{10}")
HASH_LENGTH = 10
READABLE_LENGTH = 36 - 1 - HASH_LENGTH
#: The company's own id in a job-dating meeting's room: this prefix and the meeting's ref.
COMPANY_MARK = "entreprise:"


def external_id(ref: str) -> str:
    """The ``externalId`` of a booking's or a meeting's links (see the module's docstring)."""
    if EXTERNAL_ID.fullmatch(ref) and not DERIVED.fullmatch(ref):
        return ref
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", ref)[:READABLE_LENGTH]
    return f"{readable}_{hashlib.sha256(ref.encode()).hexdigest()[:HASH_LENGTH]}"


def company_external_id(meeting_ref: str) -> str:
    """The ``externalId`` of the company's link to a job-dating meeting's room: the call tells the
    company from the candidate by it."""
    return external_id(f"{COMPANY_MARK}{meeting_ref}")


def link_external_id(url: str | None) -> str | None:
    """The ``externalId`` a link carries, if any."""
    if not url:
        return None
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)).get("externalId")


def with_external_id(url: str, external: str) -> str:
    """A room link whose ``externalId`` is ``external`` (any other one replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "externalId"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("externalId", external)])))


def company_link(url: str | None, meeting_ref: str) -> str | None:
    """The link a company gets to a meeting's room: the candidate's, with the company's
    ``externalId``; a link that is not ours (no candidate's ``externalId``) is left as it is."""
    if isinstance(url, str) and link_external_id(url) == external_id(meeting_ref):
        return with_external_id(url, company_external_id(meeting_ref))
    return url
