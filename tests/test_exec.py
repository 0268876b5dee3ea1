"""`sfjwt exec -- COMMAND`: the session in the command's environment (never in our output or on a command
line), its arguments exactly as given (no shell), its exit status as ours, signals forwarded to it.
Real children, real signals; against the emulator over plain http on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.test_cli import app_env, sfjwt

PYTHON = sys.executable

# Uses the token it was given: a REST call proves it is the live session.
USE_TOKEN = """
import json, os, urllib.request
token, url = os.environ["SF_ACCESS_TOKEN"], os.environ["SF_INSTANCE_URL"]
request = urllib.request.Request(url + "/services/data/v65.0/limits", headers={"Authorization": "Bearer " + token})
print(json.dumps({"status": urllib.request.urlopen(request).status, "instance_url": url}))
"""

# Keeps the token where only the test looks, and says whether any command line in sight holds it.
HIDE_TOKEN = """
import os, sys
token = os.environ["SF_ACCESS_TOKEN"].encode()
open(sys.argv[1], "wb").write(token)
lines = [open(f"/proc/{pid}/cmdline", "rb").read() for pid in ("self", str(os.getppid()))]
print("token on a command line" if any(token in line for line in lines) else "no token on any command line")
"""

# Traps the forwarded signals, says which one arrived, exits 40 + its number; gives up after 20 s.
TRAP = """
import signal, sys, time
def caught(number, frame):
    print("got", signal.Signals(number).name, flush=True)
    sys.exit(40 + number)
for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
    signal.signal(getattr(signal, name), caught)
print("ready", flush=True)
time.sleep(20)
sys.exit(99)
"""


def test_the_command_gets_a_live_session(salesforce_app: SalesforceApp) -> None:
    done = sfjwt("exec", "--", PYTHON, "-c", USE_TOKEN, env=app_env(salesforce_app))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": 200, "instance_url": salesforce_app.emulator.base_url}
    assert salesforce_app.emulator.tokens_issued == 1


def test_the_token_is_never_in_our_output_or_on_a_command_line(salesforce_app: SalesforceApp, tmp_path: Path) -> None:
    kept = tmp_path / "token"
    done = sfjwt("--debug", "exec", "--", PYTHON, "-c", HIDE_TOKEN, str(kept), env=app_env(salesforce_app))
    assert done.returncode == 0, done.stderr
    token = kept.read_text()
    assert token.startswith(salesforce_app.emulator.org_id)  # the child really had it
    assert done.stdout == "no token on any command line\n"
    assert token not in done.stderr and "DEBUG" in done.stderr  # debug logging was on, and is clean


CURL = (
    'printf "Authorization: Bearer %s\\n" "$SF_ACCESS_TOKEN" '
    '| curl --silent --show-error --fail -H @- "$SF_INSTANCE_URL/services/data/v65.0/limits"'
)


def test_the_readme_curl_recipe(salesforce_app: SalesforceApp) -> None:
    """The header goes to curl on stdin (printf is the shell's builtin): the token is on no command line."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed: the README's curl recipe cannot be run here")
    done = sfjwt("exec", "--", "sh", "-c", CURL, env=app_env(salesforce_app))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["DailyApiRequests"]["Max"] == 15000


def test_arguments_arrive_exactly_as_given(salesforce_app: SalesforceApp) -> None:
    given = [
        "two words",
        "it's",
        '"quoted"',
        "$HOME",
        "${PATH}",
        "*",
        "?.py",
        "a;b",
        "`id`",
        "",
        "x\ny",
        "ünï",
        "--key",
    ]
    program = "import json, sys; print(json.dumps(sys.argv[1:]))"
    done = sfjwt("exec", "--", PYTHON, "-c", program, *given, env=app_env(salesforce_app))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == given


def test_without_the_double_dash_the_first_word_starts_the_command(salesforce_app: SalesforceApp) -> None:
    done = sfjwt("exec", PYTHON, "-c", "import sys; print(sys.argv[1:])", "--debug", env=app_env(salesforce_app))
    assert done.returncode == 0 and done.stdout.strip() == "['--debug']"


@pytest.mark.parametrize(
    ("program", "code"),
    [
        ("import sys; sys.exit(0)", 0),
        ("import sys; sys.exit(7)", 7),
        ("import sys; sys.exit(255)", 255),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 128 + signal.SIGKILL),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", 128 + signal.SIGTERM),
    ],
)
def test_the_exit_status_is_the_commands(salesforce_app: SalesforceApp, program: str, code: int) -> None:
    done = sfjwt("exec", "--", PYTHON, "-c", program, env=app_env(salesforce_app))
    assert done.returncode == code and done.stderr == ""


