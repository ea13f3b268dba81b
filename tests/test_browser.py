"""The real app in headless Chromium: signing in as each role, every page through the
navigation, a reload, sign-out, a changed event, an outcome recorded, a model switched.

Screenshots are saved in test-artifacts/ for a person to look at. .ci/run installs
Debian's Chromium; without it this test fails and says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from tests.browser import app_server, chromium_page, screenshot, settle


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served on loopback, on a store of its own seeded with demo data at start; one
    server for the module (each test signs in afresh)."""
    folder = tmp_path_factory.mktemp("browser")
    env = {"DEMO_DATA": "1", "DATABASE_URL": f"sqlite:///{folder / 'app.db'}"}
    with app_server(folder / "app.log", env) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def browser_page():
    """A headless Chromium page (Debian's Chromium, driven by Playwright)."""
    with chromium_page(height=2400) as page:
        yield page


def _check(page, name: str) -> None:
    screenshot(page, name)
    assert page.locator('[data-testid="stException"]').count() == 0, f"Streamlit exception on {name}"


#: The demo's accounts (listed on the sign-in page while the store holds demo data).
ACCOUNTS = {
    "director": ("direction@demo.rencontres.fr", "demo-direction"),
    "advisor": ("conseiller@demo.rencontres.fr", "demo-conseiller"),
    "marketing": ("marketing@demo.rencontres.fr", "demo-marketing"),
    "admin": ("admin@demo.rencontres.fr", "demo-administration"),
}
#: The pages each role finds in the navigation, as the issue lists them.
NAVIGATION = {
    "director": [
        "Résultats des portes ouvertes",
        "Job dating",
        "Planning des entretiens",
        "Planification job dating",
        "Canaux et campagnes",
    ],
    "advisor": [
        "Résultats des portes ouvertes",
        "Job dating",
        "Planning des entretiens",
        "Planification job dating",
    ],
    "marketing": ["Résultats des portes ouvertes", "Job dating", "Canaux et campagnes"],
    "admin": [
        "Résultats des portes ouvertes",
        "Job dating",
        "Planning des entretiens",
        "Planification job dating",
        "Canaux et campagnes",
        "Données",
        "Journal d'audit",
        "Données personnelles",
    ],
}


def _sign_in(page, server: str, role: str) -> None:
    email, password = ACCOUNTS[role]
    page.goto(server)
    assert "/connexion" in page.url  # nobody reaches the app without signing in
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    settle(page)


def _bookings_shown(page) -> str:
    card = page.locator('[data-testid="stMetric"]').filter(has_text="Rendez-vous").first
    return card.locator('[data-testid="stMetricValue"]').inner_text()


@pytest.mark.parametrize("role", list(ACCOUNTS))
def test_each_role_signs_in_sees_its_pages_reloads_and_signs_out(server, browser_page, role):
    page = browser_page
    page.goto(f"{server}/connexion")
    _check(page, f"00-sign-in-{role}")
    _sign_in(page, server, role)
    links = page.locator('[data-testid="stSidebarNav"] a')
    # A link reads "<icon name>\n\n<title>".
    titles = [links.nth(i).inner_text().split("\n")[-1].strip() for i in range(links.count())]
    assert titles == NAVIGATION[role]
    for index in range(links.count()):
        links.nth(index).click()
        settle(page)
        _check(page, f"01-{role}-page-{index}")
    # A reload keeps the sign-in (the HttpOnly cookie), on the same page.
    here = page.url
    page.reload()
    settle(page)
    assert page.url == here
    assert page.locator('[data-testid="stSidebarNav"] a').count() == len(NAVIGATION[role])
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion**", timeout=30_000)
    _check(page, f"02-{role}-signed-out")
    # The session is over on the server: going back to the app asks for a sign-in again.
    page.goto(server)
    assert "/connexion" in page.url


def test_a_url_to_a_page_of_another_role_does_not_reach_it(server, browser_page):
    page = browser_page
    _sign_in(page, server, "marketing")
    page.goto(f"{server}/schedule")
    settle(page)
    _check(page, "03-marketing-url-to-schedule")
    assert page.get_by_role("heading", name="Planning des entretiens").count() == 0
    assert page.locator('[data-testid="stSidebarNav"] a').count() == len(NAVIGATION["marketing"])


