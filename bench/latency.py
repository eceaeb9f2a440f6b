"""How long a notebook user waits: for a lab, for a deploy, for a change of routes.

The lab's steps, each in a process of its own so that nothing is warm that a user's fresh
kernel would not have (the clock starts after ``import mlops_lab``):

1. Cold: from nothing running, ``connect()`` (``ready_s``: until it returns a lab that can
   tune), then at once register a small scikit-learn model and ``lab.deploy`` it, until the
   first 200 over HTTP (``cold_s``, the registration included).
2. Started: a new lab on another folder, waited on until everything it starts in the
   background is up; then ``lab.deploy`` of its first endpoint until the first 200
   (``first_predict_s``), a second endpoint on the same model (``next_deploy_s``), and a
   50/50 split of the second endpoint between two versions (``route_change_s``, until the
   call returns: the replicas serve the new routes by then). Meanwhile a second process
   attaches with ``connect(start=False)`` (``reattach_s``).
3. The floor, with Ray and Serve alone and their defaults (and token authentication, as the
   lab has it): ``ray start --head``
   (``ray_start_s``), ``serve.start`` in a driver (``serve_start_s``), and ``serve.run`` of a
   bare deployment holding the same model, until its first 200 (``bare_deploy_s``).

The ratios divide by the floor: ``ready_ratio = ready_s / (ray_start_s + serve_start_s)``,
``first_deploy_ratio``, ``next_deploy_ratio`` and ``route_change_ratio`` by
``bare_deploy_s``, and ``cold_ratio = cold_s / (ray_start_s + serve_start_s +
bare_deploy_s)``.

    python bench/latency.py --quick   # each step once (about five minutes)
    python bench/latency.py --smoke   # the started lab only, the floor's deploy on it

``--smoke`` skips the cold start and the floor's own head: their figures are null.

Last line, one JSON object:
    {"ray_start_s", "serve_start_s", "bare_deploy_s", "ready_s", "first_predict_s",
     "next_deploy_s", "route_change_s", "reattach_s", "cold_s", "ready_ratio",
     "first_deploy_ratio", "next_deploy_ratio", "route_change_ratio", "cold_ratio"}
Goals (median of three runs): ready_ratio <= 0.6, first_deploy_ratio <= 1.0,
next_deploy_ratio <= 0.3, route_change_ratio <= 0.15, cold_ratio <= 0.8.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
BODY = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode()


def _model() -> Any:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    return LogisticRegression(max_iter=1000).fit(X, y), X


def _first_200(url: str, timeout: float = 300.0) -> None:
    """Post the same instance until ``url`` answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(url, BODY, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} gave no 200 within {timeout:.0f} s")
        time.sleep(0.05)


def _timed(step: Any) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


# Phases: each runs in a fresh interpreter and prints one JSON line.


def phase_cold(home: str, ray_port: int, serve_port: int) -> dict[str, float]:
    import mlops_lab

    model, X = _model()
    start = time.perf_counter()
    lab = mlops_lab.connect(home=home, ray_port=ray_port, serve_port=serve_port)
    ready_s = time.perf_counter() - start
    try:
        ref = lab.registry.register("latency", model, reference=X.head(20)).ref
        endpoint = lab.deploy("cold", ref)
        _first_200(f"{endpoint.url}/predict")
        cold_s = time.perf_counter() - start
    finally:
        lab.shutdown()
    return {"ready_s": ready_s, "cold_s": cold_s}


def phase_started(home: str, ray_port: int, serve_port: int, bare: bool) -> dict[str, float]:
    import mlops_lab

    model, X = _model()
    lab = mlops_lab.connect(home=home, ray_port=ray_port, serve_port=serve_port)
    try:
        lab.wait_started()
        first = lab.registry.register("latency", model, reference=X.head(20)).ref
        second = lab.registry.register("latency", model, reference=X.head(20)).ref
        figures = {
            "first_predict_s": _timed(lambda: _first_200(f"{lab.deploy('a', first).url}/predict")),
            "next_deploy_s": _timed(lambda: _first_200(f"{lab.deploy('b', first).url}/predict")),
            "route_change_s": _timed(lambda: lab.endpoint("b").split({first: 0.5, second: 0.5})),
        }
        attach = [sys.executable, str(SCRIPT), "--phase", "reattach", "--home", home,
                  "--ray-port", str(ray_port), "--serve-port", str(serve_port)]  # fmt: skip
        figures |= _run(attach)
        if bare:  # the floor's deploy on this lab's cluster (--smoke: no head of its own)
            figures["bare_deploy_s"] = _bare_deploy(model, lab.settings.serve_port)
    finally:
        lab.shutdown()
    return figures


def phase_reattach(home: str, ray_port: int, serve_port: int) -> dict[str, float]:
    import mlops_lab

    start = time.perf_counter()
    lab = mlops_lab.connect(home=home, ray_port=ray_port, serve_port=serve_port, start=False)
    reattach_s = time.perf_counter() - start
    lab.disconnect()
    return {"reattach_s": reattach_s}


