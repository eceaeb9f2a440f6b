"""Fixtures of the browser tier: a headless JupyterLab and Debian's chromium driving it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from tests.ui._jupyterlab import CHROMIUM, CHROMIUM_ARGS, JupyterLabServer, Screens, jupyterlab

ARTIFACTS = Path(__file__).parents[2] / ".artifacts" / "ui"


# Module scope: Playwright's sync API keeps an event loop running in the main thread while
# it is open, which would break the tests after this tier that run one of their own.
@pytest.fixture(scope="module")
def jupyter_lab(
    lab: object, lab_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterLabServer]:
    """JupyterLab serving a fresh folder; its kernels reach the session's lab (``lab_env``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    root = tmp_path_factory.mktemp("ui-notebooks")
    state = tmp_path_factory.mktemp("ui-jupyter")
    with jupyterlab(root, state, lab_env, log=ARTIFACTS / "jupyterlab.log") as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's chromium, headless, with a new empty profile."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"The browser tests need Debian's chromium at {CHROMIUM}, and it is missing. "
            "Run 'make browser' (as root) to install it."
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab, closed after the test."""
    tab = browser.new_page()
    yield tab
    tab.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Keep each phase's report on the test, for the screenshot of a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def screens(page: Page, request: pytest.FixtureRequest) -> Iterator[Screens]:
    """Screenshots of the test's page, in ``.artifacts/ui/<test>/`` (emptied first); the
    page as it was when the test failed, if it did."""
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    screens = Screens(page, folder)
    yield screens
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        screens.take("failed")