def test_a_command_that_cannot_run(salesforce_app: SalesforceApp, tmp_path: Path) -> None:
    missing = sfjwt("exec", "--", "no-such-command-sfjwt", env=app_env(salesforce_app))
    assert missing.returncode == 127
    assert missing.stderr.startswith("error: command not found: no-such-command-sfjwt\nhint: ")
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    denied = sfjwt("exec", "--", str(script), env=app_env(salesforce_app))
    assert denied.returncode == 126 and denied.stderr.startswith("error: cannot run ")
    nothing = sfjwt("exec", "--", env=app_env(salesforce_app))
    assert nothing.returncode == 2 and nothing.stderr.startswith("error: no command to run")


def test_a_failed_login_runs_nothing(salesforce_app: SalesforceApp, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    env = app_env(salesforce_app, SF_USERNAME="nobody@acme.com")
    done = sfjwt("exec", "--", PYTHON, "-c", f"open({str(marker)!r}, 'w')", env=env)
    assert done.returncode == 4 and not marker.exists()


def started(salesforce_app: SalesforceApp, program: str) -> subprocess.Popen[str]:
    """`sfjwt exec` running `program`, in its own session, stdin not a terminal; after its "ready"."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_"))}
    process = subprocess.Popen(
        [PYTHON, "-m", "sfjwt_vault.cli", "--debug", "exec", "--", PYTHON, "-c", program],
        env={**base, **app_env(salesforce_app)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"])
def test_signals_are_forwarded_to_the_command(salesforce_app: SalesforceApp, name: str) -> None:
    number = getattr(signal, name)
    process = started(salesforce_app, TRAP)
    process.send_signal(number)  # to sfjwt only, as a supervisor or `kill` would
    out, err = process.communicate(timeout=60)
    assert out == f"got {name}\n" and process.returncode == 40 + number, err
    assert f"{name} forwarded to the command" in err


def test_a_command_killed_by_a_forwarded_signal_is_128_plus_n(salesforce_app: SalesforceApp) -> None:
    process = started(salesforce_app, "import time; print('ready', flush=True); time.sleep(20)")
    process.terminate()
    process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM


# Counts the SIGINTs it gets (after the first, it gives a duplicate half a second to arrive, though
# signals that arrive together merge into one: sfjwt's debug line is what shows it did not forward).
COUNT_INTERRUPTS = """
import signal, sys, time
count = 0
def caught(number, frame):
    global count
    count += 1
signal.signal(signal.SIGINT, caught)
print("ready", flush=True)
deadline = time.monotonic() + 20
while not count and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.5)
print("interrupts", count, flush=True)
sys.exit(count)
"""


def test_ctrl_c_in_a_terminal_reaches_the_command_once(salesforce_app: SalesforceApp) -> None:
    """In a terminal, Ctrl-C goes to the whole foreground process group: the command has its own copy,
    and a forwarded second one would make a program that counts interrupts act twice."""
    command = [PYTHON, "-m", "sfjwt_vault.cli", "--debug", "exec", "--", PYTHON, "-c", COUNT_INTERRUPTS]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_"))}
    done = subprocess.run(
        [PYTHON, "-m", "tests.pty_ctrl_c", *command],
        env={**base, **app_env(salesforce_app)},
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(done.stdout)
    assert "interrupts 1" in seen["output"], seen
    assert "SIGINT left to the terminal, which sent it to the command too" in seen["output"]
    assert "forwarded" not in seen["output"] and seen["exit"] == 1
