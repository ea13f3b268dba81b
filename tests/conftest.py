"""A fresh migrated database for every test, and helpers to load hand-made CSV data."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from services import database
from services.importer import ImportResult, import_bytes, import_path

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


@pytest.fixture(autouse=True)
def engine(tmp_path: Path, migrated_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The test's own store, also what ``DATABASE_URL`` points to; caches cleared around it."""
    path = tmp_path / "app.db"
    shutil.copy(migrated_template, path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("DEMO_DATA", "0")
    database.reset_engines()
    _clear_streamlit_caches()
    yield database.get_engine()
    database.reset_engines()
    _clear_streamlit_caches()


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


@pytest.fixture
def demo_store(engine: Engine, demo_template: Path, tmp_path: Path) -> Engine:
    """The test's store, filled with demo data."""
    database.reset_engines()
    shutil.copy(demo_template, tmp_path / "app.db")
    return database.get_engine()


APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")


def session_token(role: str, advisor_email: str | None = None, engine: Engine | None = None) -> str:
    """A live sign-in of a test account of this role (created if needed), as the cookie holds it."""
    from services import accounts

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
    app.session_state["sign_in_token"] = session_token(role, advisor_email)
    for name, value in params.items():
        app.query_params[name] = value
    app.run()
    assert not app.exception, app.exception
    if page is not None:
        app.switch_page(page)
        app.run()
        assert not app.exception, app.exception
    return app
