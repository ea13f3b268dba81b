"""Half-broken files from Excel and from CRMs: every refusal says file, line, column, value and
what to fix, in words a secretary can act on.

The contract (shared/data-contract.md) decides what is accepted; these tests add nothing to it.
What they check is the reason of a refusal when the value is one Excel is known to have damaged
(a leading zero dropped, a number written in scientific notation or turned into a date, a date
written as a day number, VRAI/FAUX for a boolean), when a CRM sent the same row twice, or a
reference that differs from a stored one only by its case or its spaces. Each expected line is
written by hand from the file in the test.
"""

from __future__ import annotations

import pytest

from services.imports import uploads
from services.imports.importer import import_bytes
from services.imports.problems import ImportResult
from tests.test_import_limits import contents
from tests.test_uploads import zip_of

#: What every hint about a column Excel reformatted ends with.
AS_TEXT = "mettez la colonne au format Texte dans Excel"


def refused(kind: str, text: str, engine, encoding: str = "utf-8") -> list[str]:
    """The problem lines of a file that must be refused (nothing of it written)."""
    before = contents(engine)
    result = import_bytes(text.encode(encoding), source=f"{kind}.csv", engine=engine)
    assert not result.accepted
    assert contents(engine) == before
    return result.describe_problems()


def imported(kind: str, text: str, engine, encoding: str = "utf-8") -> ImportResult:
    result = import_bytes(text.encode(encoding), source=f"{kind}.csv", engine=engine)
    assert result.accepted, result.describe_problems()
    return result


# ---------------------------------------------------------------- numbers Excel reformatted


def test_a_siret_that_lost_its_leading_zero_says_so(scenario):
    # 01234567890123 opened in Excel becomes the number 1234567890123: 13 digits.
    assert refused("companies", "siret;name\r\n1234567890123;Forges\r\n", scenario) == [
        "companies.csv:2: siret: 1234567890123: SIRET : 14 chiffres attendus (13 ici : Excel a "
        f"peut-être retiré le zéro du début ; {AS_TEXT})"
    ]


def test_a_siret_in_scientific_notation_says_its_digits_are_lost(scenario):
    # French Excel shows a 14-digit number as 1,23457E+13 and saves it so in a CSV: the last
    # eight digits are gone, no reading can bring them back.
    assert refused("offers", "ref;siret;published_on\r\nO9;1,23457E+13;2020-04-02\r\n", scenario) == [
        "offers.csv:2: siret: 1,23457E+13: SIRET : 14 chiffres attendus (la notation scientifique "
        "d'Excel, comme 1,23457E+13 : les derniers chiffres sont perdus ; reprenez la valeur d'origine et "
        f"{AS_TEXT})"
    ]


def test_a_postal_code_that_lost_its_leading_zero_says_so(scenario):
    # 08000 (Charleville-Mézières) becomes 8000 in Excel.
    assert refused("candidates", "ref;postal_code;created_at\r\nCZ;8000;2020-04-01 10:00\r\n", scenario) == [
        "candidates.csv:2: postal_code: 8000: code postal : 5 caractères attendus (4 ici : Excel a "
        f"peut-être retiré le zéro du début, comme 08000 devenu 8000 ; {AS_TEXT})"
    ]


def test_a_postal_code_of_five_characters_is_still_taken_as_it_is(scenario):
    # The contract says 5 characters, not 5 digits: Corsican codes are digits, but a letter is
    # no reason to refuse. Nothing here is padded.
    imported("candidates", "ref,postal_code,created_at\nCZ,08000,2020-04-01 10:00\n", scenario)


def test_a_number_turned_into_a_date_says_so(scenario):
    # Typed 12-1 in a French Excel, seats became the date « 12-janv. ».
    assert refused("programs", "code;name;site_code;seats\r\nP1;X;MAX;12-janv.\r\n", scenario) == [
        "programs.csv:2: seats: 12-janv.: nombre illisible (attendu 1234.5, 1234,5 ou 1 234,50) : "
        "ressemble à une date (Excel a peut-être changé ce nombre en date ; mettez la colonne au "
        "format Nombre dans Excel)"
    ]


