"""`sfjwt token --format env` against a hostile token endpoint, through a real shell's `eval` (issue 13
item 3): every value is quoted and exported, and an instance_url off Salesforce's domains is refused
before anything prints it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


class HostileTokenEndpoint:
    """Answers every POST with HTTP 200 and whatever JSON the test sets: a token endpoint gone bad."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {}
        self.posts = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.posts += 1
                body = json.dumps(owner.answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HostileTokenEndpoint:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[HostileTokenEndpoint]:
    with HostileTokenEndpoint() as server:
        yield server


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """An empty folder for the shell: any file in it afterwards was made by an injected command."""
    folder = tmp_path / "shell"
    folder.mkdir()
    return folder


def eval_in_bash(
    endpoint: HostileTokenEndpoint, key_file: Path, cwd: Path, after: str
) -> subprocess.CompletedProcess[str]:
    """`eval "$(sfjwt token --format env)"` in bash, then `after`, in a folder where no file should appear."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_"))}
    env.update(
        SF_CONSUMER_KEY="3MVG9hostile",
        SF_USERNAME="u@acme.com",
        SFJWT_KEY=f"file:{key_file}",
        SF_TOKEN_URL=endpoint.url,
        SFJWT_PLUGINS="file",
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    sfjwt = f"{shlex.quote(sys.executable)} -m sfjwt_vault.cli token --format env"
    return subprocess.run(
        ["bash", "-c", f'out="$({sfjwt})"; code=$?; eval "$out"; {after}; exit $code'],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_instance_url_carrying_a_command_is_refused(
    endpoint: HostileTokenEndpoint, key_file: Path, cwd: Path
) -> None:
    endpoint.answer = {
        "access_token": "00Dx0000000001!AQ0AQhostile",
        "instance_url": "https://x.my.salesforce.com; touch pwned; echo",
        "id": "https://login.salesforce.com/id/00Dx0000000001/005x0000000001",
        "token_type": "Bearer",
    }
    result = eval_in_bash(endpoint, key_file, cwd, "printenv SF_ACCESS_TOKEN || true")
    assert endpoint.posts == 1
    assert not (cwd / "pwned").exists()
    assert result.returncode == 2, result.stderr
    assert "error: the token endpoint answered with instance_url" in result.stderr and "\nhint: " in result.stderr
    assert result.stdout == ""  # nothing was printed, so nothing was exported
    assert "AQ0AQhostile" not in result.stderr


@pytest.mark.parametrize(
    "instance_url",
    ["https://attacker.example.net", "http://acme.my.salesforce.com", "https://acme.my.salesforce.com/$(touch pwned)"],
)
def test_instance_urls_off_salesforce_are_refused(
    endpoint: HostileTokenEndpoint, key_file: Path, cwd: Path, instance_url: str
) -> None:
    endpoint.answer = {"access_token": "00Dx!AQ", "instance_url": instance_url, "id": ""}
    result = eval_in_bash(endpoint, key_file, cwd, "true")
    assert result.returncode == 2 and result.stdout == "" and not (cwd / "pwned").exists()


def test_every_value_is_quoted_and_exported(endpoint: HostileTokenEndpoint, key_file: Path, cwd: Path) -> None:
    """A token the shell would otherwise run: quotes, $( ), backticks, ;, a newline. It arrives intact."""
    hostile = "00Dx!AQ0'q\"$(touch pwned1)`touch pwned2`;touch pwned3 \\ & | > x\n$HOME"
    endpoint.answer = {"access_token": hostile, "instance_url": endpoint.url + "/", "id": "", "token_type": "Bearer"}
    result = eval_in_bash(
        endpoint, key_file, cwd, 'printenv SF_ACCESS_TOKEN; printf "[%s]" "$(printenv SF_INSTANCE_URL)"'
    )
    assert result.returncode == 0, result.stderr
    assert not [p.name for p in cwd.iterdir()]  # no command ran, no file appeared
    token, instance = result.stdout.rsplit("\n", 1)
    assert token == hostile  # printenv: it was exported, not only set
    assert instance == f"[{endpoint.url}]"