def test_every_page_and_a_changed_event(server, browser_page):
    page = browser_page
    _sign_in(page, server, "director")
    _check(page, "01-results-default")
    assert "Données de démonstration" in page.content()

    links = page.locator('[data-testid="stSidebarNav"] a')
    assert links.count() >= 2
    for index in range(links.count()):
        links.nth(index).click()
        settle(page)
        _check(page, f"02-page-{index}")
        selectboxes = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').count()
        if "/jobdating_planning" in page.url:
            # The planning of a job dating chooses its event itself: no period or site filter,
            # only the language in the sidebar.
            assert selectboxes == 1
        else:
            assert selectboxes >= 2  # the filters

    page.goto(server)
    settle(page)
    before = _bookings_shown(page)
    event_box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').nth(1)
    event_box.click()
    page.get_by_role("option", name="Portes ouvertes janvier 2020").click()
    settle(page)
    _check(page, "03-results-january-2020")
    assert "event=POP-2020-01" in page.url
    assert _bookings_shown(page) != before


def test_a_director_opens_the_job_dating_from_an_open_day(server, browser_page):
    page = browser_page
    _sign_in(page, server, "director")
    # Its title ends the link's text (after the icon's name), case included: not another page
    # whose title holds the words.
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=re.compile(r"Job dating$")).click()
    settle(page)
    _check(page, "04-jobdating-open-day-chosen")
    assert "n'est pas un job dating" in page.content()
    page.get_by_role("button", name="Voir « Job dating virtuel mai 2020 »").click()
    settle(page)
    assert "event=JD-2020-05" in page.url
    _check(page, "05-jobdating-may-2020")
    # The demo publishes offers during the job dating itself (issue 22): on its own period the
    # page does not open on 0 positions, no widening of the period is needed.
    positions = page.locator('[data-testid="stMetric"]').filter(has_text="Postes offerts").first
    assert int(positions.locator('[data-testid="stMetricValue"]').inner_text().replace("\u202f", "")) > 0
    for title in (
        "Offre et demande par formation et par site",
        "Des rencontres aux contrats",
        "Sans rencontre",
    ):
        assert page.get_by_role("heading", name=title).count() == 1
    card = page.locator('[data-testid="stMetric"]').filter(has_text="Contrats signés").first
    assert int(card.locator('[data-testid="stMetricValue"]').inner_text()) > 0


def test_an_advisor_opens_the_job_dating_planning(server, browser_page):
    page = browser_page
    _sign_in(page, server, "advisor")
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Planification job dating").click()
    settle(page)
    _check(page, "06-jobdating-planning")
    # The demo's job dating (JD-2020-05) is chosen; most seeking candidates accepted to be
    # presented: pairs are suggested, and its saved meetings can be sent out.
    for title in ("Paires suggérées", "Plannings à envoyer"):
        assert page.get_by_role("heading", name=title).count() == 1
    assert "Paires 1 à 100 sur" in page.content()  # the first page of the suggested pairs
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1


def test_an_advisor_records_consents_in_bulk_and_previews_the_mail(server):
    with chromium_page(height=5200) as page:  # the whole page, its mail section at the bottom
        _sign_in(page, server, "advisor")
        page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Planification job dating").click()
        settle(page)
        # No SMTP_URL on this server: the page says nothing will be sent, the button is disabled,
        # and the preview shows the messages as they would go.
        notice = page.locator('[data-testid="stAlert"]').filter(has_text="pas réglé (SMTP_URL")
        assert notice.count() == 1
        page.get_by_text("Préparer les messages").click()  # the messages are built on request
        settle(page)
        send = page.get_by_role("button", name=re.compile("^Envoyer"))
        assert send.is_disabled()
        assert "Voici le planning" in page.locator('[data-testid="stCode"]').first.inner_text()
        page.get_by_role("heading", name="Envoi des plannings par e-mail").scroll_into_view_if_needed()
        _check(page, "07-jobdating-mail-preview")
        page.get_by_text("Consentement à être présenté").click()
        settle(page)
        assert page.get_by_text("Plusieurs candidats à la fois").count() == 1
        # Two candidates chosen in the list, a parent's consent added, with its source.
        page.locator('[data-testid="stMultiSelect"]').first.click()
        # (The list's first entry selects everything: two people are picked by name.)
        page.get_by_role("option").filter(has_text="(C").first.click()
        page.get_by_role("option").filter(has_text="(C").first.click()
        page.keyboard.press("Escape")
        page.get_by_label("Source").fill("papier signé")
        _check(page, "08-jobdating-consent-selection")
        page.get_by_role("button", name="Enregistrer pour la sélection").click()
        settle(page)
        # The page saves, then runs again to say so: on a busy machine, that second run may not
        # have drawn yet when the first one has ended.
        saved = page.get_by_text("Consentement enregistré pour 2 candidat(s)")
        saved.wait_for(timeout=60_000)
        assert saved.count() == 1
        _check(page, "09-jobdating-consent-saved")


