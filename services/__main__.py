"""The command line: ``python -m services COMMAND`` (import, seed, report, migrate, users, purge,
candidate, sync, jobdating)."""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa

from services import config, demo, demo_centre
from services.access import accounts, privacy, retention, rights
from services.imports.importer import import_path
from services.imports.problems import ImportFileError
from services.integrations import api, calcom, invitations, mail, whereby_attendance, whereby_rooms
from services.jobdating import meeting_builder, meeting_plan
from services.jobdating.pairing import PairingError
from services.metrics import attribution
from services.metrics.report import build_report, format_report
from services.store import analytics, database, values
from services.store.models import ROLES, Event, Program, Site
from services.store.scope import Scope


class UsageError(Exception):
    """A user mistake: printed as one line, exit status 2."""


#: Exit statuses (docs/configuration.md, « Codes de sortie »).
EXIT_REFUSED, EXIT_USAGE, EXIT_STORE, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 70, 130
#: The longest attribution window, in days (the channels page offers as much).
MAX_LOOKBACK_DAYS = 365

# ---------------------------------------------------------------- argument types
# Every date and number of the command line is read here, by argparse ``type=`` functions: a
# value out of range is a usage error (one line, exit status 2) before any command runs.


def _date(text: str) -> date:
    """A date of the contract (``AAAA-MM-JJ`` or ``JJ/MM/AAAA``, years 1900 to 2200)."""
    try:
        return values.read_date(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"« {text} » : {error}") from None


def _whole_number(least: int, most: int | None = None) -> Callable[[str], int]:
    """A whole number from ``least`` to ``most`` (inclusive; no upper bound when None)."""

    def read(text: str) -> int:
        number = int(text) if re.fullmatch(r"\s*-?[0-9]+\s*", text) else None
        if number is None or number < least or (most is not None and number > most):
            limits = f"de {least} à {most}" if most is not None else f"d'au moins {least}"
            raise argparse.ArgumentTypeError(f"« {text} » : attendu un entier {limits}")
        return number

    return read


