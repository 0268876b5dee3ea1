"""`sfjwt exec`: run a command with the session in its environment, and become it for the caller.

The command runs directly (no shell: its arguments arrive exactly as given), with `SF_ACCESS_TOKEN` and
`SF_INSTANCE_URL` added to a copy of this process's environment, never on a command line. Its exit
status becomes ours (a death by signal N is 128 + N, as a shell reports it), and the signals a
supervisor or a user sends us reach it:

- SIGTERM, SIGUSR1 and SIGUSR2 are always forwarded.
- SIGINT, SIGQUIT and SIGHUP are forwarded unless this process is in the foreground of the terminal on
  its stdin: there the terminal (Ctrl-C, Ctrl-\\, a hangup) has sent them to the whole foreground process
  group, the child included, and a second copy would make a program that counts interrupts act twice.
  Either way this process does not die of them: it waits for the child and exits with its status.

POSIX only (sfjwt-vault runs on Linux and macOS).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess  # nosec B404 - `sfjwt exec` runs the command the user names, without a shell
from collections.abc import Mapping, Sequence
from types import FrameType

from .errors import CommandNotFoundError, CommandNotRunnableError

log = logging.getLogger("sfjwt_vault")

ALWAYS_FORWARDED = ("SIGTERM", "SIGUSR1", "SIGUSR2")
TERMINAL_SIGNALS = ("SIGINT", "SIGQUIT", "SIGHUP")  # the terminal sends these to its foreground group


def run(command: Sequence[str], extra_env: Mapping[str, str]) -> int:
    """Run `command` with `extra_env` added to the environment; its exit status, shell-style."""
    env = {**os.environ, **extra_env}
    terminal = {getattr(signal, name) for name in TERMINAL_SIGNALS if hasattr(signal, name)}
    forwarded = terminal | {getattr(signal, name) for name in ALWAYS_FORWARDED if hasattr(signal, name)}
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []
    seen: list[tuple[int, bool]] = []  # (signal, forwarded), logged once the child is done: not from a handler

    def forward(signum: int, frame: FrameType | None) -> None:
        passed_on = not (signum in terminal and _terminal_sent_it())  # else the child got the terminal's copy
        seen.append((signum, passed_on))
        if not passed_on:
            return
        if child is None:
            pending.append(signum)  # arrived while the child was being started
            return
        try:
            os.kill(child.pid, signum)
        except ProcessLookupError:  # it has just exited; wait() collects it
            pass

    previous = {signum: signal.signal(signum, forward) for signum in forwarded}
    try:
        try:
            child = subprocess.Popen(list(command), env=env)  # noqa: S603 # nosec B603 - the user's command, no shell
        except FileNotFoundError:
            raise CommandNotFoundError(
                f"command not found: {command[0]}", hint="check the name and PATH (no shell runs it: no aliases)"
            ) from None
        except PermissionError:
            raise CommandNotRunnableError(
                f"cannot run {command[0]}: permission denied", hint="it must be an executable file"
            ) from None
        except OSError as exc:
            raise CommandNotRunnableError(
                f"cannot run {command[0]}: {exc.strerror or type(exc).__name__}", hint="it must be an executable file"
            ) from None
        for signum in pending:
            os.kill(child.pid, signum)
        status = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum, passed_on in seen:
            name = signal.Signals(signum).name
            log.debug(
                "%s %s",
                name,
                "forwarded to the command" if passed_on else "left to the terminal, which sent it to the command too",
            )
    return 128 - status if status < 0 else status


def _terminal_sent_it() -> bool:
    """Whether this process is in the foreground process group of the terminal on stdin (so a terminal
    signal reached the child too)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False
