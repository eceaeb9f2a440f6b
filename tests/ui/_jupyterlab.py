"""A headless JupyterLab of the tests' own, and what a person does and sees in it."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from mlops_lab._net import free_port_block
from tests._eventually import eventually

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What Ray and Tune print to the console (log lines of a worker, "(pid=...)" or "(raylet)",
# logging records, Tune's per-trial lines and status tables): none of it belongs in a cell.
CONSOLE_LINES = re.compile(
    r"\((?:\w+ )?pid=\d+|\(raylet\)|\b(?:INFO|WARNING|ERROR)\b|\bTrial run_pack_|"
    r"Last result:|== Status ==|Tune Status|View detailed results|ray\.tune|tune_controller"
)
START_TIMEOUT_S = 120


@dataclass(frozen=True)
class JupyterLabServer:
    """A running JupyterLab: where it listens, its token and the folder it serves."""

    url: str
    token: str
    root: Path

    def tree_url(self, notebook: str) -> str:
        """The address that opens ``notebook`` alone in the lab's main area (``reset``: not
        with the tabs an earlier page left open in the server's workspace)."""
        return f"{self.url}/lab/tree/{notebook}?token={self.token}&reset"


@contextmanager
def jupyterlab(
    root: Path, state: Path, env: dict[str, str], log: Path
) -> Iterator[JupyterLabServer]:
    """Serve ``root`` with JupyterLab on a free loopback port until the block ends.

    Args:
        root: The folder the lab serves (the notebooks under test).
        state: An empty folder for the server's own configuration, settings and runtime files,
            so that nothing of a person's JupyterLab setup changes what the test sees.
        env: Variables the server and its kernels get on top of this process's environment.
        log: Where the server writes its console.
    """
    port, token = free_port_block(1), secrets.token_hex(16)
    # No toast over the notebook asking whether to fetch news.
    notifications = state / "settings" / "@jupyterlab" / "apputils-extension"
    notifications.mkdir(parents=True)
    (notifications / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    server_env = {
        **os.environ,
        **env,
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",  # machines where tests run as root
    ]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(
            command, env=server_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = JupyterLabServer(f"http://127.0.0.1:{port}", token, root)
    try:
        _wait_until_ready(lab, server, log)
        yield lab
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_ready(lab: JupyterLabServer, server: subprocess.Popen, log: Path) -> None:
    def answers() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.returncode}:\n{log.read_text()}")
        with urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=5):
            return True

    try:
        eventually(
            answers,
            timeout=START_TIMEOUT_S,
            every=0.25,
            what="JupyterLab answering",
            ignoring=(urllib.error.URLError, ConnectionError),  # a server that is starting
        )
    except AssertionError as exc:
        raise TimeoutError(f"{exc}\n{log.read_text()}") from None


class Screens:
    """Screenshots of a page, numbered in the order taken, kept as test artifacts."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.taken: list[Path] = []

    def take(self, name: str, of: Locator | None = None) -> Path:
        """Save what is on screen now (scrolled to ``of`` when given)."""
        if of is not None:
            of.first.scroll_into_view_if_needed()
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        self.taken.append(path)
        return path


class NotebookPage:
    """One notebook open in JupyterLab, used through the page as a person would."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.cells = page.locator(".jp-NotebookPanel .jp-Cell.jp-CodeCell")

    def open(self, lab: JupyterLabServer, notebook: str) -> None:
        """Open the notebook and wait until its kernel is ready (the status bar says Idle)."""
        self.page.goto(lab.tree_url(notebook))
        expect(self.cells.first).to_be_visible(timeout=START_TIMEOUT_S * 1000)
        kernel = self.page.locator(".jp-NotebookPanel-toolbar .jp-KernelName")
        expect(kernel).to_have_text("Python 3 (ipykernel)", timeout=START_TIMEOUT_S * 1000)
        status = self.page.get_by_role("contentinfo").get_by_role(
            "button", name=re.compile("Idle$")
        )
        expect(status).to_be_visible(timeout=START_TIMEOUT_S * 1000)

    def run_all(self) -> None:
        """Run > Run All Cells, from the menu bar."""
        self.page.get_by_role("menuitem", name="Run", exact=True).click()
        self.page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()

    def interrupt(self) -> None:
        """Kernel > Interrupt Kernel, from the menu bar."""
        self.page.get_by_role("menuitem", name="Kernel", exact=True).click()
        self.page.get_by_role("menuitem", name=re.compile(r"^Interrupt Kernel")).click()

    def prompt(self, index: int) -> Locator:
        """The execution prompt of a code cell: ``[*]:`` while it runs, ``[n]:`` once done."""
        return self.cells.nth(index).locator(".jp-InputArea-prompt")

    def wait_until_ran(self, index: int, timeout_s: float) -> None:
        """Wait until the code cell shows its execution count."""
        expect(self.prompt(index)).to_have_text(re.compile(r"\[\d+\]:"), timeout=timeout_s * 1000)

    def outputs(self, index: int | None = None) -> Locator:
        """The rendered outputs of one code cell, or of every cell."""
        scope = self.cells if index is None else self.cells.nth(index)
        return scope.locator(".jp-OutputArea-output")

    def console_lines(self) -> list[str]:
        """The lines of every cell's outputs that Ray or Tune printed to the console."""
        text = "\n".join(self.outputs().all_inner_texts())
        return [line for line in text.splitlines() if CONSOLE_LINES.search(line)]