def test_an_amount_with_a_currency_sign_says_to_write_the_number_alone(scenario):
    # Excel's « Monétaire » format writes the euro sign into the CSV.
    text = "code;name;channel;spend_eur\r\nFB-9;Facebook mai;social;1 000,50 €\r\n"
    assert refused("campaigns", text, scenario) == [
        "campaigns.csv:2: spend_eur: 1 000,50 €: nombre illisible (attendu 1234.5, 1234,5 ou "
        "1 234,50) : le nombre seul, sans « € » (format de cellule Nombre plutôt que Monétaire)"
    ]


def test_a_count_in_scientific_notation_says_so(scenario):
    text = "code;name;channel;sent\r\nML-1;Lettre;email;1,5E+06\r\n"
    assert refused("campaigns", text, scenario) == [
        "campaigns.csv:2: sent: 1,5E+06: nombre illisible (attendu 1234.5, 1234,5 ou 1 234,50) : "
        "la notation scientifique d'Excel (1,5E+06) ; mettez la colonne au format Nombre dans Excel"
    ]


# ---------------------------------------------------------------- dates Excel reformatted


def test_a_date_written_as_excel_s_day_number_says_so(scenario):
    # 43935 is 14/04/2020 counted in days from Excel's 1900 epoch.
    text = "code;name;kind;starts_on;ends_on\r\nE1;Portes;virtual;43935;2020-04-17\r\n"
    assert refused("events", text, scenario) == [
        "events.csv:2: starts_on: 43935: date illisible (attendu AAAA-MM-JJ ou JJ/MM/AAAA) : un numéro "
        "de jour d'Excel ; mettez la colonne au format Date (JJ/MM/AAAA) dans Excel"
    ]


def test_a_date_with_one_digit_days_or_a_short_year_says_how_to_write_it(scenario):
    text = "code;name;kind;starts_on;ends_on\r\nE1;Portes;virtual;4/5/2020;14/04/20\r\n"
    # The reason gives the rule by an example of its own, never the value (see
    # test_no_hint_repeats_a_personal_value_into_the_import_history).
    short = (
        "date illisible (attendu AAAA-MM-JJ ou JJ/MM/AAAA) : jour et mois sur deux chiffres, année sur "
        "quatre (04/05/2020, pas 4/5/2020 ni 04/05/20)"
    )
    assert refused("events", text, scenario) == [
        f"events.csv:2: starts_on: 4/5/2020: {short}",
        f"events.csv:2: ends_on: 14/04/20: {short}",
    ]


def test_a_date_column_with_a_time_says_a_date_alone_is_expected(scenario):
    text = "code;name;kind;starts_on;ends_on\r\nE1;Portes;virtual;14/04/2020 00:00;2020-04-17\r\n"
    assert refused("events", text, scenario) == [
        "events.csv:2: starts_on: 14/04/2020 00:00: date illisible (attendu AAAA-MM-JJ ou JJ/MM/AAAA) : "
        "une date seule est attendue, sans heure"
    ]


def test_a_date_time_without_its_time_says_the_time_is_missing(scenario):
    # A column formatted « Date courte » in Excel drops the time of every date-time.
    text = "ref;created_at\r\nCZ;01/04/2020\r\nCY;2020-04-01\r\n"
    missing = (
        "date-heure illisible (attendu AAAA-MM-JJ HH:MM[:SS], AAAA-MM-JJTHH:MM[:SS] ou JJ/MM/AAAA "
        "HH:MM[:SS], fuseau facultatif) : il manque l'heure (HH:MM)"
    )
    assert refused("candidates", text, scenario) == [
        f"candidates.csv:2: created_at: 01/04/2020: {missing}",
        f"candidates.csv:3: created_at: 2020-04-01: {missing}",
    ]


def test_a_date_time_written_as_excel_s_day_number_says_so(scenario):
    text = "ref;created_at\r\nCZ;43922,4166666667\r\n"
    assert refused("candidates", text, scenario) == [
        "candidates.csv:2: created_at: 43922,4166666667: date-heure illisible (attendu AAAA-MM-JJ "
        "HH:MM[:SS], AAAA-MM-JJTHH:MM[:SS] ou JJ/MM/AAAA HH:MM[:SS], fuseau facultatif) : un numéro de jour "
        "d'Excel ; mettez la colonne au format Date (JJ/MM/AAAA hh:mm) dans Excel"
    ]


# ---------------------------------------------------------------- booleans