def _instant(text: str) -> datetime:
    """A date-time of the contract (local time unless an offset is given), or a date (midnight),
    in the years 1900 to 2200."""
    try:
        return values.read_datetime(text)
    except values.OutOfRange as error:  # readable, out of range: say so, not "unreadable"
        raise argparse.ArgumentTypeError(f"« {text} » : {error}") from None
    except ValueError:
        pass
    try:
        return values.local_midnight(values.read_date(text))
    except values.OutOfRange as error:
        raise argparse.ArgumentTypeError(f"« {text} » : {error}") from None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"« {text} » : date ou date-heure illisible (attendu AAAA-MM-JJ ou AAAA-MM-JJ HH:MM)"
        ) from None


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are one line, not the usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"erreur : {message} (voir {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m services", description="Rencontres : données et rapports.")
    commands = parser.add_subparsers(dest="command", required=True)

    imports = commands.add_parser(
        "import", help="importer un fichier CSV du contrat ou un dossier de fichiers"
    )
    imports.add_argument(
        "path", type=Path, help="fichier .csv, ou dossier contenant sites.csv, programs.csv…"
    )
    imports.add_argument("--kind", help="type du fichier quand son nom ne le dit pas (bookings, sites…)")

    seed = commands.add_parser("seed", help="remplir la base avec les données de démonstration")
    seed.add_argument(
        "--candidates", type=int, default=demo_centre.DEFAULT_CANDIDATES, help="nombre de candidats"
    )
    seed.add_argument("--seed", type=int, default=demo_centre.DEFAULT_SEED, help="graine du générateur")

    report = commands.add_parser("report", help="les chiffres d'un périmètre (metrics)")
    report.add_argument("--json", action="store_true", help="imprimer l'objet JSON documenté")
    report.add_argument("--from", dest="date_from", type=_date, required=True, help="premier jour (inclus)")
    report.add_argument("--to", dest="date_to", type=_date, required=True, help="dernier jour (inclus)")
    report.add_argument("--goal", choices=attribution.GOALS, default="booking", help="objectif d'attribution")
    report.add_argument(
        "--lookback",
        type=_whole_number(0, MAX_LOOKBACK_DAYS),
        default=attribution.DEFAULT_LOOKBACK_DAYS,
        help=f"fenêtre d'attribution en jours (défaut 30, au plus {MAX_LOOKBACK_DAYS})",
    )
    report.add_argument("--event", help="code de l'événement")
    report.add_argument("--site", action="append", default=[], help="code de site (répétable)")
    report.add_argument("--program", action="append", default=[], help="code de programme (répétable)")

    commands.add_parser("migrate", help="mettre le schéma de la base à jour")

    users = commands.add_parser("users", help="gérer les comptes du personnel").add_subparsers(
        dest="users_command", required=True
    )
    add = users.add_parser("add", help="créer un compte (le mot de passe est demandé, ou lu sur l'entrée)")
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--advisor", help="e-mail du conseiller lié (rôle advisor)")
    add.add_argument(
        "--sso",
        action="store_true",
        help="sans mot de passe : connexion par le compte de l'établissement seulement",
    )
    users.add_parser("list", help="lister les comptes (et les groupes de la connexion unique)")
    users.add_parser("groups", help="lister les groupes de la connexion unique et leur rôle")
    map_group = users.add_parser(
        "map-group", help="donner un rôle aux membres d'un groupe de la connexion unique"
    )
    map_group.add_argument(
        "group", help="nom du groupe, tel que le fournisseur l'envoie (revendication groups)"
    )
    map_group.add_argument("--role", required=True, choices=ROLES)
    users.add_parser("unmap-group", help="retirer le rôle d'un groupe de la connexion unique").add_argument(
        "group"
    )
    for name, text in (
        ("disable", "désactiver un compte"),
        ("enable", "réactiver un compte désactivé"),
        ("set-password", "changer le mot de passe"),
    ):
        users.add_parser(name, help=text).add_argument("email")
    role = users.add_parser("set-role", help="changer le rôle")
    role.add_argument("email")
    role.add_argument("role", choices=ROLES)
    role.add_argument("--advisor", help="e-mail du conseiller lié (rôle advisor)")

    purge = commands.add_parser(
        "purge", help="anonymiser les candidats jamais inscrits et sans contact depuis RETENTION_MONTHS mois"
    )
    purge.add_argument("--dry-run", action="store_true", help="montrer ce qui serait purgé, sans rien écrire")

    candidate = commands.add_parser(
        "candidate", help="droits d'accès et d'effacement d'un candidat"
    ).add_subparsers(dest="candidate_command", required=True)
    candidate.add_parser(
        "export", help="imprimer en JSON tout ce qui est enregistré sur un candidat"
    ).add_argument("ref")
    erase = candidate.add_parser("erase", help="effacer un candidat et tout ce qui le concerne")
    erase.add_argument("ref")
    erase.add_argument("--yes", action="store_true", help="ne pas demander de confirmation")

    sync = commands.add_parser(
        "sync", help="synchroniser avec le site de réservation (Cal.com) et les salles visio (Whereby)"
    ).add_subparsers(dest="sync_command", required=True)
    for name, (text, _handler) in SYNCS.items():
        what = sync.add_parser(name, help=text)
        what.add_argument(
            "--since",
            type=_instant,
            help="repartir de cette date-heure (AAAA-MM-JJ[ HH:MM], heure locale) au lieu du curseur",
        )
        what.add_argument(
            "--dry-run", action="store_true", help="montrer ce qui changerait, sans rien écrire"
        )

    jobdating = commands.add_parser(
        "jobdating", help="job datings : planifier les rencontres, envoyer les plannings par e-mail"
    ).add_subparsers(dest="jobdating_command", required=True)
    plan = jobdating.add_parser(
        "plan", help="planifier les rencontres d'un job dating à partir des paires suggérées"
    )
    plan.add_argument("event", help="code de l'opération (de type job_dating)")
    plan.add_argument(
        "--max-per-candidate",
        type=_whole_number(1),
        default=meeting_builder.DEFAULT_MAX_PER_CANDIDATE,
        help=f"rencontres au plus par candidat dans l'opération, existantes comprises "
        f"(défaut {meeting_builder.DEFAULT_MAX_PER_CANDIDATE})",
    )
    plan.add_argument("--dry-run", action="store_true", help="montrer le planning, sans rien écrire")
    send = jobdating.add_parser(
        "send",
        help="envoyer par e-mail à chaque entreprise et chaque candidat son planning (une fois ; "
        "mises à jour et annulations à ceux que le changement concerne)",
    )
    send.add_argument("event", help="code de l'opération (de type job_dating)")
    send.add_argument("--dry-run", action="store_true", help="montrer les messages, sans rien envoyer")
    remind = jobdating.add_parser(
        "remind",
        help="envoyer le rappel de la veille à chacun de ceux qui ont une rencontre le lendemain (une fois)",
    )
    remind.add_argument("event", help="code de l'opération (de type job_dating)")
    remind.add_argument(
        "--day",
        type=_date,
        default=None,
        help="le jour de l'envoi (défaut : aujourd'hui, heure de Paris) ; "
        "le rappel porte sur les rencontres du lendemain",
    )
    remind.add_argument("--dry-run", action="store_true", help="montrer les messages, sans rien envoyer")
    return parser