def phase_floor(ray_port: int, serve_port: int) -> dict[str, float]:
    """Ray and Serve alone: a head with Ray's defaults, Serve, one bare deployment."""
    from mlops_lab._ray import stop_session

    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray_cli is not None, "the ray command is not installed beside this Python"
    command = [ray_cli, "start", "--head", f"--port={ray_port}",
               f"--ray-client-server-port={ray_port + 1}", f"--dashboard-port={ray_port + 2}",
               "--disable-usage-stats"]  # fmt: skip
    # With token authentication, as the lab's head has it.
    os.environ["RAY_AUTH_MODE"] = "token"
    start = time.perf_counter()
    head = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        if head.wait(timeout=240) != 0:
            raise RuntimeError(f"`{' '.join(command)}` failed")
        figures = {"ray_start_s": time.perf_counter() - start}
        driver = [sys.executable, str(SCRIPT), "--phase", "floor-driver",
                  "--ray-port", str(ray_port), "--serve-port", str(serve_port)]  # fmt: skip
        figures |= _run(driver)
    finally:
        stop_session(head.pid)
    return figures


def phase_floor_driver(ray_port: int, serve_port: int) -> dict[str, float]:
    import ray
    from ray import serve

    model, _ = _model()
    ray.init(address=f"127.0.0.1:{ray_port}", logging_level="WARNING", log_to_driver=False)
    serve_start_s = _timed(
        lambda: serve.start(http_options={"host": "127.0.0.1", "port": serve_port})
    )
    return {"serve_start_s": serve_start_s, "bare_deploy_s": _bare_deploy(model, serve_port)}


def _bare_deploy(model: Any, serve_port: int) -> float:
    """``serve.run`` of the model in a hand-written deployment, until its first 200."""
    import pandas as pd
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    @serve.deployment
    class Bare:
        def __init__(self, model: Any) -> None:
            self.model = model

        async def __call__(self, request: Request) -> JSONResponse:
            payload = await request.json()
            frame = pd.DataFrame(payload["instances"], columns=self.model.feature_names_in_)
            return JSONResponse({"predictions": self.model.predict(frame).tolist()})

    def deploy() -> None:
        serve.run(Bare.bind(model), name="bare", route_prefix="/bare")
        _first_200(f"http://127.0.0.1:{serve_port}/bare")

    return _timed(deploy)


def _run(command: list[str]) -> dict[str, float]:
    """Run a phase in a fresh interpreter; its last line of output is its figures."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:5])} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _ratio(part: float | None, *floor: float | None) -> float | None:
    if part is None or any(value is None for value in floor):
        return None
    return round(part / sum(value for value in floor if value is not None), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="each step once")
    mode.add_argument("--smoke", action="store_true", help="the started lab only: same keys")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--ray-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        ports = (args.ray_port, args.serve_port)
        phases = {
            "cold": lambda: phase_cold(args.home, *ports),
            "started": lambda: phase_started(args.home, *ports, args.bare),
            "reattach": lambda: phase_reattach(args.home, *ports),
            "floor": lambda: phase_floor(*ports),
            "floor-driver": lambda: phase_floor_driver(*ports),
        }
        print(json.dumps(phases[args.phase]()))
        return

    from mlops_lab._net import free_port_block

    figures: dict[str, float | None] = dict.fromkeys(
        ("ray_start_s", "serve_start_s", "bare_deploy_s", "ready_s", "cold_s")
    )
    with tempfile.TemporaryDirectory(prefix="mlops-latency-") as folder:

        def phase(name: str, *extra: str) -> dict[str, float]:
            home = str(Path(folder) / name / ".mlops_lab")
            return _run([sys.executable, str(SCRIPT), "--phase", name, "--home", home,
                         "--ray-port", str(free_port_block(3)),
                         "--serve-port", str(free_port_block(1)), *extra])  # fmt: skip

        if not args.smoke:
            figures |= phase("cold")
        figures |= phase("started", *(["--bare"] if args.smoke else []))
        if not args.smoke:
            figures |= phase("floor")

    ray_serve = [figures["ray_start_s"], figures["serve_start_s"]]
    summary = {key: None if value is None else round(value, 3) for key, value in figures.items()}
    summary |= {
        "ready_ratio": _ratio(figures["ready_s"], *ray_serve),
        "first_deploy_ratio": _ratio(figures["first_predict_s"], figures["bare_deploy_s"]),
        "next_deploy_ratio": _ratio(figures["next_deploy_s"], figures["bare_deploy_s"]),
        "route_change_ratio": _ratio(figures["route_change_s"], figures["bare_deploy_s"]),
        "cold_ratio": _ratio(figures["cold_s"], *ray_serve, figures["bare_deploy_s"]),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