def test_excel_s_vrai_and_faux_are_refused_and_say_what_to_write(scenario):
    # A French Excel writes a boolean formula's result as VRAI or FAUX: not a contract word.
    text = "ref;marketing_consent;created_at\r\nCZ;VRAI;2020-04-01 10:00\r\nCY;faux;2020-04-01 10:00\r\n"
    words = "booléen illisible (attendu oui/non, 1/0, true/false, yes/no, o/n, y/n)"
    assert refused("candidates", text, scenario) == [
        f"candidates.csv:2: marketing_consent: VRAI: {words} : écrivez oui ou non plutôt que VRAI ou FAUX",
        f"candidates.csv:3: marketing_consent: faux: {words} : écrivez oui ou non plutôt que VRAI ou FAUX",
    ]


# ---------------------------------------------------------------- what Excel saves instead of a CSV


def test_a_tab_separated_file_is_refused_as_such_not_for_missing_columns(scenario):
    # Excel's « Texte (séparateur : tabulation) »: before, the header was one column named
    # "code\tname", and the file was refused for lacking code and name, which it has.
    assert refused("sites", "code\tname\r\nT1\tTabulé\r\n", scenario, encoding="cp1252") == [
        "sites.csv:1: (en-tête): : colonnes séparées par des tabulations (enregistrement « Texte » "
        "d'Excel) : séparateur attendu : la virgule ou le point-virgule ; enregistrez-le en « CSV UTF-8 » "
        "(Excel : Enregistrer sous, CSV UTF-8)"
    ]


def test_a_tab_inside_a_cell_of_a_comma_file_is_still_a_character(scenario):
    # One tab in a cell of a file separated by commas: the separator is the comma.
    result = imported("sites", 'code,name\r\nT1,"Un\tdeux"\r\n', scenario)
    assert result.inserted == 1


def test_an_excel_workbook_named_like_a_contract_file_is_named_as_a_workbook(scenario, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["code", "name"])
    book.active.append(["XL", "Classeur"])
    book.save(tmp_path / "sites.xlsx")
    before = contents(scenario)
    result = import_bytes((tmp_path / "sites.xlsx").read_bytes(), source="sites.xlsx", engine=scenario)
    assert result.describe_problems() == [
        "sites.xlsx:1: (fichier): : classeur Excel, pas un fichier CSV : ouvrez-le dans Excel et "
        "enregistrez-le en « CSV UTF-8 » (Excel : Enregistrer sous, CSV UTF-8)"
    ]
    # The older .xls format (a compound document) is named alike.
    old = import_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), source="sites.csv", engine=scenario)
    workbook = "sites.csv:1: (fichier): : classeur Excel, pas un fichier CSV"
    assert old.describe_problems()[0].startswith(workbook)
    assert contents(scenario) == before


def test_empty_unnamed_columns_excel_leaves_at_the_end_warn_of_nothing(scenario):
    # A sheet whose formatting ran past the data: Excel writes ;;;; after every line, the
    # header's included. They hold nothing: no « unknown column » to worry about.
    result = imported("sites", "code;name;city;;;;\r\nNEW;Nouveau;Nancy;;;;\r\n", scenario)
    assert (result.inserted, result.warnings) == (1, [])


def test_an_unnamed_column_that_holds_values_is_still_named_in_a_warning(scenario):
    result = imported("sites", "code;name;;\r\nNEW;Nouveau;;note\r\n", scenario)
    assert result.warnings == ["colonne inconnue ignorée : « (sans nom) »"]


# ---------------------------------------------------------------- CRM exports


def test_a_row_sent_twice_is_named_as_the_same_row(scenario):
    # A CRM export that repeats a row: the key is twice in the file, the cells are the same.
    text = "code,name\nNEW,Nouveau\nOTH,Autre\nNEW,Nouveau\n"
    assert refused("sites", text, scenario) == [
        "sites.csv:4: code: NEW: clé en double dans le fichier (déjà ligne 2) : la même ligne deux fois "
        "(un doublon d'export ?) ; supprimez l'une des deux"
    ]


def test_the_same_key_with_other_values_says_to_choose(scenario):
    text = "code,name\nNEW,Nouveau\nNEW, Nouveau site \n"
    assert refused("sites", text, scenario) == [
        "sites.csv:3: code: NEW: clé en double dans le fichier (déjà ligne 2) avec d'autres valeurs : "
        "gardez la bonne ligne et supprimez l'autre"
    ]