def _jobdating_mail(args: argparse.Namespace) -> int:
    """Send (or show) a job dating's schedules or the day-before reminders; 1 when a message failed."""
    sender = mail.sender_address()
    try:
        if args.jobdating_command == "send":
            mailing = invitations.schedules_to_send(args.event, sender=sender)
        else:
            day = args.day or datetime.now(config.LOCAL_TZ).date()
            mailing = invitations.reminders_to_send(args.event, day, sender=sender)
    except PairingError as error:
        raise UsageError(str(error)) from None
    for message in mailing.messages:
        print(
            f"{message.kind} : {message.party} : {len(message.attachments)} pièce(s) jointe(s) .ics : "
            f"« {message.subject} »"
        )
    for line in mailing.summary_lines():
        print(line)
    if args.dry_run or not mailing.messages:
        print("aperçu : rien n'a été envoyé" if args.dry_run else "rien de nouveau à envoyer")
        return 0
    report = invitations.deliver(mailing, actor=f"cli:{getpass.getuser()}")
    for line in report.lines():
        print(line, file=sys.stderr if line.startswith("échec") else sys.stdout)
    return EXIT_REFUSED if report.failed else 0


def _jobdating_plan(args: argparse.Namespace) -> int:
    """Plan a job dating's meetings, print the summary, save unless ``--dry-run``; 1 when infeasible."""
    try:
        plan = meeting_plan.plan_event(args.event, max_per_candidate=args.max_per_candidate)
    except PairingError as error:
        raise UsageError(str(error)) from None
    except meeting_builder.PlanInfeasible as error:
        print(f"erreur : planning impossible pour {args.event}, rien n'a été écrit :", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    for line in plan.summary_lines():
        print(line)
    if args.dry_run:
        print("aperçu : rien n'a été écrit")
        return 0
    try:
        meeting_plan.save_plan(
            args.event,
            plan.meetings,
            actor=f"cli:{getpass.getuser()}",
            max_per_candidate=args.max_per_candidate,
        )
    except meeting_builder.PlanInfeasible as error:
        print(
            "erreur : le planning ne tient plus (une autre écriture entre-temps), rien n'a été écrit :",
            file=sys.stderr,
        )
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{len(plan.meetings)} rencontre(s) enregistrée(s)")
    return 0


def _known(column: sa.Column, wanted: list[str], what: str) -> None:
    with database.get_engine().connect() as connection:
        found = set(connection.execute(sa.select(column).where(column.in_(wanted))).scalars())
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise UsageError(f"{what} inconnu : {', '.join(unknown)}")


def _import(args: argparse.Namespace) -> int:
    results = import_path(args.path, kind=args.kind, imported_by="cli")
    for result in results:
        if result.accepted:
            print(
                f"{result.source} : {result.inserted} ajoutée(s), {result.updated} mise(s) à jour, "
                f"{result.unchanged} inchangée(s)"
            )
        else:
            print(
                f"{result.source} : refusé, rien n'a été écrit ({len(result.problems)} problème(s))",
                file=sys.stderr,
            )
            for line in result.describe_problems():
                print(line, file=sys.stderr)
        for warning in result.warnings:
            print(f"{result.source} : attention : {warning}", file=sys.stderr)
    return 0 if all(result.accepted for result in results) else 1


def _seed(args: argparse.Namespace) -> int:
    if args.candidates < 1:
        raise UsageError("--candidates doit être ≥ 1")
    if not database.is_empty() and not database.holds_demo_data():
        raise UsageError("la base contient déjà des données réelles : seed refusé (utilisez une base vide)")
    if args.candidates > demo_centre.NETWORK_FROM and not database.is_empty():
        raise UsageError(
            f"au-delà de {demo_centre.NETWORK_FROM} candidats, seed écrit en masse dans une base vide"
        )
    results = demo.seed_demo(args.candidates, args.seed)
    for result in results:
        print(
            f"{result.kind} : {result.inserted} ajoutée(s), {result.updated} mise(s) à jour, "
            f"{result.unchanged} inchangée(s)"
        )
        for line in result.describe_problems():
            print(line, file=sys.stderr)
    return 0 if all(result.accepted for result in results) else 1


def _report(args: argparse.Namespace) -> int:
    try:
        scope = Scope(args.date_from, args.date_to, args.event, tuple(args.site), tuple(args.program))
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.event:
        _known(Event.__table__.c.code, [args.event], "événement")
    if args.site:
        _known(Site.__table__.c.code, args.site, "site")
    if args.program:
        _known(Program.__table__.c.code, args.program, "programme")
    report = build_report(scope, args.goal, args.lookback)
    # allow_nan=False: never ``NaN`` nor ``Infinity``, which are not JSON (build_report refuses them).
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False))
    else:
        print(format_report(report))
    return 0


