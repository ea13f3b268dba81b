"""What the demo centre is made of: its seven sites in Lorraine, about thirty programme offerings,
the operations (the classic open days of March 2019 and January 2020, the virtual open days of
14–17 April 2020, a job dating in May 2020), the names, towns, newspapers and companies drawn
from, and how likely each kind of candidate is to book and to enrol.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

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
class Operation:
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
    Operation(
        "POP-2019-03",
        "Portes ouvertes mars 2019",
        "in_person",
        (date(2019, 3, 23),),
        0.27,
        {"direct": 3, "search": 3, "other": 4, "social": 1.5, "newspaper": 0.7, "email": 0.8},
        0.86,
        0.68,
    ),
    Operation(
        "POP-2020-01",
        "Portes ouvertes janvier 2020",
        "in_person",
        (date(2020, 1, 25),),
        0.25,
        {"direct": 3, "search": 3, "other": 3.5, "social": 2, "newspaper": 0.8, "email": 1},
        0.85,
        0.66,
    ),
    Operation(
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
