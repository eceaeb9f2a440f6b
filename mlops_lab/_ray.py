"""Start, find and stop the local Ray head that a lab runs on."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from mlops_lab._lock import file_lock
from mlops_lab._net import port_free
from mlops_lab.config import Settings


class RuntimeStartError(RuntimeError):
    """The local Ray head could not be started."""


@dataclass(frozen=True)
class LocalHead:
    """What a running local head wrote about itself in ``runtime.json``."""

    address: str
    pgid: int
    store_path: str
    serve_port: int
    started_at: float

    def alive(self) -> bool:
        """Whether the head's process group still runs and its GCS port answers."""
        if not group_running(self.pgid):
            return False
        host, port = self.address.rsplit(":", 1)
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 2):
            return True
        return False


def require_token_auth() -> None:
    """Keep Ray's token authentication on, creating the token on first use.

    Ray reads the mode once per process, so its config is refreshed after choosing it.
    An explicit ``RAY_AUTH_MODE`` set by the user is respected.
    """
    if os.environ.get("RAY_AUTH_MODE") is None:
        os.environ["RAY_AUTH_MODE"] = "token"
        if "ray._raylet" in sys.modules:  # Ray already read the mode: read it again
            from ray._raylet import Config  # type: ignore[attr-defined]

            Config.initialize("")
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    token_file = Path.home() / ".ray" / "auth_token"
    if not token_file.exists():
        token_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))


def read_head(settings: Settings) -> LocalHead | None:
    """The local head recorded for these settings, if it still runs."""
    try:
        head = LocalHead(**json.loads(settings.runtime_file.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None
    return head if head.alive() else None


@contextlib.contextmanager
def start_lock(settings: Settings) -> Iterator[None]:
    """Serialise starting a head, so two processes connecting at once share one."""
    with file_lock(settings.home / "runtime.lock"):
        yield


_early: dict[Path, concurrent.futures.Future[LocalHead]] = {}


def begin_head(settings: Settings) -> None:
    """Find or start the local head in a thread, while this process imports the rest.

    ``find_or_start_head`` with the same settings then waits for it, and raises a start's
    error. A head that runs already is found in the thread too, so that it is looked for
    once.
    """
    if settings.home in _early:
        return
    future: concurrent.futures.Future[LocalHead] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(_find_or_start(settings))
        except BaseException as exc:
            future.set_exception(exc)

    _early[settings.home] = future
    threading.Thread(target=run, daemon=True, name="mlops-lab-head").start()


def head_starting(settings: Settings) -> bool:
    """Whether a start that ``begin_head`` began is still under way (not a head found)."""
    early = _early.get(settings.home)
    return early is not None and not early.done()


def find_or_start_head(settings: Settings, start: bool) -> LocalHead | None:
    """The running local head for these settings, started here if ``start`` and none runs.

    Waits for a start that ``begin_head`` began. None when no head runs and ``start`` is
    False.
    """
    early = _early.pop(settings.home, None)
    if early is not None:
        return early.result()
    if not start:
        with start_lock(settings):
            return read_head(settings)
    return _find_or_start(settings)


def _find_or_start(settings: Settings) -> LocalHead:
    with start_lock(settings):
        return read_head(settings) or start_head(settings)


# Ray's node gives the raylet a fixed 30 s (Ray 2.60) to register with its GCS, and the
# raylet registers only once the dashboard and runtime-env agents, two Python processes, have
# started: with the cores busy that takes longer. Ray's processes keep starting after the
# start gives up, so the lab waits for the registration itself; a start whose processes died
# is stopped and tried again.
START_ATTEMPTS = 3
START_TIMEOUT_S = 240.0
# How long Ray's processes wait for the GCS to answer (Ray's default is about 20 s).
_GCS_WAIT = ("RAY_gcs_server_port_wait_time_s", "120")
_BUSY_SIGN = "timed out during startup"


def start_head(settings: Settings) -> LocalHead:
    """Start a Ray head as its own process group, so it outlives this process.

    Raises:
        RuntimeStartError: the head could not start; the message says what failed (a port
            in use, a machine too busy for Ray's fixed start timeout, or Ray's own error)
            and what to do.
    """
    _require_free_ports(settings)
    log_path = settings.home / "ray-start.log"
    for attempt in range(1, START_ATTEMPTS + 1):
        deadline = time.monotonic() + START_TIMEOUT_S
        pgid, code, output = _launch_head(settings, log_path)
        if code == 0 or (
            code is not None
            and _BUSY_SIGN in output
            and _await_registration(f"127.0.0.1:{settings.ray_port}", pgid, deadline)
        ):
            break
        # A failed start can leave the GCS and other daemons running: stop them.
        stop_session(pgid)
        with contextlib.suppress(psutil.Error):  # reap the start itself if it still ran
            psutil.Process(pgid).wait(timeout=10)
        if _BUSY_SIGN not in output or attempt == START_ATTEMPTS:
            raise RuntimeStartError(start_failure(code, output, log_path, attempt))
    head = LocalHead(
        address=f"127.0.0.1:{settings.ray_port}",
        pgid=pgid,
        store_path=str(settings.store_path),
        serve_port=settings.serve_port,
        started_at=time.time(),
    )
    settings.runtime_file.write_text(json.dumps(asdict(head)))
    return head


def _launch_head(settings: Settings, log_path: Path) -> tuple[int, int | None, str]:
    """Run ``mlops_lab._head`` once: its session, exit code (None: too slow) and output."""
    command = [sys.executable, "-m", "mlops_lab._head", "start", f"--port={settings.ray_port}"]
    if settings.num_cpus is not None:
        command.append(f"--num-cpus={settings.num_cpus}")
    if settings.ray_client_port is not None:
        command.append(f"--ray-client-server-port={settings.ray_client_port}")
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ,
        # This package as this process found it, even when it is not installed.
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token"),
        "RAY_USAGE_STATS_ENABLED": "0",
        _GCS_WAIT[0]: os.environ.get(*_GCS_WAIT),
        # The raylet starts two workers for the first driver by default: the lab's drivers
        # have a runtime environment of their own, so none of its actors could use them, and
        # they would take the cores while the store starts.
        "RAY_prestart_worker_first_driver": "0",
    }
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )  # fmt: skip
        try:
            code: int | None = process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
    return process.pid, code, log_path.read_text(errors="replace")


