"""The report of a scope: every figure of metrics.md in one object (``report --json``)."""

from __future__ import annotations

import math

from sqlalchemy.engine import Engine

from services.metrics import attribution, bookings, jobdating, money
from services.metrics.attribution import MODELS
from services.store.database import StoreError
from services.store.models import CHANNELS
from services.store.scope import Scope


def build_report(
    scope: Scope,
    goal: str = "booking",
    lookback_days: int = attribution.DEFAULT_LOOKBACK_DAYS,
    engine: Engine | None = None,
) -> dict:
    """The documented report object for a scope, a goal and a lookback."""
    booked = bookings.summary(scope, engine=engine)
    totals, funnel = booked.totals, booked.funnel
    credited = attribution.attribute(scope, goal, lookback_days, engine)
    spend = money.spend_by_channel(scope, engine)
    for channel, total in spend.items():
        # An amount stored before amounts were bounded (a 310-digit one became Infinity): the
        # report would not be JSON. The import refuses such amounts now (values.read_decimal).
        if not math.isfinite(total):
            raise StoreError(
                f"dépense non finie ({total}) enregistrée pour le canal {channel} : réimportez "
                "campaigns.csv avec des montants d'au plus 12 chiffres avant la virgule"
            )
    shown = [c for c in CHANNELS if c in spend or any(c in credits for credits in credited.credits.values())]
    return {
        "scope": scope.as_dict(),
        "bookings": {
            "total": totals["total"],
            "by_status": {status: totals[status] for status in totals if status != "total"},
            "by_site": bookings.by_site(scope, engine),
        },
        "show_rate": bookings.show_rate(totals),
        "cancellation_rate": bookings.cancellation_rate(totals),
        "family_attendance": booked.family_attendance,
        "funnel": funnel,
        "conversion_to_enrollment": bookings.conversion_to_enrollment(funnel),
        "attribution": {
            "goal": goal,
            "lookback_days": lookback_days,
            "conversions": credited.conversions,
            "empty_journeys": credited.empty_journeys,
            "markov_fell_back": credited.markov_fell_back,
            "credits": {
                model: {c: float(credited.credits[model].get(c, 0.0)) for c in shown} for model in MODELS
            },
        },
        "spend": {c: spend.get(c, 0.0) for c in shown},
        "cost_per_conversion": {
            model: money.cost_per_conversion(spend, credited.credits[model], shown) for model in MODELS
        },
        "job_dating": jobdating.job_dating_figures(scope, engine),
    }


def _number(value: float | int | None, percent: bool = False) -> str:
    if value is None:
        return "—"
    if percent:
        return f"{value * 100:.1f} %".replace(".", ",")
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f")
    return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",")


def format_report(report: dict) -> str:
    """The report as a readable plain-text table (French)."""
    scope = report["scope"]
    lines = [
        f"Période : {scope['from']} → {scope['to']}"
        + (f" · événement {scope['event']}" if scope["event"] else "")
        + (f" · sites {', '.join(scope['sites'])}" if scope["sites"] else "")
        + (f" · programmes {', '.join(scope['programs'])}" if scope["programs"] else ""),
        "",
        "Rendez-vous",
        f"  total                {_number(report['bookings']['total'])}",
    ]
    lines += [f"  {status:<20} {_number(count)}" for status, count in report["bookings"]["by_status"].items()]
    lines += [
        f"  taux de présence     {_number(report['show_rate'], percent=True)}",
        f"  taux d'annulation    {_number(report['cancellation_rate'], percent=True)}",
        f"  venus en famille     {_number(report['family_attendance'], percent=True)}",
        "",
        "Rendez-vous par site",
    ]
    lines += [f"  {site:<20} {_number(count)}" for site, count in report["bookings"]["by_site"].items()]
    lines += ["", "Entonnoir (candidats distincts)"]
    lines += [f"  {step:<20} {_number(count)}" for step, count in report["funnel"].items()]
    lines += [f"  {'conversion':<20} {_number(report['conversion_to_enrollment'], percent=True)}", ""]
    attribution_part = report["attribution"]
    lines.append(
        f"Attribution · objectif {attribution_part['goal']} · fenêtre {attribution_part['lookback_days']} j"
        f" · {attribution_part['conversions']} conversions"
    )
    channels = list(report["spend"])
    lines.append("  " + f"{'modèle':<16}" + "".join(f"{c:>11}" for c in channels))
    for model, credits in attribution_part["credits"].items():
        lines.append("  " + f"{model:<16}" + "".join(f"{_number(credits[c]):>11}" for c in channels))
    lines.append(
        "  " + f"{'dépense (€)':<16}" + "".join(f"{_number(report['spend'][c]):>11}" for c in channels)
    )
    lines.append(
        "  "
        + f"{'coût (linéaire)':<16}"
        + "".join(f"{_number(report['cost_per_conversion']['linear'][c]):>11}" for c in channels)
    )
    jd = report["job_dating"]
    lines += [
        "",
        "Job dating",
        f"  postes offerts       {_number(jd['positions'])}",
        f"  candidats en recherche {_number(jd['seeking_candidates'])}",
        f"  rencontres           {_number(jd['meetings']['total'])}",
        f"  taux de présence     {_number(jd['meeting_show_rate'], percent=True)}",
        f"  intérêt mutuel       {_number(jd['mutual_interest_rate'], percent=True)}",
        f"  contrats signés      {_number(jd['contracts_signed'])}",
        f"  offres sans rencontre {_number(jd['uncovered_offers'])}",
        f"  candidats sans rencontre {_number(jd['uncovered_candidates'])}",
    ]
    return "\n".join(lines)
