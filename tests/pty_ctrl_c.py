"""Run a command on a new pseudo-terminal, press Ctrl-C once it prints "ready", and report what the
terminal showed and how the command ended, as JSON: `python -m tests.pty_ctrl_c COMMAND [ARGS...]`.

A process of its own, with one thread: forking a pty from the multi-threaded test process (the emulator
serves from threads) could deadlock the child, and Python 3.13 warns about it."""

from __future__ import annotations

import json
import os
import pty
import select
import sys

WAIT = 60.0  # seconds without output before giving up


def read_until(fd: int, marker: bytes | None) -> bytes:
    """Read until `marker` and the end of its line, or (None) until the terminal closes."""
    data = b""
    while marker is None or marker not in data or not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], WAIT)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # every process on the terminal has exited
            break
        if not chunk:
            break
        data += chunk.replace(b"\r\n", b"\n")
    return data


def main(argv: list[str]) -> None:
    pid, terminal = pty.fork()
    if pid == 0:  # a session leader whose controlling terminal is the pty, in its foreground
        os.execv(argv[0], argv)  # noqa: S606 - the command the test names
    seen = read_until(terminal, b"ready")
    os.write(terminal, b"\x03")  # Ctrl-C
    seen += read_until(terminal, None)
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    print(json.dumps({"output": seen.decode(errors="replace"), "exit": os.waitstatus_to_exitcode(status)}))


if __name__ == "__main__":
    main(sys.argv[1:])
