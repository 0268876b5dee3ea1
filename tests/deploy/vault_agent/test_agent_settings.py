"""SFJWT_VAULT_AUTH=agent takes the token only from the Agent: its sink, or none at all (its proxy)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sfjwt_vault_hashicorp.errors import VaultPermissionDeniedError
from sfjwt_vault_hashicorp.session import VaultSession
from sfjwt_vault_hashicorp.settings import VaultSettings


def session_for(env: dict[str, str]) -> VaultSession:
    return VaultSession(VaultSettings.from_env(env), env)


def test_agent_mode_sends_no_token_of_the_users(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("s.from-home")
    env = {"SFJWT_VAULT_AUTH": "agent", "VAULT_ADDR": "http://127.0.0.1:8100", "VAULT_TOKEN": "s.from-env"}
    env["HOME"] = str(tmp_path)
    assert session_for(env).client().token is None  # the Agent's proxy adds its own
    assert session_for({**env, "SFJWT_VAULT_AUTH": "token"}).client().token == "s.from-env"


def test_agent_mode_reads_the_sink_on_every_use(tmp_path: Path) -> None:
    sink = tmp_path / "sink"
    sink.write_text("s.first\n")
    session = session_for(
        {"SFJWT_VAULT_AUTH": "agent", "VAULT_TOKEN": "s.ignored", "SFJWT_VAULT_TOKEN_FILE": str(sink)}
    )
    assert session.client().token == "s.first"
    sink.write_text("s.second\n")  # the Agent logged in again
    assert session.client().token == "s.second"
    assert session.logins == 0  # the plugin itself never logs in


class AgentProxy:
    """A loopback stand-in for an Agent's API proxy that answers reads of one path from a script: each
    answer is (status, body); lookup-self always succeeds (the Agent holds a valid token)."""

    def __init__(self, answers: list[tuple[int, dict[str, object]]]) -> None:
        self.answers = answers
        self.reads = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/v1/auth/token/lookup-self"):
                    status, body = 200, {"data": {"policies": ["default"], "ttl": 30}}
                else:
                    status, body = proxy.answers[min(proxy.reads, len(proxy.answers) - 1)]
                    proxy.reads += 1
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.addr = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def proxy_answers() -> Iterator[list[AgentProxy]]:
    made: list[AgentProxy] = []
    yield made
    for proxy in made:
        proxy.server.shutdown()


DENIED = (403, {"errors": ["permission denied"]})
SECRET = (200, {"data": {"data": {"private_key": "not a key"}, "metadata": {"version": 1}}})


def test_a_refusal_the_agent_has_since_fixed_is_read_again(proxy_answers: list[AgentProxy]) -> None:
    """The proxy refused with its old token, then logged in: the lookup succeeds with the new one. That
    is not a policy denial (it made the worker exit 3 on a loaded machine): the read is tried again."""
    proxy = AgentProxy([DENIED, SECRET])
    proxy_answers.append(proxy)
    session = session_for({"SFJWT_VAULT_AUTH": "agent", "VAULT_ADDR": proxy.addr})
    body = session.request("GET", "secret/data/app/key", what="read the key", capability="read")
    assert body["data"]["data"] == {"private_key": "not a key"} and proxy.reads == 2


def test_a_second_refusal_with_a_valid_agent_token_is_the_policy(proxy_answers: list[AgentProxy]) -> None:
    proxy = AgentProxy([DENIED, DENIED, SECRET])
    proxy_answers.append(proxy)
    session = session_for({"SFJWT_VAULT_AUTH": "agent", "VAULT_ADDR": proxy.addr})
    with pytest.raises(VaultPermissionDeniedError):
        session.request("GET", "secret/data/app/key", what="read the key", capability="read")
    assert proxy.reads == 2  # once more, then the policy's answer: never a loop
