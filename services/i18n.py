"""Every label the user reads, one catalogue per language, and locale-aware number formats."""

from __future__ import annotations

from datetime import date

LANGUAGES = {"fr": "Français", "en": "English"}
DEFAULT_LANGUAGE = "fr"

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "app.title": "Rencontres",
        "app.tagline": "Portes ouvertes virtuelles et job datings du pôle formation",
        "app.language": "Langue",
        "app.demo_notice": "Données de démonstration : les chiffres affichés sont fictifs. "
        "Importez les fichiers du centre pour voir les vôtres.",
        "nav.overview": "Vue d'ensemble",
        "page.home": "Accueil",
        "home.event": "Opération la plus récente : {name} ({start} → {end})",
        "home.period": "Période : du {start} au {end}",
        "home.empty": "Aucune donnée pour l'instant. Importez les fichiers du contrat "
        "(sites.csv, programs.csv, events.csv, bookings.csv…) avec "
        "`python -m services import DOSSIER`, ou lancez l'application avec DEMO_DATA=1 "
        "sur une base vide pour voir des données de démonstration.",
        "kpi.bookings": "Rendez-vous",
        "kpi.bookings.help": "Rendez-vous dont la date de début est dans la période, tous statuts confondus.",
        "kpi.show_rate": "Taux de présence",
        "kpi.show_rate.help": "Venus / (venus + absents), sur les rendez-vous de la période. "
        "« — » quand aucun rendez-vous n'est encore venu ni absent.",
        "kpi.family_attendance": "Venus en famille",
        "kpi.family_attendance.help": "Part des rendez-vous honorés avec au moins 2 personnes.",
        "kpi.booked": "Candidats ayant réservé",
        "kpi.booked.help": "Candidats distincts ayant un rendez-vous non annulé dans la période.",
        "kpi.enrolled": "Inscrits en formation",
        "kpi.enrolled.help": "Candidats ayant pris rendez-vous et ayant une inscription au statut "
        "« enrolled » (à toute date).",
        "kpi.conversion": "Conversion en inscription",
        "kpi.conversion.help": "Inscrits en formation / candidats ayant pris rendez-vous.",
        "kpi.spend": "Dépense des campagnes",
        "kpi.spend.help": "Somme des dépenses des campagnes qui commencent dans la période "
        "(et rattachées à l'opération choisie).",
        "home.by_site": "Rendez-vous par site",
        "home.site": "Site",
        "home.count": "Rendez-vous",
    },
    "en": {
        "app.title": "Rencontres",
        "app.tagline": "Virtual open days and job datings of the training centre",
        "app.language": "Language",
        "app.demo_notice": "Demo data: the figures shown are fictitious. "
        "Import the centre's files to see yours.",
        "nav.overview": "Overview",
        "page.home": "Home",
        "home.event": "Latest operation: {name} ({start} → {end})",
        "home.period": "Period: {start} to {end}",
        "home.empty": "No data yet. Import the contract files (sites.csv, programs.csv, events.csv, "
        "bookings.csv…) with `python -m services import FOLDER`, or start the app with DEMO_DATA=1 "
        "on an empty database to see demo data.",
        "kpi.bookings": "Bookings",
        "kpi.bookings.help": "Bookings whose start date is in the period, all statuses.",
        "kpi.show_rate": "Show rate",
        "kpi.show_rate.help": "Attended / (attended + no-show), over the period's bookings. "
        "“—” when none has attended or missed yet.",
        "kpi.family_attendance": "Family attendance",
        "kpi.family_attendance.help": "Share of attended bookings with 2 people or more.",
        "kpi.booked": "Candidates booked",
        "kpi.booked.help": "Distinct candidates with a booking in the period that is not cancelled.",
        "kpi.enrolled": "Enrolled",
        "kpi.enrolled.help": "Booked candidates who have an enrollment with status “enrolled” (any date).",
        "kpi.conversion": "Conversion to enrollment",
        "kpi.conversion.help": "Enrolled / candidates booked.",
        "kpi.spend": "Campaign spend",
        "kpi.spend.help": "Sum of the spend of campaigns starting in the period (of the selected event).",
        "home.by_site": "Bookings per site",
        "home.site": "Site",
        "home.count": "Bookings",
    },
}


def translate(key: str, language: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The label ``key`` in ``language`` (French when missing there), with ``values`` filled in."""
    catalogue = MESSAGES.get(language, MESSAGES[DEFAULT_LANGUAGE])
    text = catalogue.get(key) or MESSAGES[DEFAULT_LANGUAGE][key]
    return text.format(**values) if values else text


def format_number(value: float | int | None, language: str = DEFAULT_LANGUAGE, decimals: int = 0) -> str:
    """``1 234`` / ``1 234,5`` in French, ``1,234`` / ``1,234.5`` in English; "—" when undefined."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    if language == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def format_percent(value: float | None, language: str = DEFAULT_LANGUAGE, decimals: int = 1) -> str:
    """``86,2 %`` in French, ``86.2%`` in English; "—" when undefined."""
    if value is None:
        return "—"
    number = format_number(value * 100, language, decimals)
    return f"{number}\u00a0%" if language == "fr" else f"{number}%"


def format_money(value: float | None, language: str = DEFAULT_LANGUAGE) -> str:
    """``1 234 €`` in French, ``€1,234`` in English."""
    if value is None:
        return "—"
    number = format_number(value, language)
    return f"{number}\u00a0€" if language == "fr" else f"€{number}"


def format_date(day: date, language: str = DEFAULT_LANGUAGE) -> str:
    """``14/04/2020`` in French, ``2020-04-14`` in English."""
    return day.strftime("%d/%m/%Y") if language == "fr" else day.isoformat()