@pytest.mark.postgresql
def test_a_reference_that_differs_only_by_case_or_spaces_names_the_stored_one(scenario):
    # The scenario stores candidate CA and site MAX. A CRM wrote « ca » and « M AX »: codes are
    # compared as written (the contract trims them, nothing more), so both are unknown, and
    # the reason names the stored code that was meant.
    text = (
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "BX,ca,M AX,2020-04-14 10:00,booked,2020-04-01 10:00\n"
        "BY,ZZ,MAX,2020-04-14 11:00,booked,2020-04-01 10:00\n"
    )
    same = "les majuscules et les espaces comptent dans une référence"
    assert refused("bookings", text, scenario) == [
        f"bookings.csv:2: candidate_ref: ca: candidat inconnu (« CA » existe : {same})",
        f"bookings.csv:2: site_code: M AX: site inconnu (« MAX » existe : {same})",
        "bookings.csv:3: candidate_ref: ZZ: candidat inconnu",
    ]


def test_a_reference_to_a_row_a_file_before_brings_is_named_in_a_check_of_several_files(engine):
    # The data page checks sites.csv then programs.csv: « new » names the site NEW that the
    # first file would write.
    report = uploads.check_upload(
        [
            ("programs.csv", b"code,name,site_code\nBTS-MS,BTS,new\n"),
            ("sites.csv", b"code,name\nNEW,Nouveau\n"),
        ],
        engine=engine,
    )
    assert [line for result in report for line in result.describe_problems()] == [
        "programs.csv:2: site_code: new: site inconnu (« NEW » existe : les majuscules et les espaces "
        "comptent dans une référence)"
    ]


def test_excel_s_sep_line_before_the_header_is_named(scenario):
    # Some CRM exports begin with « sep=; » for Excel to pick the separator: the header is then
    # line 2. Before, the file was refused for lacking the columns it has.
    assert refused("sites", "sep=;\r\ncode;name\r\nS1;Un\r\n", scenario) == [
        "sites.csv:1: (en-tête): sep=;: ligne « sep= » avant l'en-tête (une indication de séparateur pour "
        "Excel) : supprimez cette ligne, les noms des colonnes doivent être sur la première ligne"
    ]


# ---------------------------------------------------------------- Excel for Mac


def test_a_mac_roman_file_is_refused_not_stored_as_mojibake(scenario):
    # Excel for Mac's « CSV Macintosh » is Mac Roman, lines ended by CR: its é (0x8E) is Ž in
    # Windows-1252. Before, « Maxéville » was stored as « MaxŽville ».
    text = "code,name,city\rMV,Maxéville,Nancy\rYZ,Yutz,Thionville\rCH,Château,Chaumont\r"
    mac = "encodage Mac (« CSV Macintosh » d'Excel pour Mac ?) : lu en Windows-1252, le texte serait abîmé"
    assert refused("sites", text, scenario, encoding="mac_roman") == [
        f"sites.csv:2: name: MaxŽville: {mac} ; enregistrez-le en « CSV UTF-8 » (Excel : Enregistrer sous, "
        "CSV UTF-8)",
        f"sites.csv:4: name: Ch‰teau: {mac} ; enregistrez-le en « CSV UTF-8 » (Excel : Enregistrer sous, "
        "CSV UTF-8)",
    ]


def test_a_byte_neither_encoding_reads_is_named_at_its_line_whatever_ends_the_lines(scenario):
    # Mac Roman's è (0x8F) is no Windows-1252 character. The lines end with CR alone: before,
    # only LF was counted and the byte was said to be on line 1.
    problems = refused("sites", "code,name\rLV,Lunèville\r", scenario, encoding="mac_roman")
    assert problems == [
        "sites.csv:2: (ligne): : octet 0x8F illisible en UTF-8 comme en Windows-1252 : encodage illisible "
        "(attendu UTF-8 ou Windows-1252 ; un fichier « CSV Macintosh » d'Excel pour Mac ? enregistrez-le "
        "en « CSV UTF-8 » (Excel : Enregistrer sous, CSV UTF-8))"
    ]


def test_windows_1252_letters_that_mac_roman_also_has_are_still_read(scenario):
    # « œ » (0x9C) and a name with « Ž » at its start are Windows-1252 text, not a Mac's accents;
    # so are a bullet of inclusive writing and a trade mark after a letter (0x95 and 0x99, Mac
    # Roman's ï and ô), which Windows-1252 files from a French centre do hold.
    text = "code,name\r\nSC,Sœurs Žižek\r\nTM,Technicien•ne Acme™\r\n"
    result = imported("sites", text, scenario, encoding="cp1252")
    assert result.inserted == 2


