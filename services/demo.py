"""Deterministic demo data: a believable picture of the centre, written through the importer.

Seven sites in Lorraine, about thirty programme offerings, the classic open days of March
2019 and January 2020, the virtual open days of 14–17 April 2020 and a job-dating event in
May 2020; candidates (many minors) whose journeys mix social networks, local newspaper
sites, e-mail campaigns, search and direct visits, each channel converting in its own way.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import accounts, channels
from services.config import LOCAL_TZ
from services.contract import IMPORT_ORDER, SPECS
from services.database import bump_data_version, get_engine, write_transaction
from services.importer import ImportResult, RawRow, import_rows, record_result
from services.models import StoreState, UtcDateTime


@dataclass(frozen=True)
class DemoAccount:
    """A sign-in of the demo, listed on the sign-in page while the store holds demo data only."""

    label: str
    email: str
    password: str
    role: str


#: One account per role; the advisor's is tied to the first advisor of the demo.
DEMO_ACCOUNTS = (
    DemoAccount("Direction", "direction@demo.rencontres.fr", "demo-direction", "director"),
    DemoAccount("Conseiller", "conseiller@demo.rencontres.fr", "demo-conseiller", "advisor"),
    DemoAccount("Marketing", "marketing@demo.rencontres.fr", "demo-marketing", "marketing"),
    DemoAccount("Administration", "admin@demo.rencontres.fr", "demo-administration", "admin"),
)
DEFAULT_CANDIDATES = 3000
DEFAULT_SEED = 2020
#: From this many candidates the demo becomes a network of centres (issue 8's scales): more
#: sites (one per ``CANDIDATES_PER_SITE``), longer journeys (about five touches), fewer bookings
#: per candidate (about 0.4) and more advisors per site; and it is written in bulk.
NETWORK_FROM = 20_000
CANDIDATES_PER_SITE = 2857
#: Network profile: touches per journey, and what scales the chance to book.
NETWORK_TOUCHES = ([3, 4, 5, 6, 7], [15, 25, 25, 20, 15])
NETWORK_BOOKING_FACTOR = 0.5
#: Candidates per advisor slot pool in the demo (about 430 candidates per site).
DEMO_CANDIDATES_PER_SITE = 430

SITES = [
    ("MAX", "Maxéville", "Maxéville", "54"),
    ("YUT", "Yutz", "Yutz", "57"),
    ("MET", "Metz", "Metz", "57"),
    ("EPI", "Épinal", "Épinal", "88"),
    ("BLD", "Bar-le-Duc", "Bar-le-Duc", "55"),
    ("STD", "Saint-Dié-des-Vosges", "Saint-Dié-des-Vosges", "88"),
    ("LGW", "Longwy", "Longwy", "54"),
]
PROGRAMS = [
    ("CAP-CIP", "CAP Conducteur d'installations de production", "CAP"),
    ("CAP-RI", "CAP Réalisations industrielles en chaudronnerie", "CAP"),
    ("BAC-MEI", "Bac pro Maintenance des systèmes de production connectés", "BAC_PRO"),
    ("BAC-TU", "Bac pro Technicien en réalisation de produits mécaniques", "BAC_PRO"),
    ("BAC-MELEC", "Bac pro Métiers de l'électricité", "BAC_PRO"),
    ("BTS-MS", "BTS Maintenance des systèmes", "BTS"),
    ("BTS-CPRP", "BTS Conception des processus de réalisation de produits", "BTS"),
    ("BTS-CRSA", "BTS Conception et réalisation de systèmes automatiques", "BTS"),
    ("BTS-ELEC", "BTS Électrotechnique", "BTS"),
    ("LP-MI", "Licence pro Maintenance industrielle", "LICENCE_PRO"),
    ("ING-GI", "Ingénieur Génie industriel", "INGENIEUR"),
    ("TP-SOUD", "Titre pro Soudeur", "TITRE_PRO"),
    ("CQPM-OR", "CQPM Opérateur régleur", "CQPM"),
]
#: Which programmes each site offers (about thirty offerings in all).
OFFERINGS = {
    "MAX": ["CAP-CIP", "BAC-MEI", "BAC-TU", "BTS-MS", "BTS-CPRP", "LP-MI", "ING-GI"],
    "YUT": ["CAP-RI", "BAC-MEI", "BTS-MS", "BTS-CRSA", "TP-SOUD"],
    "MET": ["BAC-MELEC", "BTS-ELEC", "BTS-CRSA", "LP-MI"],
    "EPI": ["CAP-CIP", "BAC-MEI", "BTS-MS", "CQPM-OR"],
    "BLD": ["BAC-TU", "BTS-CPRP", "CQPM-OR", "LP-MI"],
    "STD": ["CAP-RI", "BAC-MEI", "BTS-MS"],
    "LGW": ["CAP-RI", "BAC-MELEC", "TP-SOUD"],
}
#: Offerings nobody books in the demo, and sites whose candidates miss interviews more often:
#: the results page's signals have something to find.
UNBOOKED_OFFERINGS = {("BLD", "LP-MI")}
NO_SHOW_FACTOR = {"LGW": 2.4}
FIRST_NAMES = [
    "Lucas",
    "Emma",
    "Hugo",
    "Léa",
    "Nathan",
    "Chloé",
    "Enzo",
    "Manon",
    "Louis",
    "Camille",
    "Théo",
    "Inès",
    "Mathis",
    "Sarah",
    "Tom",
    "Jade",
    "Maxime",
    "Lina",
    "Noah",
    "Clara",
    "Yanis",
    "Zoé",
    "Axel",
    "Eva",
    "Kylian",
    "Lola",
    "Ethan",
    "Anaïs",
    "Romain",
    "Océane",
    "Mehdi",
    "Julie",
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefèvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Schmitt",
    "Klein",
    "Weber",
    "Meyer",
    "Becker",
    "Hoffmann",
    "Wagner",
]
POSTAL_PREFIXES = {
    "54": ["54000", "54500", "54600", "54400", "54300"],
    "55": ["55000", "55100", "55200"],
    "57": ["57000", "57100", "57970", "57200", "57300"],
    "88": ["88000", "88100", "88300"],
}
NEWSPAPERS = [
    "estrepublicain.fr",
    "republicain-lorrain.fr",
    "vosgesmatin.fr",
    "lasemaine.fr",
    "lorraineactu.fr",
]
SOCIAL_SOURCES = ["facebook", "instagram", "snapchat", "tiktok", "youtube"]
SECTORS = [
    "Métallurgie",
    "Automobile",
    "Aéronautique",
    "Sidérurgie",
    "Chaudronnerie",
    "Maintenance industrielle",
    "Électricité industrielle",
    "Plasturgie",
]
COMPANY_WORDS = [
    "Ateliers",
    "Forges",
    "Mécanique",
    "Usinage",
    "Chaudronnerie",
    "Industries",
    "Aciéries",
    "Tôlerie",
    "Automatismes",
    "Électro",
]
TOWNS = [
    "Nancy",
    "Metz",
    "Thionville",
    "Épinal",
    "Bar-le-Duc",
    "Lunéville",
    "Toul",
    "Verdun",
    "Saint-Dié",
    "Longwy",
    "Sarreguemines",
    "Forbach",
    "Pont-à-Mousson",
    "Remiremont",
]


@dataclass(frozen=True)
class _Operation:
    """An open-day operation of the demo and how its candidates were reached."""

    code: str
    name: str
    kind: str
    days: tuple[date, ...]
    share: float
    #: Channel → weight of that channel in the journeys of this operation.
    channel_mix: dict[str, float]
    show_rate: float
    family_rate: float


OPERATIONS = [
    _Operation(
        "POP-2019-03",
        "Portes ouvertes mars 2019",
        "in_person",
        (date(2019, 3, 23),),
        0.27,
        {"direct": 3, "search": 3, "other": 4, "social": 1.5, "newspaper": 0.7, "email": 0.8},
        0.86,
        0.68,
    ),
    _Operation(
        "POP-2020-01",
        "Portes ouvertes janvier 2020",
        "in_person",
        (date(2020, 1, 25),),
        0.25,
        {"direct": 3, "search": 3, "other": 3.5, "social": 2, "newspaper": 0.8, "email": 1},
        0.85,
        0.66,
    ),
    _Operation(
        "POV-2020-04",
        "Portes ouvertes virtuelles avril 2020",
        "virtual",
        tuple(date(2020, 4, d) for d in (14, 15, 16, 17)),
        0.48,
        {"social": 5, "newspaper": 2.5, "email": 2.5, "search": 2, "direct": 1.5, "other": 0.3},
        0.81,
        0.55,
    ),
]
JOB_DATING = ("JD-2020-05", "Job dating virtuel mai 2020", "job_dating", date(2020, 5, 19), date(2020, 5, 20))
#: Chance that a candidate reached through a channel books an interview.
BOOKING_PROPENSITY = {
    "email": 0.78,
    "newspaper": 0.6,
    "search": 0.55,
    "direct": 0.62,
    "social": 0.42,
    "other": 0.5,
}
#: Chance that a candidate who attended then enrols, by the channel that first reached them.
ENROLLMENT_PROPENSITY = {
    "email": 0.55,
    "newspaper": 0.5,
    "search": 0.4,
    "direct": 0.45,
    "social": 0.33,
    "other": 0.38,
}
SLOT_STARTS = [
    time(9, 0),
    time(9, 45),
    time(10, 30),
    time(11, 15),
    time(13, 30),
    time(14, 15),
    time(15, 0),
    time(15, 45),
    time(16, 30),
]
MORNING_SLOTS = [time(9, 0), time(9, 45), time(10, 30), time(11, 15), time(12, 0)]


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=LOCAL_TZ)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


class _Builder:
    """Accumulates the typed rows of every contract file (None where a cell is empty)."""

    def __init__(self, candidates: int, seed: int) -> None:
        self.random = random.Random(seed)
        self.count = candidates
        self.rows: dict[str, list[dict[str, object]]] = {kind: [] for kind in IMPORT_ORDER}
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
        self.rows[file].append(cells)

    def build(self) -> dict[str, list[dict[str, object]]]:
        self._reference_data()
        self._campaigns()
        taken: set[tuple[str, datetime]] = set()
        for number in range(1, self.count + 1):
            self._candidate(number, taken)
        self._companies_and_offers()
        self._meetings()
        return self.rows

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
    def _candidate(self, number: int, taken: set[tuple[str, datetime]]) -> None:
        rnd = self.random
        ref = f"C{number:05d}"
        operation = rnd.choices(OPERATIONS, weights=[o.share for o in OPERATIONS])[0]
        event_day = rnd.choice(operation.days)
        department = rnd.choices(["54", "57", "88", "55"], weights=[4, 4, 2, 1])[0]
        age = rnd.choices([15, 16, 17, 18, 19, 20, 22, 25], weights=[14, 22, 20, 14, 10, 8, 7, 5])[0]
        birth = event_day - timedelta(days=int(age * 365.25) + rnd.randint(0, 360))
        first, last = rnd.choice(FIRST_NAMES), rnd.choice(LAST_NAMES)
        channels = list(operation.channel_mix)
        weights = list(operation.channel_mix.values())
        if self.network:
            touches = rnd.choices(*NETWORK_TOUCHES)[0]
        else:
            touches = rnd.choices([1, 2, 3, 4, 5], weights=[30, 28, 20, 13, 9])[0]
        first_touch = _at(event_day, time(12)) - timedelta(days=rnd.uniform(8, 40))
        moments = sorted(first_touch + timedelta(days=rnd.uniform(0, 25)) for _ in range(touches))
        moments[0] = first_touch
        journey = [rnd.choices(channels, weights=weights)[0] for _ in moments]
        self.add(
            "candidates",
            ref=ref,
            first_name=first,
            last_name=last,
            email=f"{first}.{last}{number}@exemple.fr".lower().translate(str.maketrans("éèëïô", "eeeio")),
            phone="06 " + " ".join(f"{rnd.randint(10, 99)}" for _ in range(4)),
            birth_date=birth,
            postal_code=rnd.choice(POSTAL_PREFIXES[department]),
            marketing_consent=rnd.choice([True, False, True]),
            created_at=first_touch,
        )
        for moment, channel in zip(moments, journey, strict=True):
            self._touchpoint(ref, moment, channel, operation)
        propensity = max(BOOKING_PROPENSITY[c] for c in journey) * (0.85 + 0.05 * len(journey))
        if self.network:
            propensity *= NETWORK_BOOKING_FACTOR
        if rnd.random() < min(propensity, 0.95):
            self._booking(ref, operation, event_day, moments, journey, taken, department)

    def _touchpoint(self, ref: str, moment: datetime, channel: str, operation: _Operation) -> None:
        rnd = self.random
        source = medium = campaign = ""
        if channel == "social":
            source = rnd.choice(SOCIAL_SOURCES)
            medium = rnd.choice(["social", "paid_social", "social"])
            if rnd.random() < 0.08:  # untidy tagging, as in real life: the hygiene checks show it
                source = rnd.choice(["Facebook ", "FB", "Instagram"])
        elif channel == "newspaper":
            source, medium = rnd.choice(NEWSPAPERS), rnd.choice(["display", "press", "referral"])
        elif channel == "email":
            source, medium = "newsletter", rnd.choice(["email", "email", "E-mail"])
        elif channel == "search":
            source, medium = rnd.choice(["google", "google", "bing", "qwant"]), rnd.choice(["cpc", "organic"])
        elif channel == "other":
            source, medium = rnd.choice(["radio", "affiche", "salon"]), "offline"
        codes = self.campaign_codes.get((operation.code, channel), [])
        if codes and channel != "direct" and rnd.random() < 0.85:
            campaign = rnd.choice(codes).lower()
            if rnd.random() < 0.03:  # a tag typed by hand, unknown in the campaign list
                campaign = rnd.choice(["portes-ouvertes", "po-2020", "relance_avril"])
        explicit = channel if rnd.random() < 0.05 else None
        self.add(
            "touchpoints",
            candidate_ref=ref,
            occurred_at=moment,
            channel=explicit,
            utm_source=source,
            utm_medium=medium,
            utm_campaign=campaign,
            landing_page=rnd.choice(["/portes-ouvertes", "/formations", "/", "/visite-virtuelle"]),
        )

    def _booking(
        self,
        ref: str,
        operation: _Operation,
        day: date,
        moments: list[datetime],
        journey: list[str],
        taken: set[tuple[str, datetime]],
        department: str,
    ) -> None:
        rnd = self.random
        near = self.near.get(department) or [self.sites[0][0]]
        site = rnd.choice(near) if rnd.random() < 0.8 else rnd.choice(self.sites)[0]
        program = rnd.choice([p for p in self.offerings[site] if (site, p) not in UNBOOKED_OFFERINGS])
        virtual = operation.kind == "virtual"
        slots = SLOT_STARTS if virtual else MORNING_SLOTS
        advisor, starts = None, None
        for _ in range(12):
            candidate_advisor = rnd.choice(self.advisors[site])
            moment = _at(rnd.choice(operation.days) if virtual else day, rnd.choice(slots))
            if not virtual or (candidate_advisor, moment) not in taken:
                advisor, starts = candidate_advisor, moment
                break
        if starts is None:
            return
        if virtual:
            taken.add((advisor, starts))
        booked_at = min(moments[-1] + timedelta(minutes=rnd.randint(2, 30)), starts - timedelta(hours=2))
        roll = rnd.random()
        if roll < 0.08:
            status = "cancelled"
        elif roll < 0.1:
            status = "booked"  # the advisor has not recorded the outcome yet
        elif roll < 0.08 + 0.92 * (1 - (1 - operation.show_rate) * NO_SHOW_FACTOR.get(site, 1)):
            status = "attended"
        else:
            status = "no_show"
        family = rnd.random() < operation.family_rate
        attendees = rnd.choice([2, 2, 3]) if family else 1
        number = len(self.rows["bookings"]) + 1
        self.add(
            "bookings",
            ref=f"B{number:05d}",
            candidate_ref=ref,
            event_code=operation.code,
            site_code=site,
            program_code=program,
            advisor_email=advisor if virtual else None,
            starts_at=starts,
            duration_min=45,
            status=status,
            booked_at=booked_at,
            attendees=attendees,
            meeting_url=f"https://pole-formation-lorraine.whereby.com/{site.lower()}-{number:05d}"
            if virtual
            else None,
        )
        if status == "attended" and rnd.random() < ENROLLMENT_PROPENSITY[journey[0]]:
            enrolled_at = starts + timedelta(days=rnd.uniform(14, 70))
            state = rnd.choices(["enrolled", "pre_registered", "withdrawn"], weights=[78, 14, 8])[0]
            self.add(
                "enrollments",
                candidate_ref=ref,
                program_code=program,
                site_code=site,
                enrolled_at=enrolled_at,
                status=state,
            )

    # -- companies, offers and the job dating
    def _companies_and_offers(self) -> None:
        rnd = self.random
        self.offers: list[tuple[str, str, str, int]] = []
        for number in range(1, 321):
            siret = f"{rnd.randint(300_000_000, 899_999_999)}{number:05d}"
            name = f"{rnd.choice(COMPANY_WORDS)} {rnd.choice(LAST_NAMES)}"
            self.add("companies", siret=siret, name=name, city=rnd.choice(TOWNS), sector=rnd.choice(SECTORS))
            for year in (2019, 2020):
                if year == 2019 and rnd.random() < 0.12:
                    continue
                for _ in range(rnd.choices([1, 2], weights=[80, 20])[0]):
                    site = rnd.choice(self.sites)[0]
                    program = rnd.choice(self.offerings[site])
                    ref = f"O{year}-{len(self.rows['offers']) + 1:04d}"
                    positions = rnd.choices([1, 2, 3], weights=[70, 22, 8])[0]
                    published = date(year, 2, 1) + timedelta(days=rnd.randint(0, 100))
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
        seekers = [row["candidate_ref"] for row in self.rows["enrollments"] if row["status"] != "withdrawn"]
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
    return _Builder(candidates, seed).build()


def _cell(value: object) -> str:
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
        kind: [{name: _cell(value) for name, value in row.items()} for row in rows]
        for kind, rows in generate_rows(candidates, seed).items()
    }


def _sqlite_instant(moment: datetime) -> str:
    # SQLAlchemy's SQLite storage of UtcDateTime, to the second as the contract files give it.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.000000")


def _server_instant(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _converters(table: sa.Table, names: list[str], dialect: str) -> list[tuple[int, Callable]]:
    """(position, function) for the columns whose Python value the driver cannot take as is."""
    sqlite = dialect == "sqlite"
    found = []
    for position, name in enumerate(names):
        kind = table.c[name].type
        if isinstance(kind, UtcDateTime):
            found.append((position, _sqlite_instant if sqlite else _server_instant))
        elif sqlite and isinstance(kind, sa.Date):
            found.append((position, date.isoformat))
        elif sqlite and isinstance(kind, sa.Numeric):
            found.append((position, float))
    return found


def table_rows(
    kind: str, rows: list[dict[str, object]], dialect: str, rules: tuple[channels.Rule, ...]
) -> tuple[list[str], list[tuple]]:
    """The columns and plain tuples that the importer would insert for these generated rows.

    No validation: the generator guarantees valid, unique rows. Columns the rows leave out get
    the contract's default; touchpoints get their channel derived by the rules, as on import.
    """
    spec = SPECS[kind]
    if not rows:
        return [], []
    names = list(rows[0])
    missing = [column for column in spec.columns if column.name not in names]
    names += [column.name for column in missing]
    suffix = tuple(column.default for column in missing)
    converters = _converters(spec.table, names, dialect)
    tuples = []
    if kind == "touchpoints":
        channel_at, source_at, medium_at = (names.index(n) for n in ("channel", "utm_source", "utm_medium"))
        names += ["channel_explicit", "channel_rule"]
        derived: dict[tuple, tuple[str, int | None]] = {}
    for row in rows:
        values = list(row.values())
        values.extend(suffix)
        for position, convert in converters:
            value = values[position]
            if value is not None:
                values[position] = convert(value)
        if kind == "touchpoints":
            if values[channel_at]:
                values += [True, None]
            else:
                key = (values[source_at], values[medium_at])
                if key not in derived:
                    derived[key] = channels.derive_channel(rules, *key)
                values[channel_at], rule = derived[key]
                values += [False, rule]
        tuples.append(tuple(values))
    return names, tuples


def insert_tables(tables: dict[str, tuple[list[str], list[tuple]]], engine: Engine) -> None:
    """``executemany`` of plain tuples, one transaction per table, in the contract's order."""
    for kind, (names, tuples) in tables.items():
        if not tuples:
            continue
        table = SPECS[kind].table
        with write_transaction(engine) as connection:
            marks = ", ".join("?" if connection.dialect.paramstyle == "qmark" else "%s" for _ in names)
            statement = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"
            connection.exec_driver_sql(statement, tuples)


