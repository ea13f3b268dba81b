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
        "nav.results": "Résultats",
        "nav.advisors": "Conseillers",
        "page.schedule": "Planning des entretiens",
        "schedule.caption": "Entretiens individuels de 45 minutes en visio : qui, quand, pour quelle formation, avec qui, et le lien de la salle.",
        "schedule.view": "Vue",
        "schedule.view.day": "Jour",
        "schedule.view.week": "Semaine",
        "schedule.day": "Jour",
        "schedule.advisor": "Conseiller",
        "schedule.all_advisors": "Tous les conseillers",
        "schedule.empty": "Aucun entretien ce jour-là sur ces sites. Choisissez un autre jour, ou importez bookings.csv.",
        "schedule.no_advisor": "Aucun conseiller pour ces sites : importez advisors.csv.",
        "schedule.timeline": "Entretiens par conseiller",
        "schedule.timeline.help": "Chaque barre est un entretien, de sa première à sa dernière minute, colorée selon son statut. Un contour rouge signale un chevauchement.",
        "schedule.overlaps": "Chevauchements : {refs}. Un conseiller ne peut mener deux entretiens à la fois.",
        "schedule.list": "Liste des entretiens",
        "schedule.list.help": "Âge à la date de l'entretien ; « mineur » en dessous de 18 ans. Canal d'origine : canal de la première visite connue du candidat.",
        "schedule.minor": "mineur",
        "schedule.record": "Noter le déroulement d'un entretien",
        "schedule.record.help": "Venu ou absent seulement après le début de l'entretien ; un entretien annulé se rouvre (statut « réservé ») avant d'être noté venu. Chaque enregistrement est historisé.",
        "schedule.booking": "Entretien",
        "schedule.status": "Statut",
        "schedule.attendees": "Personnes présentes",
        "schedule.note": "Note privée (facultative)",
        "schedule.save": "Enregistrer",
        "schedule.saved": "Enregistré.",
        "schedule.reassign": "Réattribuer à un autre conseiller du site",
        "schedule.reassign.to": "Nouveau conseiller",
        "schedule.reassign.save": "Réattribuer",
        "schedule.history": "Historique de l'entretien",
        "schedule.free_slots": "Créneaux libres de 45 minutes",
        "schedule.free_slots.help": "Dans les heures d'ouverture (du lundi au vendredi, 9 h – 12 h et 13 h 30 – 17 h 15), les créneaux qui ne chevauchent aucun entretien non annulé du conseiller.",
        "schedule.load": "Charge par conseiller sur la période",
        "schedule.load.help": "Entretiens non annulés de la période choisie dans la barre latérale, et leur durée en heures.",
        "schedule.ics": "Agenda du conseiller (.ics)",
        "schedule.ics.help": "À importer dans son agenda : heure, formation, prénom et initiale du candidat, nombre de personnes, lien visio.",
        "col.time": "Heure",
        "col.day": "Jour",
        "col.candidate": "Candidat",
        "col.age": "Âge",
        "col.minor": "Mineur",
        "col.people": "Personnes",
        "col.status": "Statut",
        "col.link": "Salle visio",
        "col.earlier_bookings": "RDV antérieurs",
        "col.origin_channel": "Canal d'origine",
        "col.advisor": "Conseiller",
        "col.free_slots": "Créneaux libres",
        "col.first_free": "Heures libres",
        "col.interviews": "Entretiens",
        "col.hours": "Heures",
        "col.at": "Quand",
        "col.by": "Par",
        "col.what": "Quoi",
        "col.old": "Avant",
        "col.new": "Après",
        "page.results": "Résultats des portes ouvertes",
        "filters.title": "Périmètre",
        "filters.event": "Opération",
        "filters.no_event": "(aucune)",
        "filters.period": "Période",
        "filters.sites": "Sites",
        "filters.programs": "Formations",
        "filters.all": "Tous",
        "filters.compare": "Comparer avec",
        "filters.bad_event": "Opération inconnue dans le lien : « {value} ». L'opération la plus récente est affichée.",
        "filters.bad_from": "Date de début illisible dans le lien : « {value} ». La période par défaut est utilisée.",
        "filters.bad_to": "Date de fin illisible dans le lien : « {value} ». La période par défaut est utilisée.",
        "filters.bad_period": "Période vide dans le lien ({value}). La période par défaut est utilisée.",
        "filters.bad_site": "Site inconnu dans le lien : « {value} », ignoré.",
        "filters.bad_program": "Formation inconnue dans le lien : « {value} », ignorée.",
        "filters.bad_compare": "Opération de comparaison inconnue dans le lien : « {value} ».",
        "kpi.cost_per_enrollment": "Coût par inscrit",
        "kpi.cost_per_enrollment.help": "Dépense des campagnes / inscrits en formation.",
        "kpi.delta_help": "Écart avec {name}.",
        "results.question": "Comment se sont passées les portes ouvertes, site par site, "
        "et face à l'opération de comparaison ?",
        "results.compared_with": "Comparé à : {name}",
        "results.no_comparison": "Aucune opération antérieure d'un autre type à comparer.",
        "results.pacing": "Rythme des réservations",
        "results.pacing.help": "Rendez-vous réservés cumulés, par jour de réservation, "
        "relativement au premier jour de l'opération (J−30 à J+7).",
        "results.pacing.x": "Jours avant / après le premier jour",
        "results.pacing.y": "Réservations cumulées",
        "results.by_site": "Rendez-vous par site et par statut",
        "results.funnel": "Entonnoir par site",
        "results.funnel.help": "Candidats touchés → ayant réservé → venus → inscrits. Avec un filtre de "
        "site, « touchés » ne compte que les candidats ayant un rendez-vous sur ce site.",
        "results.candidates": "Candidats",
        "results.programmes": "Formations",
        "results.programmes.help": "Par formation et site : places, candidats ayant réservé et venus dans la "
        "période ; parmi ceux ayant réservé, préinscrits et inscrits dans cette formation ; "
        "taux de remplissage = inscrits / places.",
        "results.companies": "Entreprises et offres d'apprentissage",
        "results.companies.help": "Offres publiées dans l'année de l'opération, face à l'année précédente.",
        "results.signals": "Constats",
        "results.no_signal": "Aucun constat particulier sur ce périmètre.",
        "results.export": "Exporter",
        "results.summary": "Synthèse imprimable (HTML)",
        "results.empty": "Aucun rendez-vous dans ce périmètre. Importez bookings.csv "
        "(`python -m services import bookings.csv`) ou élargissez la période.",
        "signal.high_no_show": "{subject} : taux d'absence de {no_show_rate} ({no_show} absents), "
        "contre {average} en moyenne.",
        "signal.seats_without_booking": "{subject} : {seats} places et aucun rendez-vous.",
        "signal.full_day": "{subject} : aucun créneau libre ce jour-là ({interviews} entretiens pour {advisors} conseillers).",
        "status.booked": "Réservé",
        "status.attended": "Venu",
        "status.no_show": "Absent",
        "status.cancelled": "Annulé",
        "step.reached": "Touchés",
        "step.booked": "Ont réservé",
        "step.attended": "Venus",
        "step.enrolled": "Inscrits",
        "col.site": "Site",
        "col.site_code": "Site",
        "col.name": "Formation",
        "col.program": "Formation",
        "col.program_code": "Code",
        "col.level": "Niveau",
        "col.seats": "Places",
        "col.booked": "Ont réservé",
        "col.attended": "Venus",
        "col.pre_registered": "Préinscrits",
        "col.enrolled": "Inscrits",
        "col.fill_rate": "Remplissage",
        "col.reached": "Touchés",
        "col.booking_rate": "Touchés → réservé",
        "col.attendance_rate": "Réservé → venu",
        "col.conversion_to_enrollment": "Réservé → inscrit",
        "col.companies": "Entreprises",
        "col.offers": "Offres",
        "col.positions": "Postes",
        "col.companies_previous": "Entreprises (année préc.)",
        "col.offers_previous": "Offres (année préc.)",
        "col.positions_previous": "Postes (année préc.)",
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
        "nav.results": "Results",
        "nav.advisors": "Advisors",
        "page.schedule": "Interview schedule",
        "schedule.caption": "45-minute individual video interviews: who, when, for which programme, with whom, and the room link.",
        "schedule.view": "View",
        "schedule.view.day": "Day",
        "schedule.view.week": "Week",
        "schedule.day": "Day",
        "schedule.advisor": "Advisor",
        "schedule.all_advisors": "All advisors",
        "schedule.empty": "No interview that day at these sites. Pick another day, or import bookings.csv.",
        "schedule.no_advisor": "No advisor for these sites: import advisors.csv.",
        "schedule.timeline": "Interviews per advisor",
        "schedule.timeline.help": "Each bar is an interview from its first to its last minute, coloured by status. A red outline marks an overlap.",
        "schedule.overlaps": "Overlaps: {refs}. An advisor cannot run two interviews at once.",
        "schedule.list": "Interviews",
        "schedule.list.help": "Age on the interview day; “minor” under 18. Origin channel: channel of the candidate's first known visit.",
        "schedule.minor": "minor",
        "schedule.record": "Record how an interview went",
        "schedule.record.help": "Attended or no-show only once the interview has started; a cancelled interview is reopened (status “booked”) before it can be marked attended. Every save is kept in the history.",
        "schedule.booking": "Interview",
        "schedule.status": "Status",
        "schedule.attendees": "People present",
        "schedule.note": "Private note (optional)",
        "schedule.save": "Save",
        "schedule.saved": "Saved.",
        "schedule.reassign": "Reassign to another advisor of the site",
        "schedule.reassign.to": "New advisor",
        "schedule.reassign.save": "Reassign",
        "schedule.history": "Interview history",
        "schedule.free_slots": "Free 45-minute slots",
        "schedule.free_slots.help": "Within opening hours (Monday to Friday, 9:00–12:00 and 13:30–17:15), the slots that overlap no non-cancelled interview of the advisor.",
        "schedule.load": "Load per advisor over the period",
        "schedule.load.help": "Non-cancelled interviews of the period chosen in the sidebar, and their length in hours.",
        "schedule.ics": "Advisor's calendar (.ics)",
        "schedule.ics.help": "To import into a calendar: time, programme, candidate's first name and initial, number of people, video link.",
        "col.time": "Time",
        "col.day": "Day",
        "col.candidate": "Candidate",
        "col.age": "Age",
        "col.minor": "Minor",
        "col.people": "People",
        "col.status": "Status",
        "col.link": "Video room",
        "col.earlier_bookings": "Earlier bookings",
        "col.origin_channel": "Origin channel",
        "col.advisor": "Advisor",
        "col.free_slots": "Free slots",
        "col.first_free": "Free times",
        "col.interviews": "Interviews",
        "col.hours": "Hours",
        "col.at": "When",
        "col.by": "By",
        "col.what": "What",
        "col.old": "Before",
        "col.new": "After",
        "page.results": "Open-day results",
        "filters.title": "Scope",
        "filters.event": "Operation",
        "filters.no_event": "(none)",
        "filters.period": "Period",
        "filters.sites": "Sites",
        "filters.programs": "Programmes",
        "filters.all": "All",
        "filters.compare": "Compare with",
        "filters.bad_event": "Unknown operation in the link: “{value}”. The latest one is shown.",
        "filters.bad_from": "Unreadable start date in the link: “{value}”. The default period is used.",
        "filters.bad_to": "Unreadable end date in the link: “{value}”. The default period is used.",
        "filters.bad_period": "Empty period in the link ({value}). The default period is used.",
        "filters.bad_site": "Unknown site in the link: “{value}”, ignored.",
        "filters.bad_program": "Unknown programme in the link: “{value}”, ignored.",
        "filters.bad_compare": "Unknown comparison operation in the link: “{value}”.",
        "kpi.cost_per_enrollment": "Cost per enrollment",
        "kpi.cost_per_enrollment.help": "Campaign spend / enrolled.",
        "kpi.delta_help": "Difference with {name}.",
        "results.question": "How did the open days do, site by site, and against the comparison operation?",
        "results.compared_with": "Compared with: {name}",
        "results.no_comparison": "No earlier operation of another kind to compare with.",
        "results.pacing": "Booking pace",
        "results.pacing.help": "Cumulative bookings by booking day, relative to the operation's first day "
        "(D−30 to D+7).",
        "results.pacing.x": "Days before / after the first day",
        "results.pacing.y": "Cumulative bookings",
        "results.by_site": "Bookings per site and status",
        "results.funnel": "Funnel per site",
        "results.funnel.help": "Candidates reached → booked → attended → enrolled. With a site filter, "
        "“reached” counts only candidates with a booking at that site.",
        "results.candidates": "Candidates",
        "results.programmes": "Programmes",
        "results.programmes.help": "Per programme and site: seats, candidates booked and attended in the period; "
        "among the booked, pre-registered and enrolled in that programme; fill rate = enrolled / seats.",
        "results.companies": "Companies and apprenticeship offers",
        "results.companies.help": "Offers published in the operation's year, against the year before.",
        "results.signals": "Findings",
        "results.no_signal": "Nothing stands out in this scope.",
        "results.export": "Export",
        "results.summary": "Printable summary (HTML)",
        "results.empty": "No booking in this scope. Import bookings.csv "
        "(`python -m services import bookings.csv`) or widen the period.",
        "signal.high_no_show": "{subject}: no-show rate {no_show_rate} ({no_show} no-shows), "
        "against {average} on average.",
        "signal.seats_without_booking": "{subject}: {seats} seats and no booking.",
        "signal.full_day": "{subject}: no free slot left that day ({interviews} interviews for {advisors} advisors).",
        "status.booked": "Booked",
        "status.attended": "Attended",
        "status.no_show": "No-show",
        "status.cancelled": "Cancelled",
        "step.reached": "Reached",
        "step.booked": "Booked",
        "step.attended": "Attended",
        "step.enrolled": "Enrolled",
        "col.site": "Site",
        "col.site_code": "Site",
        "col.name": "Programme",
        "col.program": "Programme",
        "col.program_code": "Code",
        "col.level": "Level",
        "col.seats": "Seats",
        "col.booked": "Booked",
        "col.attended": "Attended",
        "col.pre_registered": "Pre-registered",
        "col.enrolled": "Enrolled",
        "col.fill_rate": "Fill rate",
        "col.reached": "Reached",
        "col.booking_rate": "Reached → booked",
        "col.attendance_rate": "Booked → attended",
        "col.conversion_to_enrollment": "Booked → enrolled",
        "col.companies": "Companies",
        "col.offers": "Offers",
        "col.positions": "Positions",
        "col.companies_previous": "Companies (prev. year)",
        "col.offers_previous": "Offers (prev. year)",
        "col.positions_previous": "Positions (prev. year)",
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


def format_delta(difference: float | int, kind: str, language: str = DEFAULT_LANGUAGE) -> str:
    """A signed difference: ``+12``, ``-3,2 pts`` (rates), ``+1 200 €`` (money).

    The minus is ASCII: Streamlit's metric reads it to choose the arrow and colour.
    """
    sign = "+" if difference >= 0 else "-"
    size = abs(difference)
    if kind == "rate":
        return f"{sign}{format_number(size * 100, language, 1)} pts"
    if kind == "money":
        return f"{sign}{format_money(size, language)}"
    return f"{sign}{format_number(size, language)}"
