"""A real MLflow tracking server for the tests and benchmarks: ``mlflow server`` on a SQLite
database in a folder of its own, on 127.0.0.1 and a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``mlflow server`` process on a SQLite backend; ``stop`` and ``start`` keep its data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = Path(sys.executable).with_name("mlflow")
        cmd = [str(exe) if exe.exists() else "mlflow", "server",
               "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
               "--artifacts-destination", str(self.folder / "artifacts"),
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - the process writes it
        self.proc = subprocess.Popen(cmd, cwd=self.folder, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({self.proc.returncode}): "
                                   f"{(self.folder / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server and the workers it started
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


class Requests:
    """Counts the HTTP requests this process sends to one server's REST API while in a ``with``
    block, as ``METHOD path`` (MLflow's client sends each through ``requests.Session.send``;
    other hosts, such as MLflow's telemetry, are left out)."""

    def __init__(self, server: Server) -> None:
        self.prefix = f"{server.url}/api/2.0/mlflow/"
        self.sent: list[str] = []
        self.send: Any = None

    def __enter__(self) -> Requests:
        import requests

        self.send = send = requests.Session.send

        def counting(session: Any, request: Any, **kwargs: Any) -> Any:
            if request.url.startswith(self.prefix):
                self.sent.append(f"{request.method} {request.url[len(self.prefix):].split('?')[0]}")
            return send(session, request, **kwargs)

        requests.Session.send = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        import requests

        requests.Session.send = self.send  # type: ignore[method-assign]

    def during(self, call: Callable[[], object]) -> dict[str, int]:
        """What ``call()`` sends, by request."""
        start = len(self.sent)
        call()
        return dict(Counter(self.sent[start:]))
