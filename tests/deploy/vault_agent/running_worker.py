"""examples/vault_worker/worker.py as a background process whose output the test reads as it comes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from tests.vault.test_transit import WORKTREE, plugin_path

WORKER = WORKTREE / "examples" / "vault_worker" / "worker.py"


class RunningWorker:
    """The worker with `--iterations 0` (until stopped); `lines` holds stdout and stderr as printed."""

    def __init__(self, env: dict[str, str], tmp_path: Path, interval: float = 0.2) -> None:
        full_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": plugin_path(tmp_path)}
        full_env.update(env)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), "--interval", str(interval), "--iterations", "0"],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def calls(self) -> list[str]:
        """The per-call lines (`call N: ...`), successes and retried failures, in order."""
        with self._changed:
            return [line for line in self.lines if line.startswith("call ")]

    def wait_until(self, what: str, predicate: Callable[[list[str]], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate([line for line in self.lines if line.startswith("call ")]):
                if self.process.poll() is not None:
                    self._changed.wait(0.2)  # let the readers drain
                    raise AssertionError(f"the worker exited ({self.process.returncode}) before {what}:\n{self.text()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {what} within {timeout} s:\n{self.text()}")
                self._changed.wait(min(remaining, 0.2))

    def stop(self) -> int:
        """Ctrl-C, as an operator would; the worker closes its clients and exits 130."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def text(self) -> str:
        return "\n".join(self.lines)


def ok_after(start: int, count: int) -> Callable[[list[str]], bool]:
    """`count` successful calls among the call lines after the first `start` of them."""
    return lambda calls: sum("HTTP 200" in line for line in calls[start:]) >= count