# ---------------------------------------------------------------- atomicity


@pytest.mark.postgresql
def test_a_write_that_fails_after_its_rows_leaves_nothing_of_the_file(scenario, monkeypatch):
    # The file updates CA (a new first name) and adds CN: both rows are written, then the
    # write fails before its end (here the data version's bump, the last step of the
    # transaction). Nothing of the file may stay, nor a line of history saying it was imported.
    from services.imports import importer

    before = contents(scenario)
    runs = len(uploads.import_history(engine=scenario))

    def fail(connection) -> None:
        raise RuntimeError("disque plein")

    monkeypatch.setattr(importer, "bump_data_version", fail)
    text = "ref,first_name,created_at\nCA,Alicia,2020-04-01 10:00\nCN,Nina,2020-04-02 10:00\n"
    with pytest.raises(RuntimeError, match="disque plein"):
        import_bytes(text.encode(), source="candidates.csv", engine=scenario)
    assert contents(scenario) == before
    assert len(uploads.import_history(engine=scenario)) == runs
    monkeypatch.undo()
    # The same file, the store now sound: imported once, then unchanged.
    first = imported("candidates", text, scenario)
    assert (first.inserted, first.updated) == (1, 1)
    again = imported("candidates", text, scenario)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


def test_a_crm_zip_of_excel_files_is_imported_file_by_file_then_again_to_nothing(engine):
    # A zip in nested folders, with a file that is not the contract's, and files as French
    # Excel saves them (Windows-1252, « ; », CRLF, trailing ;;). Line 3 of candidates.csv lost
    # its postal code's zero: that file alone is refused, whole; the files before it stay.
    sites = "code;name;city;;\r\nMAX;Maxéville;Maxéville;;\r\n".encode("cp1252")
    programs = "code;name;level;site_code;seats\r\nBTS-MS;BTS Maintenance;bts;MAX;12\r\n".encode("cp1252")

    def candidates(postal_code: str) -> bytes:
        return (
            "ref;first_name;postal_code;marketing_consent;created_at\r\n"
            "C1;Léa;54000;oui;01/04/2020 10:00\r\n"
            f"C2;Théo;{postal_code};non;02/04/2020 10:00\r\n"
        ).encode("cp1252")

    def upload(postal_code: str) -> list[tuple[str, bool, int, int, int]]:
        archive = zip_of(
            ("export/LISEZMOI.txt", b"Export du CRM"),
            ("export/2020/candidates.csv", candidates(postal_code)),
            ("export/2020/sites.csv", sites),
            ("export/2020/programmes/programs.csv", programs),
        )
        results = uploads.import_upload([("export.zip", archive)], imported_by="secretariat", engine=engine)
        return [(r.source.split("/")[-1], r.accepted, r.inserted, r.updated, r.unchanged) for r in results]

    assert upload("8000") == [
        ("sites.csv", True, 1, 0, 0),
        ("programs.csv", True, 1, 0, 0),
        ("candidates.csv", False, 0, 0, 0),
        ("LISEZMOI.txt", False, 0, 0, 0),
    ]
    assert [len(rows) for rows in contents(engine).values()] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    # Corrected: the candidates come in; sent again, nothing changes.
    assert upload("08000")[:3] == [
        ("sites.csv", True, 0, 0, 1),
        ("programs.csv", True, 0, 0, 1),
        ("candidates.csv", True, 2, 0, 0),
    ]
    stored = contents(engine)
    assert upload("08000")[:3] == [
        ("sites.csv", True, 0, 0, 1),
        ("programs.csv", True, 0, 0, 1),
        ("candidates.csv", True, 0, 0, 2),
    ]
    assert contents(engine) == stored


# ---------------------------------------------------------------- cells pasted from elsewhere