def write_bulk(rows_by_kind: dict[str, list[dict[str, object]]], engine: Engine) -> list[ImportResult]:
    """Write generated rows into an empty store in bulk (no per-row ORM object nor validation)."""
    if any(_count(engine, SPECS[kind].table) for kind in rows_by_kind):
        raise ValueError("l'écriture en masse demande une base vide")
    with engine.connect() as connection:
        rules = channels.load_rules(connection)
    dialect = engine.dialect.name
    tables = {kind: table_rows(kind, rows, dialect, rules) for kind, rows in rows_by_kind.items()}
    insert_tables(tables, engine)
    results = [
        ImportResult(source=f"démo:{kind}.csv", kind=kind, accepted=True, rows=len(rows), inserted=len(rows))
        for kind, rows in rows_by_kind.items()
    ]
    with write_transaction(engine) as connection:
        bump_data_version(connection)
        for result in results:
            record_result(connection, result, "seed")
    return results


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _write_through_importer(
    rows_by_kind: dict[str, list[dict[str, object]]], engine: Engine
) -> list[ImportResult]:
    results = []
    for kind, rows in rows_by_kind.items():
        header = list(rows[0]) if rows else []
        raw = [
            RawRow(line, {name: _cell(value) for name, value in cells.items()})
            for line, cells in enumerate(rows, start=2)
        ]
        results.append(
            import_rows(kind, header, raw, source=f"démo:{kind}.csv", engine=engine, imported_by="seed")
        )
    return results


def seed_demo(
    candidates: int = DEFAULT_CANDIDATES,
    seed: int = DEFAULT_SEED,
    engine: Engine | None = None,
    bulk: bool | None = None,
) -> list[ImportResult]:
    """Write the demo data and mark the store as demo: through the importer's validation path, or
    in bulk into an empty store (the default from ``NETWORK_FROM`` candidates)."""
    engine = engine or get_engine()
    rows_by_kind = generate_rows(candidates, seed)
    if bulk is None:
        bulk = candidates > NETWORK_FROM
    results = write_bulk(rows_by_kind, engine) if bulk else _write_through_importer(rows_by_kind, engine)
    if all(result.accepted for result in results):
        with write_transaction(engine) as connection:
            connection.execute(sa.update(StoreState.__table__).values(demo_data=True))
        first_advisor = rows_by_kind["advisors"][0]["email"]
        existing = set(accounts.list_accounts(engine)["email"])
        for account in (account for account in DEMO_ACCOUNTS if account.email not in existing):
            accounts.add_account(
                email=account.email,
                role=account.role,
                password=account.password,
                actor="seed",
                advisor_email=first_advisor if account.role == "advisor" else None,
                engine=engine,
            )
    return results