def test_an_advisor_records_an_outcome(server, browser_page):
    page = browser_page
    _sign_in(page, server, "advisor")
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Planning").click()
    settle(page)
    form = page.locator('[data-testid="stForm"]').first
    # "Réservé" is allowed from every status (it reopens or corrects), whatever the first interview is.
    status = form.locator('[data-testid="stSelectbox"]').first
    status.scroll_into_view_if_needed()
    status.click()
    page.keyboard.type("Réservé")
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    form.get_by_role("button", name="Enregistrer").click()
    settle(page)
    saved = page.get_by_text("Enregistré.")
    # The save reruns the page: on a busy machine the run may start after settle() returned.
    saved.wait_for(timeout=60_000)
    assert saved.count() == 1
    saved.scroll_into_view_if_needed()
    _check(page, "04-schedule-outcome-recorded")
    # The operation chosen in the sidebar is still the same after a save.
    assert "event=POV-2020-04" in page.url


def test_marketing_switches_the_attribution_model(server, browser_page):
    page = browser_page
    _sign_in(page, server, "marketing")
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Canaux").click()
    settle(page)
    model_box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Modèle d'attribution")
    model_box.click()
    page.get_by_role("option", name="Markov (données)").click()
    settle(page)
    _check(page, "05-channels-markov")
    assert model_box.locator("input").input_value() == "Markov (données)"
    assert page.get_by_text("Les six modèles côte à côte").count() == 1


#: A figure written the other language's way, in what a page shows (table cells, KPI cards,
#: chart labels): French has no 1,234 thousands, no 1.5 decimals, no € before an amount;
#: English no decimal comma (1,5 or 1,2345: a comma before other than three digits), no space
#: before %, no French narrow no-break space between digits, no space before €.
WRONG_WAY = {
    "fr": re.compile(r"\d,\d{3}(?!\d)|\d\.\d|€\s?\d"),
    "en": re.compile(r"\d,(?:\d{1,2}|\d{4,})(?!\d)|\d[ \u00a0\u202f]%|\d\u202f\d|\d[ \u00a0\u202f]€"),
}
#: The same figure written the language's way (a share with one decimal), seen on some page:
#: the check above cannot pass on pages that show no figure.
RIGHT_WAY = {"fr": re.compile(r"\d,\d\u00a0%"), "en": re.compile(r"\d\.\d%")}
FIGURES = (
    '[data-testid="stDataFrame"] table td',
    '[data-testid="stMetricValue"]',
    '[data-testid="stMetricDelta"]',
    ".js-plotly-plot svg text",
)


def _figures_shown(page) -> list[str]:
    return page.locator(", ".join(FIGURES)).evaluate_all("nodes => nodes.map(node => node.textContent)")


@pytest.mark.parametrize(("locale", "language"), [("fr-FR", "fr"), ("en-US", "en")])
def test_every_page_writes_figures_in_the_browser_s_language(server, locale, language):
    # The administrator sees every page. The browser asks for its language (Accept-Language):
    # the sign-in page and then the app follow it, and no figure on any page is written the
    # other language's way. (The other tests run in French only.)
    with chromium_page(height=2400, locale=locale) as page:
        page.goto(server)
        assert page.locator("html").get_attribute("lang") == language
        _check(page, f"10-{language}-sign-in")
        _sign_in(page, server, "admin")
        links = page.locator('[data-testid="stSidebarNav"] a')
        right, wrong = 0, {}
        for index in range(links.count()):
            links.nth(index).click()
            settle(page)
            _check(page, f"11-{language}-page-{index}")
            shown = _figures_shown(page)
            found = [text for text in shown if WRONG_WAY[language].search(text)]
            if found:
                wrong[page.url] = found
            right += sum(bool(RIGHT_WAY[language].search(text)) for text in shown)
        assert wrong == {}
        assert right > 10


def test_the_figure_checks_catch_what_the_issue_saw():
    # What issue 21 saw in French (Streamlit's and Plotly's English formats) and its French
    # figures read in English are caught; each language's own figures are not.
    assert all(WRONG_WAY["fr"].search(text) for text in ("€7,400.00", "€30.99", "32.26%", "1,234"))
    assert all(
        WRONG_WAY["en"].search(text) for text in ("78,8 %", "18\u202f200\u00a0€", "0,5", "32,3\u00a0%")
    )
    assert not any(
        WRONG_WAY["fr"].search(text) for text in ("7\u202f400\u00a0€", "32,3\u00a0%", "14 avr. 2020")
    )
    assert not any(WRONG_WAY["en"].search(text) for text in ("€7,400", "€30.99", "32.3%", "Apr 14, 2020"))