def _read_password() -> str:
    """The new password: asked twice on a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Mot de passe : ")
        if getpass.getpass("Encore une fois : ") != first:
            raise UsageError("les deux mots de passe diffèrent")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _users(args: argparse.Namespace) -> int:
    actor = f"cli:{getpass.getuser()}"
    try:
        if args.users_command == "add":
            email = accounts.checked_email(args.email)  # before the password is asked for
            password = None if args.sso else _read_password()
            if password == "":
                raise UsageError("mot de passe vide (pour un compte sans mot de passe, ajoutez --sso)")
            accounts.add_account(
                email=email,
                role=args.role,
                password=password,
                actor=actor,
                advisor_email=args.advisor,
            )
            how = ", connexion unique seulement" if args.sso else ""
            print(f"compte créé : {email} ({args.role}{how})")
        elif args.users_command == "list":
            table = accounts.list_accounts()
            print(table.to_string(index=False) if not table.empty else "aucun compte")
            groups = accounts.list_groups()
            if not groups.empty:
                print(f"\ngroupes de la connexion unique :\n{groups.to_string(index=False)}")
        elif args.users_command == "groups":
            groups = accounts.list_groups()
            print(groups.to_string(index=False) if not groups.empty else "aucun groupe associé à un rôle")
        elif args.users_command == "map-group":
            accounts.map_group(group=args.group, role=args.role, actor=actor)
            print(f"groupe {args.group.strip()} → {args.role}")
        elif args.users_command == "unmap-group":
            accounts.unmap_group(group=args.group, actor=actor)
            print(f"groupe {args.group.strip()} : plus de rôle")
        elif args.users_command == "disable":
            accounts.disable_account(email=args.email, actor=actor)
            print(f"compte désactivé : {args.email}")
        elif args.users_command == "enable":
            accounts.enable_account(email=args.email, actor=actor)
            print(f"compte réactivé : {args.email}")
        elif args.users_command == "set-password":
            accounts.set_password(email=args.email, password=_read_password(), actor=actor)
            print(f"mot de passe changé : {args.email}")
        else:
            accounts.set_role(email=args.email, role=args.role, actor=actor, advisor_email=args.advisor)
            print(f"rôle changé : {args.email} → {args.role}")
    except accounts.AccountError as error:
        raise UsageError(str(error)) from None
    return 0


#: How the command line says what the purge does to a table's rows.
_ACTIONS = {"anonymised": "anonymisée(s)", "deleted": "supprimée(s)"}


def _purge(args: argparse.Namespace) -> int:
    try:
        summary = (
            retention.purge_preview() if args.dry_run else retention.purge(actor=f"cli:{getpass.getuser()}")
        )
    except ValueError as error:  # RETENTION_MONTHS unreadable
        raise UsageError(str(error)) from None
    cutoff = summary.cutoff.strftime("%d/%m/%Y %H:%M")
    print(f"candidats jamais inscrits, sans contact depuis le {cutoff} : {summary.candidates}")
    for row in summary.as_frame().itertuples():
        print(f"  {row.table:<16} {row.rows:>7} {_ACTIONS[row.action]}")
    print("aperçu : rien n'a été écrit" if args.dry_run else "purge faite")
    return 0


def _confirmed(question: str) -> bool:
    """A yes on a terminal; off a terminal there is nobody to ask: --yes is required."""
    if not sys.stdin.isatty():
        raise UsageError("confirmation impossible hors d'un terminal : relancez avec --yes")
    return input(f"{question} [o/N] ").strip().lower() in {"o", "oui", "y", "yes"}


def _candidate(args: argparse.Namespace) -> int:
    actor = f"cli:{getpass.getuser()}"
    try:
        if args.candidate_command == "export":
            print(rights.candidate_json(args.ref, actor=actor))
            return 0
        rows = rights.candidate_footprint(args.ref)
        listed = ", ".join(f"{table} {count}" for table, count in rows.items() if count)
        if not args.yes and not _confirmed(f"Effacer définitivement {args.ref} ({listed}) ?"):
            print("abandon : rien n'a été effacé")
            return 1
        rights.erase_candidate(args.ref, actor=actor)
        print(f"candidat effacé : {args.ref} ({listed})")
        return 0
    except privacy.UnknownCandidate as error:
        raise UsageError(str(error)) from None


def _sync_bookings(args: argparse.Namespace) -> int:
    summary = calcom.sync_bookings(
        actor=f"cli:{getpass.getuser()}",
        since=args.since,
        dry_run=args.dry_run,
        waiting=lambda message: print(message, file=sys.stderr, flush=True),  # a pause said as it starts
    )
    for line in summary.report_lines():
        print(line)
    for line in summary.problem_lines():
        print(line, file=sys.stderr)
    return 1 if summary.error else 0


def _sync_rooms(args: argparse.Namespace) -> int:
    if args.since is not None:
        raise UsageError("--since ne vaut que pour sync bookings et sync attendance")
    return _video_sync(
        lambda: whereby_rooms.sync_rooms(actor=f"cli:{getpass.getuser()}", dry_run=args.dry_run)
    )


def _sync_attendance(args: argparse.Namespace) -> int:
    since = values.local_date(args.since) if args.since is not None else None
    return _video_sync(
        lambda: whereby_attendance.sync_attendance(
            actor=f"cli:{getpass.getuser()}", since=since, dry_run=args.dry_run
        )
    )


def _video_sync(run) -> int:  # noqa: ANN001
    """Run a Whereby sync, print its summary; 1 when the API, a booking or a company's day failed."""
    try:
        summary = run()
    except api.ApiError as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 1
    for line in summary.lines():
        print(line)
    # A rooms sync fails too when a company's day of job-dating meetings did.
    failed = summary.has_failures if isinstance(summary, whereby_rooms.RoomSummary) else summary.failed
    return 1 if failed else 0