def test_an_invisible_character_inside_a_code_is_named_in_french(scenario):
    # A reference pasted from a web page or from Word: a non-breaking space, a zero-width
    # space, a tab inside it. Before, the reason named them in English (« NO-BREAK SPACE »).
    text = 'code,name\nM\u00a0X,Un\nM\u200bY,Deux\n"M\tZ",Trois\nM\u2028W,Quatre\n'
    inside = "dans un code (copié depuis une page web ou un traitement de texte ?)"
    assert refused("sites", text, scenario) == [
        f"sites.csv:2: code: M\\xa0X: caractère invisible ou de contrôle U+00A0 (espace insécable) {inside}",
        f"sites.csv:3: code: M\\u200bY: caractère invisible ou de contrôle U+200B (espace de largeur nulle) "
        f"{inside}",
        f"sites.csv:4: code: M\\tZ: caractère invisible ou de contrôle U+0009 (tabulation) {inside}",
        # A character without a French name here keeps its Unicode name.
        f"sites.csv:5: code: M\\u2028W: caractère invisible ou de contrôle U+2028 (LINE SEPARATOR) {inside}",
    ]


def test_a_row_with_too_many_values_says_a_separator_may_be_in_a_value(scenario):
    # « Dupont, fils » unquoted in a comma file: three values for two columns.
    assert refused("sites", "code,name\nDF,Dupont, fils\n", scenario) == [
        "sites.csv:2: (ligne): : trop de valeurs : 3 valeurs pour 2 colonnes (une virgule dans une valeur ? "
        'une valeur qui contient le séparateur s\'écrit entre guillemets : "Dupont, fils")'
    ]
    assert refused("sites", "code;name\nDF;Dupont; fils\n", scenario)[0].endswith(
        "(un point-virgule dans une valeur ? une valeur qui contient le séparateur s'écrit entre "
        'guillemets : "Dupont; fils")'
    )


# ---------------------------------------------------------------- short forms and decimal codes


def test_short_iso_dates_and_one_digit_hours_say_how_to_write_them(scenario):
    events = "code;name;kind;starts_on;ends_on\r\nE1;Portes;virtual;2020-4-5;2020-04-17\r\n"
    assert refused("events", events, scenario) == [
        "events.csv:2: starts_on: 2020-4-5: date illisible (attendu AAAA-MM-JJ ou JJ/MM/AAAA) : jour et mois "
        "sur deux chiffres (2020-04-05, pas 2020-4-5)"
    ]
    # A custom « h:mm » format in Excel writes 9:05.
    candidates = "ref;created_at\r\nCZ;14/04/2020 9:05\r\n"
    assert refused("candidates", candidates, scenario) == [
        "candidates.csv:2: created_at: 14/04/2020 9:05: date-heure illisible (attendu AAAA-MM-JJ HH:MM[:SS], "
        "AAAA-MM-JJTHH:MM[:SS] ou JJ/MM/AAAA HH:MM[:SS], fuseau facultatif) : heure sur deux chiffres "
        "(09:05, pas 9:05)"
    ]


def test_a_code_exported_as_a_decimal_number_says_so(scenario):
    # A CRM export that went through a float: 54000.0, 12345678900011.0.
    assert refused("candidates", "ref,postal_code,created_at\nCZ,54000.0,2020-04-01 10:00\n", scenario) == [
        "candidates.csv:2: postal_code: 54000.0: code postal : 5 caractères attendus (écrit comme un nombre "
        "à virgule par le logiciel qui a fait le fichier : le code s'écrit sans « .0 »)"
    ]
    assert refused("companies", "siret,name\n12345678900011.0,Forges\n", scenario) == [
        "companies.csv:2: siret: 12345678900011.0: SIRET : 14 chiffres attendus (écrit comme un nombre à "
        "virgule par le logiciel qui a fait le fichier : le code s'écrit sans « .0 »)"
    ]


def test_a_file_cut_off_in_its_last_line_warns_even_when_the_line_reads(scenario):
    # A transfer cut short: the last line stops inside the room link, the columns after it are
    # optional, and a short row is completed with empty cells: the row reads, with half a link.
    # The file does not end with a line break, and its last line lacks values: said before import.
    text = (
        "ref,event_code,candidate_ref,offer_ref,starts_at,status,meeting_url,outcome\n"
        "M9,JD-2020-04,CA,O1,2020-04-20 11:00,planned,https://centre.whereby.com/jd-m9,none\n"
        "M8,JD-2020-04,CC,O1,2020-04-20 11:20,planned,https://centre.where"
    )
    result = imported("meetings", text, scenario)
    assert result.warnings == [
        "ligne 3 : 7 valeurs pour 8 colonnes, et le fichier ne finit pas par un retour à la ligne : "
        "fichier coupé ? vérifiez que sa fin est complète avant de l'importer"
    ]
    # The same line ended by a line break is a short row like any other: no warning.
    assert imported("meetings", text + "\n", scenario).warnings == []


