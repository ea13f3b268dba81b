"""Deterministic demo data: a believable picture of the centre, written through the importer.

Seven sites in Lorraine, about thirty programme offerings, the classic open days of March
2019 and January 2020, the virtual open days of 14–17 April 2020 and a job-dating event in
May 2020; candidates (many minors) whose journeys mix social networks, local newspaper
sites, e-mail campaigns, search and direct visits, each channel converting in its own way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import accounts
from services.config import LOCAL_TZ
from services.contract import IMPORT_ORDER
from services.database import get_engine, write_transaction
from services.importer import ImportResult, RawRow, import_rows
from services.models import StoreState


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
    """Accumulates the raw rows of every contract file."""

    def __init__(self, candidates: int, seed: int) -> None:
        self.random = random.Random(seed)
        self.count = candidates
        self.rows: dict[str, list[dict[str, str]]] = {kind: [] for kind in IMPORT_ORDER}

    def add(self, file: str, /, **cells: object) -> None:
        self.rows[file].append({name: "" if value is None else str(value) for name, value in cells.items()})

    def build(self) -> dict[str, list[dict[str, str]]]:
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
        for code, name, city, department in SITES:
            self.add("sites", code=code, name=name, city=city, department=department)
            for program in OFFERINGS[code]:
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
            for _ in range(6 if code in {"MAX", "YUT", "MET"} else 4):
                first, last = self.random.choice(FIRST_NAMES), self.random.choice(LAST_NAMES)
                email = f"{first}.{last}.{code}".lower().translate(str.maketrans("éèëïô", "eeeio"))
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
                    spend_eur=f"{spend:.2f}".replace(".", ","),
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
            birth_date=birth.strftime("%d/%m/%Y"),
            postal_code=rnd.choice(POSTAL_PREFIXES[department]),
            marketing_consent=rnd.choice(["oui", "non", "oui"]),
            created_at=_stamp(first_touch),
        )
        for moment, channel in zip(moments, journey, strict=True):
            self._touchpoint(ref, moment, channel, operation)
        propensity = max(BOOKING_PROPENSITY[c] for c in journey) * (0.85 + 0.05 * len(journey))
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
        explicit = channel if rnd.random() < 0.05 else ""
        self.add(
            "touchpoints",
            candidate_ref=ref,
            occurred_at=_stamp(moment),
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
        near = [code for code, *_rest, dep in SITES if dep == department] or [SITES[0][0]]
        site = rnd.choice(near) if rnd.random() < 0.8 else rnd.choice(SITES)[0]
        program = rnd.choice([p for p in OFFERINGS[site] if (site, p) not in UNBOOKED_OFFERINGS])
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
            advisor_email=advisor if virtual else "",
            starts_at=_stamp(starts),
            duration_min=45,
            status=status,
            booked_at=_stamp(booked_at),
            attendees=attendees,
            meeting_url=f"https://pole-formation-lorraine.whereby.com/{site.lower()}-{number:05d}"
            if virtual
            else "",
        )
        if status == "attended" and rnd.random() < ENROLLMENT_PROPENSITY[journey[0]]:
            enrolled_at = starts + timedelta(days=rnd.uniform(14, 70))
            state = rnd.choices(["enrolled", "pre_registered", "withdrawn"], weights=[78, 14, 8])[0]
            self.add(
                "enrollments",
                candidate_ref=ref,
                program_code=program,
                site_code=site,
                enrolled_at=_stamp(enrolled_at),
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
                    site = rnd.choice(SITES)[0]
                    program = rnd.choice(OFFERINGS[site])
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
                    starts_at=_stamp(starts),
                    duration_min=20,
                    status=status,
                    outcome=outcome,
                    contract_signed_on=signed,
                    meeting_url=f"https://pole-formation-lorraine.whereby.com/jd-{number:05d}",
                )


def demo_rows(
    candidates: int = DEFAULT_CANDIDATES, seed: int = DEFAULT_SEED
) -> dict[str, list[dict[str, str]]]:
    """The demo's raw rows per contract file, as the centre's tools would export them."""
    return _Builder(candidates, seed).build()


def seed_demo(
    candidates: int = DEFAULT_CANDIDATES, seed: int = DEFAULT_SEED, engine: Engine | None = None
) -> list[ImportResult]:
    """Write the demo data through the importer's validation path and mark the store as demo."""
    engine = engine or get_engine()
    results = []
    rows_by_kind = demo_rows(candidates, seed)
    for kind, rows in rows_by_kind.items():
        header = list(rows[0]) if rows else []
        raw = [RawRow(line, cells) for line, cells in enumerate(rows, start=2)]
        results.append(
            import_rows(kind, header, raw, source=f"démo:{kind}.csv", engine=engine, imported_by="seed")
        )
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
