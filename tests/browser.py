"""What the browser tests share: serving the app (or another server) on loopback, a headless
Chromium page (Debian's, driven by Playwright), waiting for Streamlit, screenshots.

.ci/run installs Debian's Chromium (tests/prepare.sh); without it the tests fail and say so.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    """Wait until ``url`` answers 200, or fail if the process ends or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.2)


@contextmanager
def serving(
    command: list[str], health_url: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run a server process until the block ends; its output goes to ``log``."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            wait_for(health_url, process)
            yield
        finally:
            process.terminate()
            process.wait(timeout=20)


@contextmanager
def app_server(log: Path, env: dict[str, str], *options: str) -> Iterator[int]:
    """``streamlit run dashboard.py`` on a free loopback port (yielded), with these settings."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", *options]
    with serving(command, f"http://127.0.0.1:{port}/_stcore/health", log, env):
        yield port


@contextmanager
def chromium_page(height: int = 1000, locale: str = "fr-FR") -> Iterator[object]:
    """A headless Chromium page in ``locale`` (French by default; its Accept-Language too)."""
    assert Path(CHROMIUM).exists(), "Chromium is missing: apt-get install chromium (tests/prepare.sh does it)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser.new_page(viewport={"width": 1400, "height": height}, locale=locale)
        finally:
            browser.close()


def settle(page) -> None:
    """Wait until Streamlit has finished running the page and drawing it."""
    page.wait_for_timeout(300)
    page.wait_for_selector(READY, timeout=90_000)
    page.wait_for_function("!document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=30_000)
    page.wait_for_timeout(300)


def screenshot(page, name: str) -> None:
    """Save a full-page screenshot in test-artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