def test_key_figures_are_read_whole_in_a_narrow_window(server, browser_page):
    # At 800 px the sidebar leaves ~480 px: four cards a row cut the figures to « 78… ». The
    # rows wrap instead: no figure nor label is wider than its card.
    page = browser_page
    page.set_viewport_size({"width": 800, "height": 2400})
    _sign_in(page, server, "director")
    for path in ("", "/jobdating?event=JD-2020-05"):
        page.goto(server + path)
        settle(page)
        _check(page, f"07-narrow{path.split('?')[0].replace('/', '-')}")
        cut = page.evaluate(
            """() => [...document.querySelectorAll('[data-testid="stMetricValue"] div,'
                + ' [data-testid="stMetricLabel"] p')]
                .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"""
        )
        assert page.locator('[data-testid="stMetricValue"]').count() >= 8
        assert cut == []


#: Keeps each page's connections reachable, so that a test can drop them as a network does.
KEEP_CONNECTIONS = """
    window.openConnections = [];
    const Native = window.WebSocket;
    window.WebSocket = function (...options) {
        const socket = new Native(...options);
        window.openConnections.push(socket);
        return socket;
    };
    window.WebSocket.prototype = Native.prototype;
    Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
"""


@pytest.mark.parametrize("how", ["click", "reconnection"])
def test_a_tab_whose_sign_in_ended_goes_to_the_sign_in_page_in_french(server, browser_page, how):
    # Before: the open tab of an ended sign-in (signed out in another tab, idle, a laptop that
    # slept) met Streamlit's English box "Connection failed with status 401" and retried forever.
    # Now its next click, or its connection coming back, takes it to the sign-in page, which
    # says why in French.
    page = browser_page
    page.add_init_script(KEEP_CONNECTIONS)
    _sign_in(page, server, "director")
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "rencontres_session")
    # The session ends on the server; this browser keeps its cookie (another tab's sign-out).
    requests.get(f"{server}/auth/logout", cookies={"rencontres_session": cookie}, timeout=30)
    if how == "click":
        page.locator('[data-testid="stSidebarNav"] a').nth(1).click()
    else:  # the network drops the connection; the page connects again
        page.evaluate("window.openConnections.forEach(socket => socket.close())")
    page.wait_for_url("**/connexion?notice=expired", timeout=30_000)
    page.wait_for_selector("text=Votre session a expiré", timeout=30_000)
    _check(page, f"08-ended-sign-in-{how}")
    assert "Connection failed" not in page.content()


#: Files a secretary saves from Excel and a CRM, each with a value Excel damaged.
EXCEL_FILES = [
    (
        "candidates.csv",
        "ref;first_name;postal_code;marketing_consent;created_at;;;;\r\n"
        "C-900;Léa;8000;oui;01/04/2020 10:00;;;;\r\n"
        "C-901;Théo;54000;VRAI;01/04/2020;;;;\r\n"
        "C-902;Inès;57100;non;31/02/2020 10:00;;;;\r\n".encode("cp1252"),
    ),
    ("companies.csv", b"siret;name\r\n1,23457E+13;Forges\r\n1234567890123;Usinage\r\n"),
]
#: Whether each box of problem lines shows them all, without a scroll bar to find.
CODE_BOXES = """() => Array.from(document.querySelectorAll('[data-testid="stCode"] pre')).map(
    box => [box.innerText.split('\\n').length, box.scrollHeight <= box.clientHeight + 1])"""


def test_an_admin_reads_every_refusal_of_files_excel_damaged(server, browser_page):
    # Before, the box of a refused file's lines was sized by its count of lines, though long
    # lines wrap: the end of a reason, or whole lines, were hidden below a box that scrolled.
    page = browser_page
    _sign_in(page, server, "admin")
    page.get_by_role("link", name="Données").first.click()
    settle(page)
    page.locator('input[type="file"]').set_input_files(
        [{"name": name, "mimeType": "text/csv", "buffer": data} for name, data in EXCEL_FILES]
    )
    page.wait_for_selector('[data-testid="stCode"]', timeout=60_000)
    settle(page)
    _check(page, "09-data-excel-refusals")
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "Excel a peut-être retiré le zéro du début" in text
    assert "notation scientifique d'Excel" in text
    assert "il manque l'heure (HH:MM)" in text
    # Two boxes, of 4 and 2 lines: each shows all its lines.
    assert page.evaluate(CODE_BOXES) == [[4, True], [2, True]]
