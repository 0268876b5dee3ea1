"""The Vault worker behind a real OpenBao Agent: the session's OpenBao server (tests/vault/conftest.py,
reused from SFJWT_TEST_BAO_ADDR in CI), an AppRole for the Agent, and the emulator on plain HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sfjwt_vault.testing.emulator import SalesforceEmulator
from tests.vault.conftest import USERNAME, Bao, bao, clean_env  # noqa: F401 - fixtures

ROLE = "sfjwt-agent"
PREFIX = "sfjwt-agent"
# A short token TTL: the Agent renews every ~2 s, so it notices a revoked token within seconds.
TOKEN_TTL = "3s"
POLICY = f"""
path "secret/data/{PREFIX}/*"     {{ capabilities = ["read"] }}
path "secret/metadata/{PREFIX}/*" {{ capabilities = ["read"] }}
path "transit/sign/{PREFIX}-*"    {{ capabilities = ["update"] }}
path "transit/keys/{PREFIX}-*"    {{ capabilities = ["read"] }}
"""


@dataclass
class AgentRole:
    bao: Bao
    role_id: str

    def secret_id(self) -> str:
        return str(self.bao.admin().auth.approle.generate_secret_id(ROLE)["data"]["secret_id"])

    def destroy_secret_id(self, secret_id: str) -> None:
        self.bao.admin().auth.approle.destroy_secret_id(ROLE, secret_id)


@pytest.fixture(scope="session")
def agent_role(bao: Bao) -> AgentRole:  # noqa: F811 - the imported fixture
    admin = bao.admin()
    # Vault and OpenBao lock a role_id out for 15 minutes after 5 failed logins ("user lockout"). The
    # revocation test makes the Agent fail on purpose until it gets a new secret id; on a slow machine
    # that is more than 5 attempts, and the lockout would then refuse every later test's Agent.
    admin.adapter.post("/v1/sys/auth/approle/tune", json={"user_lockout_config": {"lockout_disable": True}})
    admin.sys.create_or_update_policy(ROLE, POLICY)
    admin.auth.approle.create_or_update_approle(ROLE, token_policies=[ROLE], token_ttl=TOKEN_TTL, token_max_ttl="1h")
    return AgentRole(bao, str(admin.auth.approle.read_role_id(ROLE)["data"]["role_id"]))


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as emu:
        emu.add_user(USERNAME)
        yield emu