def test_no_hint_repeats_a_personal_value_into_the_import_history(scenario):
    # The history masks the value of a personal column (•••); a reason that quoted it back
    # (« (07/06/2008) », « le code s'écrit 54000 ») would put it there all the same.
    text = (
        "ref;birth_date;postal_code;created_at\r\n"
        "CZ;7/6/2008;54000.0;2020-04-01 10:00\r\n"
        "CY;39573;1,2E+04;2020-04-01 10:00\r\n"
        "CX;2008-6-7;54000;2020-04-01 10:00\r\n"
    )
    result = import_bytes(text.encode(), source="candidates.csv", engine=scenario, imported_by="cli")
    assert [(p.line, p.column) for p in result.problems] == [
        (2, "birth_date"),
        (2, "postal_code"),
        (3, "birth_date"),
        (3, "postal_code"),
        (4, "birth_date"),
    ]
    [reasons] = uploads.import_history(engine=scenario)["reasons"][:1]
    assert len(reasons) == 5 and all(": •••: " in reason for reason in reasons)
    for personal in ("2008", "07/06", "06-07", "54000", "39573", "1,2E+04"):
        assert not any(personal in reason for reason in reasons), personal


# ---------------------------------------------------------------- Excel's formula errors


def test_excel_s_formula_errors_are_refused_wherever_they_are(scenario):
    # A RECHERCHEV that found nothing writes #N/A into the CSV, a formula on text #VALEUR!, a
    # date column too narrow ########. Before, a name or a city « #N/A » was stored as text.
    text = "code;name;city\r\nS1;#N/A;Nancy\r\nS2;Deux;#VALEUR!\r\n"
    error = (
        "erreur de formule d'Excel : la cellule n'a pas de valeur ; corrigez la formule dans Excel ou "
        "videz la cellule"
    )
    assert refused("sites", text, scenario) == [
        f"sites.csv:2: name: #N/A: {error}",
        f"sites.csv:3: city: #VALEUR!: {error}",
    ]
    narrow = (
        "date-heure illisible (attendu AAAA-MM-JJ HH:MM[:SS], AAAA-MM-JJTHH:MM[:SS] ou JJ/MM/AAAA "
        "HH:MM[:SS], fuseau facultatif) : des # à la place de la valeur, qu'Excel affiche quand la colonne "
        "est trop étroite ; élargissez la colonne avant d'enregistrer"
    )
    # A line's problems come in the order of the contract's columns (phone before created_at).
    assert refused("candidates", "ref;created_at;phone\r\nCZ;########;#REF!\r\n", scenario) == [
        f"candidates.csv:2: phone: #REF!: {error}",
        f"candidates.csv:2: created_at: ########: {narrow}",
    ]


def test_a_text_that_only_starts_with_a_hash_is_still_text(scenario):
    result = imported("sites", "code,name\nH1,#1 Atelier\nH2,#N/A Lorraine\n", scenario)
    assert result.inserted == 2


# ---------------------------------------------------------------- files misnamed


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("bookings (1).csv", "bookings"),  # a browser's second download
        ("Candidates - Copie.csv", "candidates"),  # Windows' copy
        ("candidats.csv", "candidates"),  # the French word
        ("rendez-vous.csv", "bookings"),
        ("Entreprises.csv", "companies"),
    ],
)
def test_a_misnamed_file_says_which_contract_file_it_may_be(engine, name, meant):
    [result] = uploads.check_upload([(name, b"a,b\n1,2\n")], engine=engine)
    [line] = result.describe_problems()
    stem = name[: -len(".csv")].lower()
    assert line.startswith(f"{name}:1: (fichier): : type de fichier inconnu « {stem} » (attendu : sites,")
    assert line.endswith(f" ; le fichier {meant}.csv ? renommez-le {meant}.csv")


def test_a_file_of_another_kind_s_columns_says_so(scenario):
    # bookings.csv's columns in a file named candidates.csv: the columns candidates.csv needs
    # are missing, and every column bookings.csv needs is there.
    text = (
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "BX,CA,MAX,2020-04-14 10:00,booked,2020-04-01 10:00\n"
    )
    assert refused("candidates", text, scenario) == [
        "candidates.csv:1: created_at: : colonne obligatoire absente de l'en-tête (ces colonnes sont celles "
        "de bookings.csv : le fichier est-il mal nommé ?)"
    ]
