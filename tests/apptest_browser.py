"""AppTest as a browser runs the app: the cookies it sends with its connection, and the files
of its download buttons built when it asks for them. Used by the tests (tests/conftest.py) and
by the benchmark (bench/render.py), which both sign in as the browser does, by its cookie.

AppTest has no browser: while ``browser()`` is on, ``st.context.cookies`` reads the cookies set
on the AppTest that runs (``app.cookies = {...}``), and each deferred download is kept so that
``download(app, key)`` builds it as Streamlit's deferred-file request does (no click, no rerun).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: The cookies of the browser the AppTest now running stands for.
_COOKIES: dict[str, str] = {}
#: Deferred downloads: the file id a button holds → what builds its file.
_DEFERRED_FILES: dict[str, object] = {}


class _BrowserContext:
    """What Streamlit knows of a session's browser (its ClientContext): here, only its cookies."""

    headers: tuple[tuple[str, str], ...] = ()
    remote_ip = "127.0.0.1"

    @property
    def cookies(self) -> dict[str, str]:
        return dict(_COOKIES)


@contextmanager
def browser() -> Iterator[None]:
    """While on, AppTests run with their ``cookies`` and keep their deferred downloads."""
    from streamlit.runtime import context
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.testing.v1 import AppTest

    run, client_context, add_deferred = (
        AppTest._run,
        context._get_client_context,
        MediaFileManager.add_deferred,
    )

    def running(self, *args, **kwargs):
        _COOKIES.clear()
        _COOKIES.update(getattr(self, "cookies", {}))
        return run(self, *args, **kwargs)

    def adding(self, data_callable, *args, **kwargs) -> str:
        file_id = add_deferred(self, data_callable, *args, **kwargs)
        _DEFERRED_FILES[file_id] = data_callable
        return file_id

    AppTest._run, context._get_client_context = running, lambda: _BrowserContext()
    MediaFileManager.add_deferred = adding
    try:
        yield
    finally:
        AppTest._run, context._get_client_context = run, client_context
        MediaFileManager.add_deferred = add_deferred
        _COOKIES.clear()
        _DEFERRED_FILES.clear()


def signed_in_cookies(token: str) -> dict[str, str]:
    """The cookies of a browser signed in with this session token (as the sign-in page sets them)."""
    from services.app import web

    return {web.COOKIE: web.sign(token)}


def download(app, key: str) -> bytes:
    """The file the download button of key ``key`` gives, built as Streamlit builds it when the
    browser asks for it (a deferred-file request: no click, no rerun)."""
    button = next(b for b in app.get("download_button") if b.proto.id.endswith(key))
    data = _DEFERRED_FILES[button.proto.deferred_file_id]()
    return data.encode("utf-8") if isinstance(data, str) else data
