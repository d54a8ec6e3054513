"""What the browser tests and ``make screenshots`` share: a real Airflow with its api-server,
headless Chromium driven by Playwright, and the few UI steps a user takes.

Playwright is imported only inside functions, so a plain ``pytest`` run (which collects this
folder but deselects the ``ui`` tests) needs neither Playwright nor Chromium.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_aimlapi.testing import FakeAimlApi
from airflow_aimlapi.testing.sandbox import AirflowSandbox, free_port, stack_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, Route

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("AIMLAPI_CHROMIUM", "/usr/bin/chromium")
# Debian's Chromium, headless, with nothing that reaches beyond 127.0.0.1 on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 760}
#: The key of the session's fake account, and one it refuses.
KEY = "sk-ui-secret-27182818"
WRONG_KEY = "sk-ui-wrong-16180339"
#: The deferrable gate example, its run and the balance the run asks for.
DAG = "aimlapi_balance_gate_deferrable"
RUN = "ui_gate"
MIN_BALANCE = 10
#: Where ``make screenshots`` wants the PNGs; unset in ``make ui-test``.
SCREENSHOT_DIR = os.environ.get("AIMLAPI_SCREENSHOTS")
#: The oldest supported Airflow, whose api-server comes from its own venv (built by make matrix
#: or make ui-test).
OLDEST_AIRFLOW = os.environ.get("AIRFLOW_OLDEST", "3.0.6")


class VenvSandbox(AirflowSandbox):
    """An :class:`AirflowSandbox` whose ``airflow`` command comes from another venv.

    :param bin_dir: The venv's ``bin`` folder.
    """

    def __init__(self, bin_dir: Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bin_dir = bin_dir

    @property
    def airflow_bin(self) -> str:
        return str(self.bin_dir / "airflow")


@dataclass
class RunningAirflow:
    """A sandboxed Airflow with its api-server listening on ``url``."""

    sandbox: AirflowSandbox
    url: str
    version: str


def airflow_env(port: int, fake: FakeAimlApi, poke_interval: float) -> dict[str, str]:
    """The settings of a throwaway Airflow whose UI needs no login (everyone is admin)."""
    return {
        **stack_env(port),
        "AIMLAPI_POKE_INTERVAL": str(poke_interval),
        # The DAGs read aimlapi_default; the UI tests create their own connections in the form.
        "AIRFLOW_CONN_AIMLAPI_DEFAULT": fake.connection_json(),
    }


@contextmanager
def running_airflow(
    fake: FakeAimlApi,
    *,
    bin_dir: Path | None = None,
    components: tuple[str, ...] = (),
    poke_interval: float = 2.0,
) -> Iterator[RunningAirflow]:
    """Start an api-server (and ``components``) in a sandbox; stop everything on exit.

    :param fake: The fake API the connection ``aimlapi_default`` points at.
    :param bin_dir: The ``bin`` folder of the Airflow venv to use (default: this interpreter's).
    :param components: Further commands to start: ``"scheduler"``, ``"triggerer"``...
    :param poke_interval: The example DAGs' poke interval, seconds.
    """
    port = free_port()
    env = airflow_env(port, fake, poke_interval)
    sandbox: AirflowSandbox
    if bin_dir is None:
        sandbox = AirflowSandbox(ROOT / "example_dags", env=env)
    else:
        sandbox = VenvSandbox(bin_dir, ROOT / "example_dags", env=env)
    with sandbox:
        version = _airflow_version(Path(sandbox.airflow_bin).parent)
        sandbox.migrate()
        sandbox.start_stack(*components, api_port=port)
        url = f"http://127.0.0.1:{port}"
        sandbox.wait_until(f"the api-server at {url}", lambda: _answers(f"{url}/api/v2/version"), 600)
        yield RunningAirflow(sandbox=sandbox, url=url, version=version)


def _airflow_version(bin_dir: Path) -> str:
    # From the package metadata: `airflow version` would import Airflow (seconds on a busy box).
    code = "from importlib.metadata import version; print(version('apache-airflow'))"
    python = bin_dir / "python" if (bin_dir / "python").exists() else Path(sys.executable)
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class Recorded:
    """One response the browser received, with its body as text."""

    url: str
    status: int
    body: str


@dataclass
class ResponseLog:
    """Every response a browser context received, bodies included (for the key check)."""

    responses: list[Recorded] = field(default_factory=list)

    def through(self, route: Route) -> None:
        """Fetch a request for the page and keep the answer's body before handing it over.

        Reading bodies from response events loses those the browser dropped on navigation (a
        task log, for one); routing every request through here keeps them all.
        """
        try:
            response = route.fetch()
            body = response.body()
        except Exception:  # the test closed its page while this request was in flight
            with contextlib.suppress(Exception):
                route.abort()
            return
        self.responses.append(Recorded(route.request.url, response.status, body.decode("utf-8", "replace")))
        with contextlib.suppress(Exception):  # the same: nobody is left to hand it to
            route.fulfill(response=response, body=body)

    def containing(self, text: str) -> list[str]:
        """The URLs of responses whose body or URL holds ``text``."""
        return [r.url for r in self.responses if text in r.body or text in r.url]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright (Playwright's own download cannot be reached)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise AssertionError(f"{CHROMIUM} is missing: apt-get install -y chromium (make ui-test does it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page(browser: Browser, log: ResponseLog) -> Iterator[Page]:
    """A fresh page (own cookies and storage) whose every response lands in ``log``."""
    context: BrowserContext = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(60_000)
    context.route("**/*", log.through)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def screenshot(target: Page | Locator, name: str) -> None:
    """Save ``docs/<name>.png`` when ``make screenshots`` asked for pictures."""
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        target.screenshot(path=str(Path(SCREENSHOT_DIR) / f"{name}.png"))


# --- the steps a user takes ------------------------------------------------------------------


def open_new_connection_form(
    page: Page, airflow_url: str, conn_id: str, type_name: str = "AIML API"
) -> Locator:
    """Admin -> Connections -> Add Connection, with an id and the type chosen; returns the dialog."""
    page.goto(f"{airflow_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(conn_id)
    # A react-select box: its input sits under an overlay, so focus it and type.
    dialog.get_by_role("combobox").first.click(force=True)
    page.keyboard.type(type_name)
    page.get_by_role("option", name=type_name, exact=True).click()
    dialog.get_by_text("Standard Fields").wait_for()
    return dialog


def field_facts(dialog: Locator, label: str) -> dict[str, str | None]:
    """The label's input: its placeholder, value and type."""
    box = dialog.get_by_label(label, exact=True)
    return {
        "placeholder": box.get_attribute("placeholder"),
        "value": box.input_value(),
        "type": box.get_attribute("type"),
    }


def save_connection(page: Page, dialog: Locator, conn_id: str) -> Locator:
    """Press Save and return the connection's row in the list."""
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")
    row = page.get_by_role("row").filter(has=page.get_by_text(conn_id, exact=True))
    row.wait_for()
    # Let the "created" toast go, so it does not stand over the test result's (a toast under the
    # mouse, which Save left at the bottom right, stays until the mouse leaves).
    page.mouse.move(0, 0)
    page.locator("[data-scope=toast][data-part=root]").filter(has_text="Create Connection").wait_for(
        state="hidden", timeout=30_000
    )
    return row


def press_test(page: Page, row: Locator) -> tuple[str, str]:
    """Press the row's Test Connection button; return the toast's title and text."""
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")):
        row.get_by_role("button", name="Test Connection").click()
    # Saving left its own toast ("... Request Submitted"): read the test's.
    toast = page.locator("[data-scope=toast][data-part=root]").filter(has_text="Test Connection").last
    toast.wait_for()
    page.wait_for_timeout(800)  # the toast slides in; a picture taken earlier catches it half-way
    title = toast.locator("[data-part=title]").inner_text()
    return title, toast.inner_text()
