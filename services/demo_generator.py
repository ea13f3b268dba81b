"""The demo's rows, drawn deterministically from a seed: candidates (many minors) whose journeys
mix social networks, local newspaper sites, e-mail campaigns, search and direct visits, each
channel converting in its own way; their bookings, enrollments, the companies, offers and
job-dating meetings. Instants are computed in bulk (numpy) for the large scales of the benchmark.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate, count

import numpy as np

from services.config import LOCAL_TZ
from services.demo_centre import (
    BOOKING_PROPENSITY,
    CANDIDATES_PER_SITE,
    COMPANY_WORDS,
    DEFAULT_CANDIDATES,
    DEFAULT_SEED,
    DEMO_CANDIDATES_PER_SITE,
    ENROLLMENT_PROPENSITY,
    FIRST_NAMES,
    JOB_DATING,
    LAST_NAMES,
    MORNING_SLOTS,
    NETWORK_BOOKING_FACTOR,
    NETWORK_FROM,
    NETWORK_TOUCHES,
    NEWSPAPERS,
    NO_SHOW_FACTOR,
    OFFERINGS,
    OPERATIONS,
    POSTAL_PREFIXES,
    PROGRAMS,
    SECTORS,
    SITES,
    SLOT_STARTS,
    SOCIAL_SOURCES,
    TOWNS,
    UNBOOKED_OFFERINGS,
    Operation,
)
from services.imports.importer import gc_paused
from services.store.contract import IMPORT_ORDER, SPECS


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=LOCAL_TZ)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


#: Instants of the hot tables are kept as wall-clock microseconds (Europe/Paris) since this
#: naive epoch while generating, and turned into datetimes or stored text in one pass.
_WALL_EPOCH = datetime(1970, 1, 1)
_LOCAL_EPOCH = _WALL_EPOCH.replace(tzinfo=LOCAL_TZ)
_US = timedelta(microseconds=1)
_US_PER_DAY = 86_400_000_000
_EMAIL_LETTERS = str.maketrans("éèëïô", "eeeio")
#: Candidates per part of the rows as ``Builder.parts`` hands them over (with their touchpoints,
#: bookings and enrollments): the bulk seed writes a part while the next one is drawn.
CANDIDATES_PER_PART = 5_000


def _days_to_us(days: np.ndarray) -> np.ndarray:
    """``timedelta(days=d) // 1 µs`` for each float ``d >= 0``, rounded exactly as CPython does.

    CPython keeps the whole days exact, scales the fraction by the microseconds of a day,
    keeps its whole part and rounds what is left half to even (on the running total).
    """
    if days.size and days.min() < 0:
        raise ValueError("negative durations are not generated")
    fraction, whole = np.modf(days)
    leftover, micro = np.modf(fraction * float(_US_PER_DAY))
    exact = whole.astype(np.int64) * _US_PER_DAY + micro.astype(np.int64)
    half_up = np.where(leftover == 0.5, exact & 1, 0)
    return exact + np.where(leftover > 0.5, 1, half_up)


def wall_microseconds(moments: list[datetime]) -> np.ndarray:
    """Wall-clock microseconds of Europe/Paris datetimes (as ``_WALL_EPOCH`` counts them)."""
    return np.array(
        [(moment.replace(tzinfo=None) - _WALL_EPOCH) // _US for moment in moments], dtype=np.int64
    )


def _utc_seconds(wall_us: np.ndarray) -> np.ndarray:
    """The UTC instants (seconds since 1970, microseconds dropped) of Europe/Paris wall-clock
    microseconds, read with fold=0 as ``datetime(..., tzinfo=LOCAL_TZ).astimezone(UTC)`` does.

    The offset is looked up once per wall-clock hour; an hour whose offset changes inside it
    (none in Europe/Paris: its changes fall on the hour) is read second by second.
    """
    wall = wall_us // 1_000_000
    hours, inverse = np.unique(wall // 3600, return_inverse=True)
    offsets = np.empty(len(hours), dtype=np.int64)
    mixed = []
    for index, hour in enumerate(hours.tolist()):
        start = _WALL_EPOCH + timedelta(hours=hour)
        first = LOCAL_TZ.utcoffset(start)
        if first == LOCAL_TZ.utcoffset(start + timedelta(seconds=3599)):
            offsets[index] = first // timedelta(seconds=1)
        else:
            mixed.append(index)
    utc = wall - offsets[inverse.reshape(-1)]
    for index in mixed:
        (rows,) = np.nonzero(inverse.reshape(-1) == index)
        for row in rows.tolist():
            moment = _WALL_EPOCH + timedelta(seconds=int(wall[row]))
            utc[row] = wall[row] - LOCAL_TZ.utcoffset(moment) // timedelta(seconds=1)
    return utc


#: SQLAlchemy's SQLite text of a UtcDateTime, to the second: its characters, and where each
#: field's digits go (the first position, the number of digits).
_SQLITE_INSTANT = np.array([ord(character) for character in "0000-00-00 00:00:00.000000"], dtype=np.uint32)
_SQLITE_FIELDS = ((0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2))


def sqlite_instants(wall_us: np.ndarray) -> list[str]:
    """SQLAlchemy's SQLite text of UtcDateTime for these wall-clock instants, to the second.

    The digits of each field are written into an array of the text's characters (UCS-4), read
    back as strings in one pass.
    """
    if not len(wall_us):
        return []
    days, clock = np.divmod(_utc_seconds(wall_us), 86_400)
    day = days.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    year = month.astype("datetime64[Y]")
    years = year.astype(np.int64) + 1970
    if years.min() < 1000 or years.max() > 9999:
        raise ValueError("instants outside years 1000 to 9999 are not generated")
    fields = (
        years,
        month.astype(np.int64) % 12 + 1,
        (day - month).astype(np.int64) + 1,
        clock // 3600,
        clock // 60 % 60,
        clock % 60,
    )
    # One row per character (each written whole), then one row per instant.
    characters = np.empty((len(_SQLITE_INSTANT), len(days)), dtype=np.uint32)
    characters[:] = _SQLITE_INSTANT[:, None]
    for (start, width), values in zip(_SQLITE_FIELDS, fields, strict=True):
        for position in range(start + width - 1, start - 1, -1):
            values, digit = np.divmod(values, 10)
            characters[position] += digit.astype(np.uint32)
    return np.ascontiguousarray(characters.T).view(f"<U{len(_SQLITE_INSTANT)}").ravel().tolist()


def server_instants(wall_us: np.ndarray) -> list[datetime]:
    """Aware UTC datetimes (to the second) of these wall-clock instants, for PostgreSQL."""
    naive = _utc_seconds(wall_us).astype("datetime64[s]").astype(object)
    return [moment.replace(tzinfo=UTC) for moment in naive]


def _local_datetimes(wall_us: np.ndarray) -> list[datetime]:
    """Europe/Paris datetimes of wall-clock microseconds (fold=0, as datetime arithmetic gives)."""
    epoch = _LOCAL_EPOCH
    return [epoch + timedelta(microseconds=us) for us in wall_us.tolist()]


def _instants(
    bases: list[int], leads: list[float], touch_numbers: list[int], offsets: list[float]
) -> dict[str, tuple[int, np.ndarray]]:
    """The wall-clock instants of candidates and their touches (see ``Builder._candidates``):
    a candidate's first touch, ``lead`` days before the noon of their event day; each touch,
    ``offset`` days after their first."""
    first_touches = np.array(bases, dtype=np.int64) - _days_to_us(np.array(leads, dtype=np.float64))
    owners = np.repeat(np.arange(len(bases), dtype=np.int64), touch_numbers)
    touch_times = first_touches[owners] + _days_to_us(np.array(offsets, dtype=np.float64))
    return {"candidates": (8, first_touches), "touchpoints": (1, touch_times)}


def _drawn(choices: Sequence[str] | str) -> tuple[Sequence[str] | str, int, int]:
    """A tuple to draw from with its size and bit count, or a fixed value (size 0)."""
    if isinstance(choices, str):
        return choices, 0, 0
    return tuple(choices), len(choices), len(choices).bit_length()


def _weights(population: list, weights: list) -> tuple[tuple, list, float, int]:
    """What ``Random.choices(population, weights)`` computes before it draws, computed once."""
    cumulative = list(accumulate(weights))
    return tuple(population), cumulative, cumulative[-1] + 0.0, len(population) - 1


@dataclass
class Generated:
    """The generator's rows per contract file, as tuples in the order of ``names``.

    The instant column of a kind in ``instants`` (candidates' creation, touchpoints' time) is
    left out of its tuples: it is kept as wall-clock microseconds, converted in one pass.
    """

    names: dict[str, tuple[str, ...]]
    rows: dict[str, list[tuple]]
    instants: dict[str, tuple[int, np.ndarray]]

    def columns(self, kind: str) -> list[Sequence]:
        """The kind's columns (the instant one still as wall-clock microseconds)."""
        names, rows = self.names[kind], self.rows[kind]
        if not rows:
            return [[] for _ in names]
        columns: list[Sequence] = list(zip(*rows, strict=True))
        if kind in self.instants:
            position, wall_us = self.instants[kind]
            columns.insert(position, wall_us)
        return columns

    @classmethod
    def joined(cls, parts: Iterable[Generated]) -> Generated:
        """The parts of ``Builder.parts`` as one, each kind's rows in the order drawn."""
        names: dict[str, tuple[str, ...]] = {}
        rows: dict[str, list[tuple]] = {kind: [] for kind in IMPORT_ORDER}
        arrays: dict[str, tuple[int, list[np.ndarray]]] = {}
        for part in parts:
            names = part.names  # the kinds named so far: the last part names them all
            for kind, kind_rows in part.rows.items():
                rows[kind].extend(kind_rows)
            for kind, (position, wall_us) in part.instants.items():
                arrays.setdefault(kind, (position, []))[1].append(wall_us)
        instants = {kind: (position, np.concatenate(chunks)) for kind, (position, chunks) in arrays.items()}
        return cls(names, rows, instants)

    def dicts(self) -> dict[str, list[dict[str, object]]]:
        """Rows as dicts of typed values, instants as Europe/Paris datetimes."""
        result = {}
        for kind, names in self.names.items():
            columns = [
                _local_datetimes(column) if isinstance(column, np.ndarray) else column
                for column in self.columns(kind)
            ]
            result[kind] = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        return result


