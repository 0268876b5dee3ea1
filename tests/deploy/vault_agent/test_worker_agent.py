"""examples/vault_worker behind a real OpenBao Agent (or Proxy), for `vault:` and `vault-transit:` keys.

The worker runs with SFJWT_VAULT_AUTH=agent either way:
- **sink**: VAULT_ADDR is the server, the token is the Agent's file sink (SFJWT_VAULT_TOKEN_FILE);
- **proxy**: VAULT_ADDR is the Agent's listener and the worker sends no token at all; the Agent's API
  proxy adds its auto-auth token (`use_auto_auth_token`). `bao proxy` is run the same way.

Mid-run the Agent's token is revoked while its next login is held back (its secret id destroyed), and
Salesforce ends the session, so the worker must read the key through Vault right then: it reports a
retryable failure and keeps going; once the Agent has a new secret id and logs in again, calls succeed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sfjwt_vault_hashicorp

from sfjwt_vault.certs import certificate_pem, self_signed_certificate
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost
from tests.deploy.recording import RecordingEmulator, secrets_seen
from tests.vault.conftest import USERNAME, new_key

from .agent import Agent, start_agent
from .conftest import PREFIX, AgentRole
from .running_worker import RunningWorker, ok_after

REFUSED = "transient failure, will retry: the Vault Agent's token was refused"


@dataclass
class Key:
    ref: str
    consumer_key: str
    pem: bytes | None


@pytest.fixture
def org() -> Iterator[RecordingEmulator]:
    with RecordingEmulator() as emulator:
        emulator.add_user(USERNAME)
        yield emulator


@pytest.fixture(params=["vault", "vault-transit"])
def key(request: pytest.FixtureRequest, agent_role: AgentRole, org: RecordingEmulator) -> Key:
    admin = agent_role.bao.admin()
    name = f"{PREFIX}-{uuid.uuid4().hex[:8]}"
    if request.param == "vault":
        pem, cert = new_key()
        admin.secrets.kv.v2.create_or_update_secret(
            path=f"{PREFIX}/{name}", secret={"private_key": pem.decode()}, mount_point="secret"
        )
        return Key(f"vault:secret/{PREFIX}/{name}", org.add_app(cert).consumer_key, pem)
    admin.secrets.transit.create_key(name=name, key_type="rsa-2048", mount_point="transit")
    ref = f"vault-transit:transit/{name}"
    host = PluginHost(load_entry_points=False)
    host.register(sfjwt_vault_hashicorp, "vault")
    environ = {"VAULT_ADDR": agent_role.bao.addr, "VAULT_TOKEN": agent_role.bao.root_token}
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in environ.items():
            patch.setenv(variable, value)
        with open_signer(ref, host) as signer:  # as `sfjwt cert --key vault-transit:...` makes it
            cert = certificate_pem(self_signed_certificate(signer, common_name="transit"))
    sfjwt_vault_hashicorp.session.reset_sessions()
    return Key(ref, org.add_app(cert).consumer_key, None)


def worker_env(agent: Agent, vault_addr: str, org: RecordingEmulator, key: Key, mode: str) -> dict[str, str]:
    env = {
        "SFJWT_PLUGINS": "vault",
        "SFJWT_VAULT_AUTH": "agent",
        "SF_CONSUMER_KEY": key.consumer_key,
        "SF_USERNAME": USERNAME,
        "SF_TOKEN_URL": org.token_url,
        "SF_AUDIENCE": org.audience,
        "SFJWT_KEY": key.ref,
    }
    if mode == "sink":
        env.update(VAULT_ADDR=vault_addr, SFJWT_VAULT_TOKEN_FILE=str(agent.sink))
    else:
        assert agent.proxy_addr is not None
        env["VAULT_ADDR"] = agent.proxy_addr
    return env


@pytest.mark.parametrize(
    ("command", "mode"),
    [("agent", "sink"), ("agent", "proxy"), ("proxy", "proxy")],
    ids=["agent-sink", "agent-proxy", "bao-proxy"],
)
def test_worker_keeps_working_when_the_agents_token_is_revoked(
    command: str, mode: str, key: Key, agent_role: AgentRole, org: RecordingEmulator, tmp_path: Path
) -> None:
    secret_id = agent_role.secret_id()
    agent = start_agent(
        tmp_path / "agent", agent_role.bao.addr, agent_role.role_id, secret_id, command=command, proxy=mode == "proxy"
    )
    try:
        worker = RunningWorker(worker_env(agent, agent_role.bao.addr, org, key, mode), tmp_path)
        try:
            worker.wait_until("two calls", ok_after(0, 2))
            revoked = agent.sink.read_text()
            agent_role.destroy_secret_id(secret_id)  # the Agent cannot log in again for now
            agent_role.bao.admin().auth.token.revoke(revoked)
            org.expire_all_tokens()  # the next call must mint, so read the key through Vault
            before = len(worker.calls())
            worker.wait_until("a refused token", lambda calls: any(REFUSED in c for c in calls[before:]))

            new_secret_id = agent_role.secret_id()
            (agent.folder / "secret-id").write_text(new_secret_id)  # the Agent's next login attempt succeeds
            refused_at = len(worker.calls())
            worker.wait_until("calls after the Agent's new login", ok_after(refused_at, 3))
        finally:
            code = worker.stop()
        renewed = agent.sink.read_text()
    finally:
        agent.stop()

    assert code == 130, worker.text()  # stopped by us (Ctrl-C), not by an error
    after = worker.calls()[before:]
    assert all("HTTP 200" in line or REFUSED in line for line in after), worker.text()
    assert not any(line.startswith(("error:", "hint:")) for line in worker.lines)
    assert agent.logins() == 2 and renewed != revoked  # the Agent logged in again, and only then it worked
    assert org.tokens_issued == 2  # the first token, and one after the session ended: refusals never left
    secrets_seen(org, key.pem, revoked, renewed, secret_id, new_secret_id).check("the worker's output", worker.text())


def test_a_policy_denial_through_the_proxy_still_stops_the_worker(
    agent_role: AgentRole, org: RecordingEmulator, tmp_path: Path
) -> None:
    """A refusal with a valid Agent token is the policy's: not retried, exit 3 with the stanza to add."""
    _, cert = new_key()
    key = Key("vault:secret/not-the-agents/key", org.add_app(cert).consumer_key, None)
    agent = start_agent(tmp_path / "agent", agent_role.bao.addr, agent_role.role_id, agent_role.secret_id())
    try:
        worker = RunningWorker(worker_env(agent, agent_role.bao.addr, org, key, "proxy"), tmp_path)
        code = worker.process.wait(timeout=30)
        worker.stop()
    finally:
        agent.stop()
    assert code == 3, worker.text()
    assert 'path "secret/data/not-the-agents/key"' in worker.text()
    assert not worker.calls() or not any("transient" in line for line in worker.calls())
