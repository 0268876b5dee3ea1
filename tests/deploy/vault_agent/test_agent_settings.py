"""SFJWT_VAULT_AUTH=agent takes the token only from the Agent: its sink, or none at all (its proxy)."""

from __future__ import annotations

from pathlib import Path

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