def _await_registration(address: str, pgid: int, deadline: float) -> bool:
    """Wait until a node of the GCS at ``address`` is alive, while the head's processes run."""
    from ray._private.services import _get_gcs_client_options
    from ray._private.state import GlobalState

    state = GlobalState()
    state._initialize_global_state(_get_gcs_client_options(address))
    try:
        while time.monotonic() < deadline and group_running(pgid):
            with contextlib.suppress(Exception):  # the GCS itself may still be starting
                if any(node["Alive"] for node in state.node_table()):
                    return True
            time.sleep(0.5)
        return False
    finally:
        state.disconnect()


def start_failure(code: int | None, output: str, log_path: Path, attempts: int) -> str:
    """What a failed head start means and what to do, from its exit code and output."""
    tail = output[-2000:]
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if code is None:
        return (
            f"The Ray head's start did not finish within {START_TIMEOUT_S:.0f} s (load average "
            f"{load:.1f} on {cores} cores; log: {log_path}). Free some cores and connect "
            f"again.\n{tail}"
        )
    if _BUSY_SIGN in output:
        return (
            f"Ray's raylet did not register with its GCS within {START_TIMEOUT_S:.0f} s, "
            f"{attempts} times: the machine is too busy (load average {load:.1f} on {cores} "
            f"cores). Connect again once other work has finished, or give the lab fewer "
            f"CPUs with MLOPS_LAB_NUM_CPUS (log: {log_path}).\n{tail}"
        )
    return f"The Ray head's start exited with code {code} (log: {log_path}).\n{tail}"


def _require_free_ports(settings: Settings) -> None:
    """Refuse a start whose ports (the GCS's, the two after it, a client server's) are in use."""
    port = settings.ray_port
    taken = [p for p in (port, port + 1, port + 2) if not port_free(p, reuse_address=True)]
    if taken:
        raise RuntimeStartError(
            f"Port(s) {', '.join(map(str, taken))} are in use by another process, and the "
            f"lab's head needs ports {port}-{port + 2}. Set another first port with "
            "MLOPS_LAB_RAY_PORT (or ray_port= in connect()), or stop that process."
        )
    client = settings.ray_client_port
    if client is not None and not port_free(client, reuse_address=True):
        raise RuntimeStartError(
            f"Port {client} is in use by another process, and the lab's head would start its "
            "Ray Client server there. Set another with MLOPS_LAB_RAY_CLIENT_PORT (or "
            "ray_client_port= in connect()), leave it unset for no client server, or stop "
            "that process."
        )


def stop_head(head: LocalHead, settings: Settings, grace: float = 5.0) -> None:
    """Stop every process of the head's session: politely, then by force.

    The head was started as the leader of a new session, so everything it starts stays in
    that session, including Ray's workers, which move to process groups of their own. The
    store is closed before this, so a forced stop loses nothing; some Ray daemons take far
    longer than ``grace`` to honour SIGTERM.
    """
    stop_session(head.pgid, grace)
    settings.runtime_file.unlink(missing_ok=True)


def stop_session(sid: int, grace: float = 5.0) -> None:
    """Stop every process of session ``sid``: SIGTERM, then SIGKILL after ``grace``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for process in session_processes(sid):
            with contextlib.suppress(psutil.Error):
                process.send_signal(sig)
        deadline = time.monotonic() + grace
        while (left := session_processes(sid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not left:
            break


def group_running(pgid: int) -> bool:
    """Whether any live (not zombie) process is in the head's own process group."""
    return bool(_live_processes(os.getpgid, pgid))


def session_processes(sid: int) -> list[psutil.Process]:
    """The live processes of session ``sid``."""
    return _live_processes(os.getsid, sid)


def _live_processes(id_of: Callable[[int], int], wanted: int) -> list[psutil.Process]:
    """The processes whose group or session (``id_of``) is ``wanted``, zombies left out."""
    found = []
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if process.info["status"] != psutil.STATUS_ZOMBIE and id_of(process.pid) == wanted:
                found.append(process)
    return found
