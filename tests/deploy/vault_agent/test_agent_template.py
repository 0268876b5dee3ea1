"""An Agent template renders the PEM from KV to a 0600 file; the worker mints with `file:`; a new key
version in KV is re-rendered and used at the next mint. The key then rests on disk (see the README)."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.recording import RecordingEmulator, secrets_seen
from tests.vault.conftest import USERNAME, new_key

from .agent import Template, start_agent
from .conftest import PREFIX, AgentRole
from .running_worker import RunningWorker, ok_after


@pytest.fixture
def key_folder(tmp_path: Path) -> Iterator[Path]:
    """A 0700 folder on tmpfs (/dev/shm) where the machine has one, as the README advises."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else str(tmp_path)
    folder = Path(tempfile.mkdtemp(prefix="sfjwt-agent-", dir=base))  # mkdtemp makes it 0700
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def wait_for_content(path: Path, content: bytes, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            if path.read_bytes() == content:
                return
        time.sleep(0.05)
    raise AssertionError(f"{path} was not rendered with the expected content within {timeout} s")


def test_agent_renders_the_key_for_the_file_backend_and_rerenders_a_rotation(
    agent_role: AgentRole, key_folder: Path, tmp_path: Path
) -> None:
    admin = agent_role.bao.admin()
    path = f"{PREFIX}/rendered-{uuid.uuid4().hex[:8]}"
    pem, cert = new_key()
    admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"private_key": pem.decode()}, mount_point="secret")
    rendered = key_folder / "salesforce-jwt.pem"
    template = Template(
        f'{{{{ with secret "secret/data/{path}" }}}}{{{{ .Data.data.private_key }}}}{{{{ end }}}}', rendered
    )
    secret_id = agent_role.secret_id()

    with RecordingEmulator() as org:
        org.add_user(USERNAME)
        app = org.add_app(cert)
        agent = start_agent(
            tmp_path / "agent", agent_role.bao.addr, agent_role.role_id, secret_id, proxy=False, templates=[template]
        )
        try:
            assert rendered.read_bytes() == pem
            assert stat.S_IMODE(rendered.stat().st_mode) == 0o600
            env = {
                "SFJWT_PLUGINS": "file",  # no Vault client in the worker at all
                "SFJWT_KEY": f"file:{rendered}",
                "SF_CONSUMER_KEY": app.consumer_key,
                "SF_USERNAME": USERNAME,
                "SF_TOKEN_URL": org.token_url,
                "SF_AUDIENCE": org.audience,
            }
            worker = RunningWorker(env, tmp_path)
            try:
                worker.wait_until("two calls", ok_after(0, 2))

                new_pem, new_cert = new_key()  # rotation: a new version in KV, its certificate on the app
                admin.secrets.kv.v2.create_or_update_secret(
                    path=path, secret={"private_key": new_pem.decode()}, mount_point="secret"
                )
                wait_for_content(rendered, new_pem)  # the Agent re-rendered the file
                app.certificate_pem = new_cert
                org.expire_all_tokens()  # the next call mints, reading the file again
                rotated_at = len(worker.calls())
                worker.wait_until("calls with the new key", ok_after(rotated_at, 2))
            finally:
                code = worker.stop()
        finally:
            agent.stop()

        assert code == 130, worker.text()
        assert all("HTTP 200" in line for line in worker.calls()), worker.text()
        assert stat.S_IMODE(rendered.stat().st_mode) == 0o600  # the re-rendered file kept its mode
        assert org.tokens_issued == 2  # the old key's token, then one minted with the new key only
        seen = secrets_seen(org, pem)
        seen.keys.append(new_pem)
        seen.check("the worker's output", worker.text())
        seen.check("the Agent's log", agent.output())
