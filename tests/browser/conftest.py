"""Fixtures of the dashboard's browser tests: a database per backend, an in-process libtasker
client (the Python wrapper) that creates and runs tasks, the `tasker dashboard` command serving
that database, and a headless Debian chromium driven over WebDriver (selenium)."""

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "wrappers" / "python"))

import tasker  # noqa: E402  (the wrapper of the checkout)

CLI = Path(os.environ.get("TASKER_CLI", ROOT / "target" / "debug" / "tasker"))
PG_URL = os.environ.get("TASKER_BROWSER_PG_URL")

TEMPLATES = """
name: diamond
namespace_name: browser
version: 1.0.0
step_templates:
  - {name: a, handler: ok}
  - {name: b, handler: gate, depends_on_step: a}
  - {name: c, handler: ok, depends_on_step: a}
  - {name: d, handler: ok, depends_on_steps: [b, c]}
"""

FAILING = """
name: charge
namespace_name: browser
version: 1.0.0
step_templates:
  - {name: charge_card, handler: decline}
"""


class Gate:
    """What the `gate` handler waits for: a running task stays running until the test opens it."""

    def __init__(self):
        self.event = threading.Event()
        self.event.set()

    def close(self):
        self.event.clear()

    def open(self):
        self.event.set()


def backends():
    yield pytest.param("sqlite", id="sqlite")
    yield pytest.param(
        "postgres",
        id="postgres",
        marks=pytest.mark.skipif(not PG_URL, reason="TASKER_BROWSER_PG_URL is not set"),
    )


@pytest.fixture(params=list(backends()))
def world(request):
    """(client, gate, base_url): a fresh database, its client with the handlers, the dashboard."""
    tmp = tempfile.mkdtemp(prefix="tasker-browser-")
    url = f"sqlite://{tmp}/dash.db" if request.param == "sqlite" else PG_URL
    gate = Gate()
    client = tasker.Client(url)
    client.load_template(TEMPLATES)
    client.load_template(FAILING)
    client.register_handler("ok", lambda ctx: {"step": ctx.step_name})

    def gated(ctx):
        gate.event.wait(120)
        return {"step": ctx.step_name}

    client.register_handler("gate", gated)

    def decline(ctx):
        raise tasker.PermanentError("card declined by the issuer")

    client.register_handler("decline", decline)
    proc = subprocess.Popen(
        [str(CLI), "--database-url", url, "--json", "dashboard", "--listen", "127.0.0.1:0", "--allow-actions"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail("tasker dashboard did not start")
    base = json.loads(line)["url"].rstrip("/")
    try:
        yield client, gate, base
    finally:
        gate.open()
        proc.terminate()
        proc.wait(timeout=30)
        client.close()


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("TASKER_CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(a)
    # The distribution's driver: no download by Selenium Manager, no network at all.
    service = Service(executable_path=os.environ.get("TASKER_CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=opts, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def pytest_terminal_summary(terminalreporter):
    """The line scripts/test-all.sh adds to its totals."""
    stats = terminalreporter.stats
    failed = len(stats.get("failed", [])) + len(stats.get("error", []))
    terminalreporter.write_line(f"dashboard: {len(stats.get('passed', []))} passed, {failed} failed")
