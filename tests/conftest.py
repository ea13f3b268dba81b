"""A fresh migrated database for every test, and helpers to load hand-made CSV data."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from services.imports.importer import import_bytes, import_path
from services.imports.problems import ImportResult
from services.store import database
from tests.apptest_browser import browser, signed_in_cookies

SCENARIO = Path(__file__).parent / "data" / "scenario"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated once per session; each test gets a copy (migrating is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = database.get_engine(f"sqlite:///{path}")
    database.migrate(engine)
    engine.dispose()
    database.reset_engines()
    return path


BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``postgresql`` run twice: on SQLite and on PostgreSQL."""
    definition = metafunc.definition
    if (
        definition.get_closest_marker("postgresql")
        and not definition.get_closest_marker("sqlite_only")
        and "engine" in metafunc.fixturenames
    ):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The store of the test: SQLite unless the test is marked ``postgresql`` (then both)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the session (its ``postgres`` database's URL).

    It fails, never skips, when PostgreSQL cannot start: CI must run these tests.
    """
    from tests import postgres

    try:
        with postgres.cluster() as url:
            yield url
    except postgres.PostgresUnavailable as error:
        pytest.fail(f"PostgreSQL ne démarre pas : {error}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> str:
    """A PostgreSQL database migrated once per session; each test gets a copy (its name)."""
    from tests import postgres

    engine = database.get_engine(postgres.create_database(postgres_server, "migrated"))
    database.migrate(engine)
    database.reset_engines()
    return "migrated"


_DATABASE_NUMBERS = itertools.count(1)


@pytest.fixture(autouse=True)
def engine(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """The test's own store, also what ``DATABASE_URL`` points to; caches cleared around it."""
    if backend == "postgresql":
        from tests import postgres

        server = request.getfixturevalue("postgres_server")
        name = f"test_{next(_DATABASE_NUMBERS)}"
        url = postgres.create_database(server, name, template=request.getfixturevalue("postgres_template"))
    else:
        path = tmp_path / "app.db"
        shutil.copy(request.getfixturevalue("migrated_template"), path)
        url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DEMO_DATA", "0")
    database.reset_engines()
    _clear_streamlit_caches()
    yield database.get_engine()
    database.reset_engines()
    _clear_streamlit_caches()
    if backend == "postgresql":
        postgres.drop_database(server, name)


def _clear_streamlit_caches() -> None:
    import sys

    if "streamlit" in sys.modules:
        import streamlit as st

        st.cache_data.clear()
        st.cache_resource.clear()


def load(kind: str, text: str, engine: Engine | None = None) -> ImportResult:
    """Import CSV text as the contract file ``kind``; fails the test if it is refused."""
    result = import_bytes(text.encode("utf-8"), source=f"{kind}.csv", engine=engine)
    assert result.accepted, result.describe_problems()
    return result


@pytest.fixture
def scenario(engine: Engine) -> Engine:
    """The hand-made centre of tests/data/scenario, whose figures are worked out in the tests."""
    results = import_path(SCENARIO, engine=engine)
    assert all(result.accepted for result in results), [r.describe_problems() for r in results]
    return engine


@pytest.fixture(scope="session")
def demo_template(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store seeded once per session with the demo data (600 candidates, to stay quick)."""
    from services.demo import seed_demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copy(migrated_template, path)
    engine = database.get_engine(f"sqlite:///{path}")
    results = seed_demo(candidates=600, engine=engine)
    assert all(result.accepted for result in results)
    engine.dispose()
    database.reset_engines()
    return path


@pytest.fixture(scope="session")
def postgres_demo_template(postgres_server: str, postgres_template: str) -> str:
    """The PostgreSQL twin of ``demo_template`` (its database name)."""
    from services.demo import seed_demo
    from tests import postgres

    engine = database.get_engine(
        postgres.create_database(postgres_server, "demo", template=postgres_template)
    )
    results = seed_demo(candidates=600, engine=engine)
    assert all(result.accepted for result in results)
    database.reset_engines()
    return "demo"


@pytest.fixture
def demo_store(engine: Engine, backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    """The test's store, filled with demo data."""
    database.reset_engines()
    if backend == "postgresql":
        from tests import postgres

        server, name = request.getfixturevalue("postgres_server"), engine.url.database
        postgres.drop_database(server, name)
        postgres.create_database(server, name, template=request.getfixturevalue("postgres_demo_template"))
    else:
        shutil.copy(request.getfixturevalue("demo_template"), tmp_path / "app.db")
    return database.get_engine()


APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")


@pytest.fixture(autouse=True)
def browser_cookies() -> Iterator[None]:
    """AppTests sign in by their cookies, as a browser does (tests/apptest_browser.py)."""
    with browser():
        yield


def session_token(role: str, advisor_email: str | None = None, engine: Engine | None = None) -> str:
    """A live sign-in of a test account of this role (created if needed), as the cookie holds it."""
    from services.access import accounts

    email = f"{role}.{advisor_email.split('@')[0] if advisor_email else 'test'}@test.rencontres.fr"
    if email not in set(accounts.list_accounts(engine)["email"]):
        accounts.add_account(
            email=email,
            role=role,
            password="test-password-long",
            actor="test",
            advisor_email=advisor_email,
            engine=engine,
        )
    account = accounts.authenticate(email, "test-password-long", engine=engine)
    return accounts.open_session(account, engine=engine)


def app_as(role: str, advisor_email: str | None = None, page: str | None = None, **params: str | list[str]):
    """The dashboard in AppTest, signed in with this role (on a page, with these URL parameters)."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(APP, default_timeout=90)
    app.cookies = signed_in_cookies(session_token(role, advisor_email))
    for name, value in params.items():
        app.query_params[name] = value
    app.run()
    assert not app.exception, app.exception
    if page is not None:
        app.switch_page(page)
        app.run()
        assert not app.exception, app.exception
    return app


def tab_groups(app) -> list[list[str]]:
    """The labels of each st.tabs of the page, in page order."""
    groups: list[list[str]] = []

    def walk(node: object) -> None:
        children = list((getattr(node, "children", None) or {}).values())
        labels = [child.label for child in children if getattr(child, "type", None) == "tab"]
        if labels:
            groups.append(labels)
        for child in children:
            walk(child)

    walk(app._tree)
    return groups


def each_tab(app, keys: tuple[str, ...]):
    """Open every tab of the page's lazy st.tabs (whose keys are ``keys``: the page's first tab
    groups, in page order) in turn: the page computes only the chosen tab. Yields the label
    after each run."""
    for key, labels in zip(keys, tab_groups(app)):  # noqa: B905 (other tab groups are not lazy)
        for label in labels:
            app.session_state[key] = label
            app.run()
            assert not app.exception, app.exception
            yield label