class Builder:
    """Accumulates the typed rows of every contract file (None where a cell is empty).

    The candidates' journeys (most of the rows) are drawn by ``_candidates``, which inlines
    the few ``random.Random`` methods it needs: the same draws from the same stream, so the
    same rows for a seed, without a Python call per draw.
    """

    def __init__(self, candidates: int, seed: int) -> None:
        self.random = random.Random(seed)
        self.count = candidates
        self.rows: dict[str, list[tuple]] = {kind: [] for kind in IMPORT_ORDER}
        self.names: dict[str, tuple[str, ...]] = {kind: () for kind in IMPORT_ORDER}
        self.network = candidates > NETWORK_FROM
        self.sites = list(SITES)
        self.offerings = dict(OFFERINGS)
        codes = [code for code, _, _ in PROGRAMS]
        for number in range(len(SITES) + 1, max(len(SITES), round(candidates / CANDIDATES_PER_SITE)) + 1):
            town = TOWNS[number % len(TOWNS)]
            code = f"S{number:03d}"
            department = self.random.choice(list(POSTAL_PREFIXES))
            self.sites.append((code, f"{town} {number}", town, department))
            self.offerings[code] = self.random.sample(codes, k=self.random.choice([4, 4, 5]))
        self.near: dict[str, list[str]] = {}
        for code, *_rest, department in self.sites:
            self.near.setdefault(department, []).append(code)
        per_site = candidates / len(self.sites)
        self.advisor_factor = max(1, round(per_site / DEMO_CANDIDATES_PER_SITE)) if self.network else 1

    def add(self, file: str, /, **cells: object) -> None:
        if not self.names[file]:
            self.names[file] = tuple(cells)
        self.rows[file].append(tuple(cells.values()))

    def build(self) -> Generated:
        """Every row at once."""
        return Generated.joined(self.parts())

    def parts(self) -> Iterator[Generated]:
        """The rows in parts, as they are drawn: the reference data and campaigns; then the
        candidates by ``CANDIDATES_PER_PART`` with their touchpoints, bookings and enrollments;
        then the companies, offers and job-dating meetings. The draws are those of one pass, in
        the same order: joined, the parts are the rows of ``build``."""
        self._reference_data()
        self._campaigns()
        yield self._handed_over({})
        for instants in self._candidates(CANDIDATES_PER_PART):
            yield self._handed_over(instants)
        self._companies_and_offers()
        self._meetings()
        yield self._handed_over({})

    def _handed_over(self, instants: dict[str, tuple[int, np.ndarray]]) -> Generated:
        """The rows added since the last part, as a part; the builder keeps none of them."""
        rows = {kind: kind_rows[:] for kind, kind_rows in self.rows.items()}
        for kind_rows in self.rows.values():
            kind_rows.clear()  # the same lists: the drawing code holds their append methods
        return Generated(dict(self.names), rows, instants)

    # -- reference data
    def _reference_data(self) -> None:
        names = dict((code, name) for code, name, _ in PROGRAMS)
        levels = dict((code, level) for code, _, level in PROGRAMS)
        self.advisors: dict[str, list[str]] = {}
        for code, name, city, department in self.sites:
            self.add("sites", code=code, name=name, city=city, department=department)
            for program in self.offerings[code]:
                seats = self.random.choice([12, 14, 15, 16, 18, 20, 24])
                self.add(
                    "programs",
                    code=program,
                    name=names[program],
                    level=levels[program],
                    site_code=code,
                    seats=seats,
                )
            self.advisors[code] = []
            for number in range((6 if code in {"MAX", "YUT", "MET"} else 4) * self.advisor_factor):
                first, last = self.random.choice(FIRST_NAMES), self.random.choice(LAST_NAMES)
                who = f"{first}.{last}.{number + 1}" if self.network else f"{first}.{last}"
                email = f"{who}.{code}".lower().translate(str.maketrans("éèëïô", "eeeio"))
                email = f"{email}@pole-formation-lorraine.fr"
                if email not in self.advisors[code]:
                    self.advisors[code].append(email)
                    self.add("advisors", email=email, name=f"{first} {last}", site_code=code)
        for operation in OPERATIONS:
            self.add(
                "events",
                code=operation.code,
                name=operation.name,
                kind=operation.kind,
                starts_on=operation.days[0],
                ends_on=operation.days[-1],
            )
        code, name, kind, first_day, last_day = JOB_DATING
        self.add("events", code=code, name=name, kind=kind, starts_on=first_day, ends_on=last_day)

    def _campaigns(self) -> None:
        self.campaign_codes: dict[tuple[str, str], list[str]] = {}
        plans = {
            "POP-2019-03": [
                ("radio", "other", 9500),
                ("presse-papier", "other", 12800),
                ("facebook", "social", 1800),
                ("google", "search", 1500),
                ("invitation", "email", 300),
            ],
            "POP-2020-01": [
                ("radio", "other", 9800),
                ("presse-papier", "other", 11500),
                ("facebook", "social", 2600),
                ("google", "search", 1700),
                ("invitation", "email", 350),
            ],
            "POV-2020-04": [
                ("facebook", "social", 3900),
                ("instagram", "social", 2100),
                ("snapchat", "social", 1400),
                ("est-republicain", "newspaper", 3200),
                ("republicain-lorrain", "newspaper", 2900),
                ("vosges-matin", "newspaper", 1600),
                ("invitation", "email", 450),
                ("relance", "email", 250),
                ("google", "search", 2400),
            ],
        }
        for operation in OPERATIONS:
            first = operation.days[0]
            for label, channel, spend in plans[operation.code]:
                code = f"{operation.code}-{label}".upper()
                starts = first - timedelta(days=30 if channel != "email" or label == "invitation" else 8)
                sent = opened = clicked = None
                if channel == "email":
                    sent = self.random.randint(5200, 7800)
                    opened = int(sent * self.random.uniform(0.28, 0.42))
                    clicked = int(opened * self.random.uniform(0.12, 0.24))
                self.add(
                    "campaigns",
                    code=code,
                    name=f"{operation.name} · {label}",
                    channel=channel,
                    event_code=operation.code,
                    starts_on=starts,
                    ends_on=operation.days[-1],
                    spend_eur=Decimal(spend),
                    sent=sent,
                    opened=opened,
                    clicked=clicked,
                )
                self.campaign_codes.setdefault((operation.code, channel), []).append(code)

    # -- candidates and their journeys
    def _candidates(self, per_part: int) -> Iterator[dict[str, tuple[int, np.ndarray]]]:
        """Every candidate with their touchpoints, bookings and enrollments, in the order drawn;
        after each ``per_part`` candidates (and the last), the instants of those drawn since the
        last time (``_instants``), their rows being in ``self.rows``.

        Each inlined draw is what ``random.Random`` does: ``choice(seq)`` is
        ``seq[_randbelow(len(seq))]`` (``getrandbits`` of the length's bit count until below
        it); ``choices(population, weights)[0]`` is ``population[bisect(cumulative,
        random() * total, 0, n - 1)]``; ``randint(a, b)`` is ``a + _randbelow(b - a + 1)``;
        ``uniform(a, b)`` is ``a + (b - a) * random()``.
        """
        rnd = self.random
        draw, bits = rnd.random, rnd.getrandbits
        candidates, touchpoints = self.rows["candidates"], self.rows["touchpoints"]
        add_candidate, add_touchpoint = candidates.append, touchpoints.append
        self.names["candidates"] = (
            "ref",
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_date",
            "postal_code",
            "marketing_consent",
            "created_at",
        )
        self.names["touchpoints"] = (
            "candidate_ref",
            "occurred_at",
            "channel",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "landing_page",
        )
        operations, operation_cumulative, operation_total, operation_hi = _weights(
            OPERATIONS, [o.share for o in OPERATIONS]
        )
        departments, department_cumulative, department_total, department_hi = _weights(
            ["54", "57", "88", "55"], [4, 4, 2, 1]
        )
        ages, age_cumulative, age_total, age_hi = _weights(
            [15, 16, 17, 18, 19, 20, 22, 25], [14, 22, 20, 14, 10, 8, 7, 5]
        )
        touch_counts = (
            _weights(*NETWORK_TOUCHES) if self.network else _weights([1, 2, 3, 4, 5], [30, 28, 20, 13, 9])
        )
        counts, count_cumulative, count_total, count_hi = touch_counts
        mixes = {o.code: _weights(list(o.channel_mix), list(o.channel_mix.values())) for o in OPERATIONS}
        noon = {
            day: (datetime.combine(day, time(12)) - _WALL_EPOCH) // _US for o in OPERATIONS for day in o.days
        }
        postal = {department: tuple(codes) for department, codes in POSTAL_PREFIXES.items()}
        names_at: dict[tuple[str, str], str] = {}
        consents = (True, False, True)
        first_names, last_names = tuple(FIRST_NAMES), tuple(LAST_NAMES)
        first_bits, last_bits = len(first_names).bit_length(), len(last_names).bit_length()
        first_count, last_count = len(first_names), len(last_names)
        # Per channel: the utm_source then the utm_medium, each drawn from a tuple or fixed.
        utm = {
            channel: (*_drawn(sources), *_drawn(mediums))
            for channel, sources, mediums in (
                ("social", SOCIAL_SOURCES, ("social", "paid_social", "social")),
                ("newspaper", NEWSPAPERS, ("display", "press", "referral")),
                ("email", "newsletter", ("email", "email", "E-mail")),
                ("search", ("google", "google", "bing", "qwant"), ("cpc", "organic")),
                ("other", ("radio", "affiche", "salon"), "offline"),
            )
        }
        campaigns = {key: tuple(code.lower() for code in codes) for key, codes in self.campaign_codes.items()}
        # Per operation and channel, what a touch draws, in order: the utm_source, the
        # utm_medium (each drawn from a tuple, or fixed), whether it may be mistyped (social),
        # the campaign codes it may carry (none for direct visits).
        touch_plans = {
            operation.code: {
                channel: (
                    *utm.get(channel, ("", 0, 0, "", 0, 0)),
                    channel == "social",
                    _drawn(codes)
                    if (codes := campaigns.get((operation.code, channel))) and channel != "direct"
                    else None,
                )
                for channel in operation.channel_mix
            }
            for operation in OPERATIONS
        }
        landings = ("/portes-ouvertes", "/formations", "/", "/visite-virtuelle")
        two_digits = tuple(str(number) for number in range(10, 100))
        # The booking propensity of a journey: its best channel's, scaled by its length.
        propensity_of = BOOKING_PROPENSITY.__getitem__
        length_scale = [0.85 + 0.05 * length for length in range(max(counts) + 1)]
        network = self.network
        booking = self._booking_drawer()
        # Per candidate: the wall-clock noon of the event day, the days back to the first touch
        # and the number of touches; per touch: the days after the first touch (0 for the first).
        bases: list[int] = []
        leads: list[float] = []
        touch_numbers: list[int] = []
        offsets: list[float] = []
        for number in range(1, self.count + 1):
            ref = f"C{number:05d}"
            operation = operations[bisect(operation_cumulative, draw() * operation_total, 0, operation_hi)]
            days = operation.days
            size = len(days)
            width = size.bit_length()
            pick = bits(width)
            while pick >= size:
                pick = bits(width)
            event_day = days[pick]
            department = departments[
                bisect(department_cumulative, draw() * department_total, 0, department_hi)
            ]
            age = ages[bisect(age_cumulative, draw() * age_total, 0, age_hi)]
            pick = bits(9)  # randint(0, 360)
            while pick >= 361:
                pick = bits(9)
            birth = event_day - timedelta(days=int(age * 365.25) + pick)
            pick = bits(first_bits)
            while pick >= first_count:
                pick = bits(first_bits)
            first = first_names[pick]
            pick = bits(last_bits)
            while pick >= last_count:
                pick = bits(last_bits)
            last = last_names[pick]
            mix, mix_cumulative, mix_total, mix_hi = mixes[operation.code]
            touches = counts[bisect(count_cumulative, draw() * count_total, 0, count_hi)]
            lead = 8 + (40 - 8) * draw()
            after = sorted([25 * draw() for _ in range(touches)])  # uniform(0, 25)
            after[0] = 0.0
            journey = [mix[bisect(mix_cumulative, draw() * mix_total, 0, mix_hi)] for _ in after]
            # The address's name part, lower-cased and without accents, once per name.
            person = names_at.get((first, last))
            if person is None:
                person = names_at[(first, last)] = f"{first}.{last}".lower().translate(_EMAIL_LETTERS)
            phone = "06"
            for _ in range(4):
                pick = bits(7)  # randint(10, 99)
                while pick >= 90:
                    pick = bits(7)
                phone = f"{phone} {two_digits[pick]}"
            codes = postal[department]
            size = len(codes)
            width = size.bit_length()
            pick = bits(width)
            while pick >= size:
                pick = bits(width)
            postal_code = codes[pick]
            pick = bits(2)  # the marketing consent, from (True, False, True)
            while pick >= 3:
                pick = bits(2)
            add_candidate(
                (ref, first, last, f"{person}{number}@exemple.fr", phone, birth, postal_code, consents[pick])
            )
            bases.append(noon[event_day])
            leads.append(lead)
            touch_numbers.append(touches)
            offsets.extend(after)
            plans = touch_plans[operation.code]
            for channel in journey:
                sources, size, width, mediums, medium_size, medium_width, social, campaign_codes = plans[
                    channel
                ]
                if size:
                    pick = bits(width)
                    while pick >= size:
                        pick = bits(width)
                    source = sources[pick]
                else:
                    source = sources
                if medium_size:
                    pick = bits(medium_width)
                    while pick >= medium_size:
                        pick = bits(medium_width)
                    medium = mediums[pick]
                else:
                    medium = mediums
                # Untidy tagging, as in real life: the hygiene checks show it.
                if social and draw() < 0.08:
                    pick = bits(2)
                    while pick >= 3:
                        pick = bits(2)
                    source = ("Facebook ", "FB", "Instagram")[pick]
                campaign = ""
                if campaign_codes is not None and draw() < 0.85:
                    codes, size, width = campaign_codes
                    pick = bits(width)
                    while pick >= size:
                        pick = bits(width)
                    campaign = codes[pick]
                    if draw() < 0.03:  # a tag typed by hand, unknown in the campaign list
                        pick = bits(2)
                        while pick >= 3:
                            pick = bits(2)
                        campaign = ("portes-ouvertes", "po-2020", "relance_avril")[pick]
                explicit = channel if draw() < 0.05 else None
                pick = bits(3)
                while pick >= 4:
                    pick = bits(3)
                add_touchpoint((ref, explicit, source, medium, campaign, landings[pick]))
            propensity = max(map(propensity_of, journey)) * length_scale[len(journey)]
            if network:
                propensity *= NETWORK_BOOKING_FACTOR
            if draw() < min(propensity, 0.95):
                first_touch = _at(event_day, time(12)) - timedelta(days=lead)
                last_touch = first_touch + timedelta(days=after[-1])
                booking(ref, operation, event_day, last_touch, journey[0], department)
            if number % per_part == 0 or number == self.count:
                yield _instants(bases, leads, touch_numbers, offsets)
                bases, leads, touch_numbers, offsets = [], [], [], []

    def _pick(self, seq: Sequence) -> object:
        """``self.random.choice(seq)``, the same draw without its two Python calls."""
        size = len(seq)
        if not size:
            raise IndexError("Cannot choose from an empty sequence")
        width = size.bit_length()
        bits = self.random.getrandbits
        pick = bits(width)
        while pick >= size:
            pick = bits(width)
        return seq[pick]

    def _booking_drawer(self) -> Callable[[str, Operation, date, datetime, str, str], None]:
        """What adds the booking of a candidate who booked (and their enrollment, if any):
        ``booking(ref, operation, event day, last touch, first channel, department)``, drawn
        with the inlined ``random.Random`` methods of ``_candidates``.

        An advisor's virtual slots already taken are kept as (advisor, day, start): the same
        set as of their Europe/Paris datetimes, without computing one per attempt.
        """
        rnd, pick = self.random, self._pick
        draw, bits = rnd.random, rnd.getrandbits
        add_booking, add_enrollment = self.rows["bookings"].append, self.rows["enrollments"].append
        numbers = count(1)  # the bookings' numbers (their rows are handed over by parts)
        # The job dating's seekers, in the order of their enrollments: those not withdrawn.
        self.seekers: list[str] = []
        add_seeker = self.seekers.append
        # Their rows hold every column of the contract's files, in its order.
        for kind in ("bookings", "enrollments"):
            self.names[kind] = tuple(column.name for column in SPECS[kind].columns)
        near, sites, advisors = self.near, self.sites, self.advisors
        everywhere = [sites[0][0]]
        bookable = {
            site: [program for program in programs if (site, program) not in UNBOOKED_OFFERINGS]
            for site, programs in self.offerings.items()
        }
        states, state_cumulative, state_total, state_hi = _weights(
            ["enrolled", "pre_registered", "withdrawn"], [78, 14, 8]
        )
        taken: set[tuple[str, date, time]] = set()
        two_hours = timedelta(hours=2)

        def booking(
            ref: str, operation: Operation, day: date, last_touch: datetime, first: str, department: str
        ) -> None:
            site = pick(near.get(department) or everywhere) if draw() < 0.8 else pick(sites)[0]
            program = pick(bookable[site])
            virtual = operation.kind == "virtual"
            slots = SLOT_STARTS if virtual else MORNING_SLOTS
            site_advisors = advisors[site]
            for _ in range(12):
                advisor = pick(site_advisors)
                slot_day = pick(operation.days) if virtual else day
                slot = pick(slots)
                if not virtual or (advisor, slot_day, slot) not in taken:
                    break
            else:
                return
            if virtual:
                taken.add((advisor, slot_day, slot))
            starts = _at(slot_day, slot)
            pick_minutes = bits(5)  # randint(2, 30)
            while pick_minutes >= 29:
                pick_minutes = bits(5)
            booked_at = min(last_touch + timedelta(minutes=2 + pick_minutes), starts - two_hours)
            roll = draw()
            if roll < 0.08:
                status = "cancelled"
            elif roll < 0.1:
                status = "booked"  # the advisor has not recorded the outcome yet
            elif roll < 0.08 + 0.92 * (1 - (1 - operation.show_rate) * NO_SHOW_FACTOR.get(site, 1)):
                status = "attended"
            else:
                status = "no_show"
            attendees = pick((2, 2, 3)) if draw() < operation.family_rate else 1
            number = next(numbers)
            add_booking(
                (
                    f"B{number:05d}",
                    ref,
                    operation.code,
                    site,
                    program,
                    advisor if virtual else None,
                    starts,
                    45,
                    status,
                    booked_at,
                    attendees,
                    f"https://pole-formation-lorraine.whereby.com/{site.lower()}-{number:05d}"
                    if virtual
                    else None,
                )
            )
            if status == "attended" and draw() < ENROLLMENT_PROPENSITY[first]:
                enrolled_at = starts + timedelta(days=14 + (70 - 14) * draw())  # uniform(14, 70)
                state = states[bisect(state_cumulative, draw() * state_total, 0, state_hi)]
                add_enrollment((ref, program, site, enrolled_at, state))
                if state != "withdrawn":
                    add_seeker(ref)

        return booking

    # -- companies, offers and the job dating
    def _companies_and_offers(self) -> None:
        rnd = self.random
        self.offers: list[tuple[str, str, str, int]] = []
        for number in range(1, 321):
            siret = f"{rnd.randint(300_000_000, 899_999_999)}{number:05d}"
            name = f"{rnd.choice(COMPANY_WORDS)} {rnd.choice(LAST_NAMES)}"
            self.add(
                "companies",
                siret=siret,
                name=name,
                city=rnd.choice(TOWNS),
                sector=rnd.choice(SECTORS),
                # Where the job dating's schedules are sent (a reserved domain: nothing leaves).
                email=f"contact-{number:03d}@entreprises.example",
            )
            for year in (2019, 2020):
                if year == 2019 and rnd.random() < 0.12:
                    continue
                for _ in range(rnd.choices([1, 2], weights=[80, 20])[0]):
                    site = rnd.choice(self.sites)[0]
                    program = rnd.choice(self.offerings[site])
                    ref = f"O{year}-{len(self.rows['offers']) + 1:04d}"
                    positions = rnd.choices([1, 2, 3], weights=[70, 22, 8])[0]
                    published = date(year, 2, 1) + timedelta(days=rnd.randint(0, 100))
                    if year == 2020 and len(self.rows["offers"]) % 8 == 0:
                        # Some offers arrive during the job dating itself (its first or second
                        # day): the directors' page, on the job dating's own period, counts their
                        # positions (metrics.md: offers published in the period). No draw of
                        # the generator is added: every other row stays the same.
                        published = JOB_DATING[3] + timedelta(days=len(self.rows["offers"]) % 16 // 8)
                    self.add(
                        "offers",
                        ref=ref,
                        siret=siret,
                        program_code=program,
                        site_code=site,
                        positions=positions,
                        published_on=published,
                    )
                    if year == 2020:
                        self.offers.append((ref, site, program, positions))

    def _meetings(self) -> None:
        rnd = self.random
        code, _, _, first_day, last_day = JOB_DATING
        seekers = self.seekers
        outcomes = [
            "none",
            "company_interested",
            "candidate_interested",
            "both_interested",
            "contract_signed",
        ]
        number = 0
        for candidate in rnd.sample(seekers, k=min(len(seekers), 160)):
            for _ in range(rnd.choice([1, 2, 3])):
                offer, *_ = rnd.choice(self.offers)
                day = rnd.choice([first_day, last_day])
                starts = _at(day, time(9)) + timedelta(minutes=20 * rnd.randint(0, 23))
                status = rnd.choices(["held", "no_show", "cancelled", "planned"], weights=[70, 12, 10, 8])[0]
                outcome = (
                    rnd.choices(outcomes, weights=[30, 20, 15, 25, 10])[0] if status == "held" else "none"
                )
                number += 1
                signed = (day + timedelta(days=rnd.randint(7, 40))) if outcome == "contract_signed" else None
                self.add(
                    "meetings",
                    ref=f"M{number:05d}",
                    event_code=code,
                    candidate_ref=candidate,
                    offer_ref=offer,
                    starts_at=starts,
                    duration_min=20,
                    status=status,
                    outcome=outcome,
                    contract_signed_on=signed,
                    meeting_url=f"https://pole-formation-lorraine.whereby.com/jd-{number:05d}",
                )


def generate_rows(
    candidates: int = DEFAULT_CANDIDATES, seed: int = DEFAULT_SEED
) -> dict[str, list[dict[str, object]]]:
    """The demo's typed rows per contract file (the one generator behind both writers)."""
    with gc_paused():
        return Builder(candidates, seed).build().dicts()


def cell_text(value: object) -> str:
    """A typed value as the centre's tools would write it in a contract file."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _stamp(value)
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, Decimal):
        return f"{value:.2f}".replace(".", ",")
    return str(value)


def demo_rows(
    candidates: int = DEFAULT_CANDIDATES, seed: int = DEFAULT_SEED
) -> dict[str, list[dict[str, str]]]:
    """The demo's raw rows per contract file, as the centre's tools would export them."""
    return {
        kind: [{name: cell_text(value) for name, value in row.items()} for row in rows]
        for kind, rows in generate_rows(candidates, seed).items()
    }
