"""Starting the local head: a port in use is named, and a busy machine still gets a lab."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import mlops_lab
from mlops_lab._net import free_port_block
from mlops_lab._ray import RuntimeStartError, session_processes, start_failure
from tests.conftest import lab_environment, run_python


@contextlib.contextmanager
def _listening_inside_a_free_block() -> Iterator[int]:
    """A block of three free ports whose middle one this process listens on.

    A port found free can be taken (by an outgoing connection of the session's lab) before
    the test binds it: another block is tried then.
    """
    for _ in range(20):
        port = free_port_block(3)
        with socket.socket() as holder:
            try:
                holder.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            holder.listen()
            yield port
            return
    raise AssertionError("no block of three free ports could be held")


def test_a_port_in_use_is_named_before_ray_starts(tmp_path: Path) -> None:
    """A start on a port another process listens on says which port and how to pick another."""
    with (
        _listening_inside_a_free_block() as port,
        pytest.raises(RuntimeStartError, match=f"{port + 1}.*MLOPS_LAB_RAY_PORT"),
    ):
        mlops_lab.connect(home=str(tmp_path / ".mlops_lab"), ray_port=port)
    assert not (tmp_path / ".mlops_lab" / "ray-start.log").exists()


def test_a_start_timed_out_by_a_busy_machine_says_so() -> None:
    """Ray's startup time-out is reported as a busy machine, not as a port conflict."""
    output = "Exception: The current node timed out during startup. This could happen..."
    message = start_failure(1, output, Path("ray-start.log"), attempts=3)
    assert "too busy" in message
    assert "3 times" in message
    assert "port" not in message.split("\n")[0].lower()


def _hold_the_agent(ray_port: int, seconds: float, held: list[int]) -> None:
    """Stop the dashboard agent of the head on ``ray_port`` for ``seconds``, as busy cores would.

    The raylet registers with its GCS only once that agent has written its ports, so ``ray
    start`` gives up after its fixed 30 s while the head's processes go on starting.
    """
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        starts = [
            p for p in psutil.process_iter(["cmdline"])
            if f"--port={ray_port}" in (p.info["cmdline"] or []) and "start" in p.info["cmdline"]
        ]  # fmt: skip
        agents = [
            p for p in psutil.process_iter(["cmdline"])
            if any("dashboard/agent.py" in part for part in p.info["cmdline"] or [])
            and starts and os.getsid(p.pid) == os.getsid(starts[0].pid)
        ]  # fmt: skip
        if agents:
            agents[0].send_signal(signal.SIGSTOP)
            held.append(os.getsid(agents[0].pid))
            time.sleep(seconds)
            with contextlib.suppress(psutil.Error):  # gone if its head was stopped
                agents[0].send_signal(signal.SIGCONT)
            return
        time.sleep(0.05)


def test_a_raylet_that_registers_after_rays_deadline_gives_a_lab(tmp_path: Path) -> None:
    """`ray start` gives up on a slow raylet after 30 s; the lab waits on and keeps that head."""
    env = lab_environment(tmp_path / ".mlops_lab")
    held: list[int] = []  # the session of the head whose agent was held
    holder = threading.Thread(
        target=_hold_the_agent, args=(int(env["MLOPS_LAB_RAY_PORT"]), 45.0, held)
    )
    holder.start()
    try:
        result = run_python(
            "import json, mlops_lab\nlab = mlops_lab.connect()\n"
            "print(int(lab.sql('SELECT 41 + 1 AS n').n[0]))\n"
            "print('session', json.loads(lab.settings.runtime_file.read_text())['pgid'])\n"
            "lab.shutdown()\n",
            env,
            timeout=600,
        )
    finally:
        holder.join()
    assert held, "the head's dashboard agent was never seen"
    assert result.returncode == 0, result.stderr[-3000:]
    assert "42" in result.stdout.splitlines()
    log = (tmp_path / ".mlops_lab" / "ray-start.log").read_text()
    assert "timed out during startup" in log
    assert f"session {held[0]}" in result.stdout.splitlines()  # the slow head itself, kept


def _burn(until: float) -> None:
    while time.monotonic() < until:
        pass


def test_a_lab_starts_while_every_core_is_busy(tmp_path: Path) -> None:
    """With twice as many busy processes as cores, connect() still returns a working lab."""
    env = lab_environment(tmp_path / ".mlops_lab")
    until = time.monotonic() + 240
    burners = [
        multiprocessing.Process(target=_burn, args=(until,), daemon=True)
        for _ in range(2 * (multiprocessing.cpu_count() or 1))
    ]
    for burner in burners:
        burner.start()
    try:
        result = run_python(
            "import mlops_lab\nlab = mlops_lab.connect()\n"
            "print(int(lab.sql('SELECT 41 + 1 AS n').n[0]))\nlab.shutdown()\n",
            env,
            timeout=600,
        )
    finally:
        for burner in burners:
            burner.terminate()
            burner.join()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "42" in result.stdout.splitlines()


def test_a_new_lab_answers_before_serve_is_up_and_a_deploy_waits_for_it(tmp_path: Path) -> None:
    """connect() returns while Serve is still starting (lab.status() says so) and the store
    answers at once; a deploy made right away serves its first request, and so does the
    v2 gateway in the shared application started beside it; a second process attaching
    finds both up and starts neither again."""
    env = lab_environment(tmp_path / ".mlops_lab")
    result = run_python(
        "import mlops_lab, requests\n"
        "from sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X, y = load_iris(return_X_y=True, as_frame=True)\n"
        "model = LogisticRegression(max_iter=1000).fit(X, y)\n"
        "lab = mlops_lab.connect()\n"
        "print('started:', lab.status().started)\n"
        "print(int(lab.sql('SELECT 41 + 1 AS n').n[0]))\n"
        "ep = lab.deploy('first', lab.registry.register('m', model).ref)\n"
        "body = {'instances': [X.iloc[0].tolist()]}\n"
        "print('predict:', requests.post(ep.url + '/predict', json=body).status_code)\n"
        "v2 = ep.url.rsplit('/', 1)[0] + '/v2/health/ready'\n"
        "print('v2:', requests.get(v2).status_code)\n"
        "print('after:', lab.status().started)\n" + _SERVE_IDENTITY + "lab.disconnect()\n",
        env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    starting = r"started: Serve starting \(\d+ s\), shared router waiting"
    assert any(re.fullmatch(starting, line) for line in lines), lines
    assert {"42", "predict: 200", "v2: 200"} <= set(lines)
    assert any(re.fullmatch(r"after: Serve up \(.*\), shared router up \(.*\)", ln) for ln in lines)
    again = run_python(
        "import mlops_lab\nlab = mlops_lab.connect(start=False)\nlab.wait_started()\n"
        + _SERVE_IDENTITY
        + "lab.shutdown()\n",
        env,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    identity = [line for line in lines if line.startswith("serve:")]
    assert len(identity) == 1 and identity[0] in again.stdout.splitlines()


# The Serve controller's actor and when the shared application was last deployed: the same
# in a process that attached later means it started neither again.
_SERVE_IDENTITY = (
    "import ray\nfrom ray import serve\n"
    "controller = ray.get_actor('SERVE_CONTROLLER_ACTOR', namespace='serve')\n"
    "shared = serve.status().applications['mlops_lab']\n"
    "print('serve:', controller._actor_id.hex(), shared.last_deployed_time_s)\n"
)


def test_the_head_runs_no_process_the_lab_does_not_use(lab: mlops_lab.Lab) -> None:
    """No dashboard (nor its API server), autoscaler monitor, log monitor or client server."""
    assert lab._head is not None
    commands = []
    for process in session_processes(lab._head.pgid):
        with contextlib.suppress(psutil.Error):
            commands.append(" ".join(process.cmdline()))
    text = "\n".join(commands)
    assert "gcs_server" in text and "raylet" in text, text
    for unused in ("dashboard/dashboard.py", "monitor.py", "log_monitor.py", "ray_client_server"):
        assert unused not in text, f"{unused} runs:\n{text}"


@pytest.mark.parametrize(
    ("role", "imported", "not_imported"),
    [
        ("serve", ["ray.serve._private.controller", "ray.serve._private.proxy"], ["skops.io"]),
        ("router", ["mlops_lab.serve._shared", "skops.io", "sklearn.linear_model"], ["ray.tune"]),
        ("0", [], ["ray.serve", "skops.io"]),
    ],
)
def test_a_worker_started_for_a_role_imports_what_that_role_needs(
    role: str, imported: list[str], not_imported: list[str]
) -> None:
    """Serve's workers import Serve's code, a router's the router and the model loaders, and
    the store's nothing, as they start (before an actor is handed to them)."""
    names = imported + not_imported
    result = run_python(
        "import sys\nfrom mlops_lab._warm import setup\nsetup()\n"
        f"print(sorted(name for name in {names!r} if name in sys.modules))\n",
        {"MLOPS_LAB_WARM": role},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[-2] == repr(sorted(imported))


def test_a_ray_client_server_starts_when_asked_and_a_ray_client_works_through_it(
    tmp_path: Path,
) -> None:
    """With ``ray_client_port`` the head runs Ray's client server there (and not otherwise,
    see above), and a ``ray://`` client with the lab's token runs a task on the lab's head."""
    env = lab_environment(tmp_path / ".mlops_lab")
    client_port = free_port_block(1)
    env["MLOPS_LAB_RAY_CLIENT_PORT"] = str(client_port)
    started = run_python("import mlops_lab\nmlops_lab.connect().disconnect()\n", env, timeout=300)
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        client = run_python(
            "import ray\n"
            f"ray.init('ray://127.0.0.1:{client_port}', logging_level='ERROR')\n"
            "print('answer', ray.get(ray.remote(lambda: 41 + 1).remote()))\n",
            {"RAY_AUTH_MODE": "token"},
            timeout=300,
        )
        assert client.returncode == 0, client.stderr[-3000:]
        assert "answer 42" in client.stdout.splitlines()
    finally:
        stopped = run_python(
            "import mlops_lab\nmlops_lab.connect(start=False).shutdown()\n", env, timeout=300
        )
        assert stopped.returncode == 0, stopped.stderr[-3000:]


def test_a_ray_client_port_in_use_is_named_before_ray_starts(tmp_path: Path) -> None:
    """A client port another process listens on is refused, naming it and the setting."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(RuntimeStartError, match=f"Port {taken} .*MLOPS_LAB_RAY_CLIENT_PORT"):
            mlops_lab.connect(
                home=str(tmp_path / ".mlops_lab"), ray_port=free_port_block(3),
                ray_client_port=taken,
            )  # fmt: skip
    assert not (tmp_path / ".mlops_lab" / "ray-start.log").exists()