#: ``sync`` sub-commands: name → (help, handler taking the parsed arguments, returning the exit status).
SYNCS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "bookings": ("rendez-vous du site de réservation (Cal.com)", _sync_bookings),
    "rooms": (
        "salles visio Whereby des entretiens à venir (création, suppression si annulé) "
        "et des rencontres de job dating (une salle par rencontre)",
        _sync_rooms,
    ),
    "attendance": ("présences d'après les appels Whereby, proposées aux conseillers", _sync_attendance),
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; every mistake or problem is one line on stderr and its exit status (never a
    traceback): 2 usage, 3 store or settings, 130 interrupted (docs/configuration.md)."""
    args = _parser().parse_args(argv)
    try:
        with analytics.without_copies():  # one command, one read of each table: no copy
            return _run(args)
    except (UsageError, ImportFileError) as error:
        print(f"erreur : {error}", file=sys.stderr)
        return EXIT_USAGE
    except (config.SettingError, database.StoreError, mail.MailError) as error:
        print(f"erreur : {error}", file=sys.stderr)
        return EXIT_STORE
    except sa.exc.OperationalError as error:
        print(f"erreur : base de données inaccessible ({_first_line(error.orig)})", file=sys.stderr)
        return EXIT_STORE
    except sa.exc.DBAPIError as error:  # not a database (a text file, a truncated copy…)
        print(
            f"erreur : DATABASE_URL : base de données illisible ou endommagée ({_first_line(error.orig)})",
            file=sys.stderr,
        )
        return EXIT_STORE
    except KeyboardInterrupt:
        # A write in progress is rolled back (its transaction is never committed).
        print(f"{_interrupted(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the last resort: one line, never a traceback
        print(f"erreur interne ({type(error).__name__}) : {_first_line(error)}", file=sys.stderr)
        return EXIT_INTERNAL


def _first_line(error: object) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _interrupted(args: argparse.Namespace) -> str:
    """What an interruption (Ctrl-C) left: nothing of the file being written."""
    if args.command != "import":
        return "interrompu : ce qui était en cours d'écriture n'a pas été enregistré"
    if args.path.is_dir():
        return (
            "import interrompu : rien n'a été enregistré du fichier en cours "
            "(les fichiers du dossier déjà importés le restent)"
        )
    return "import interrompu : rien n'a été enregistré"


def _run(args: argparse.Namespace) -> int:
    if args.command == "report" and analytics.reads_in_duckdb(database.get_engine()):
        # Its reads run in the DuckDB process (a large store: a small one is read in SQLite):
        # started now, it imports DuckDB on the other core while this one checks the schema.
        analytics.start_workers(wait=False)
    database.migrate()
    if args.command == "import":
        return _import(args)
    if args.command == "seed":
        return _seed(args)
    if args.command == "report":
        return _report(args)
    if args.command == "users":
        return _users(args)
    if args.command == "purge":
        return _purge(args)
    if args.command == "candidate":
        return _candidate(args)
    if args.command == "sync":
        return SYNCS[args.sync_command][1](args)
    if args.command == "jobdating":
        return _jobdating_plan(args) if args.jobdating_command == "plan" else _jobdating_mail(args)
    print("schéma à jour")
    return 0


if __name__ == "__main__":
    sys.exit(main())
