"""A real OpenBao Agent (`bao agent`) or Proxy (`bao proxy`) on loopback, for the worker's tests.

The Agent logs in with AppRole (auto-auth), writes its token to a file sink, serves an API proxy
that adds that token to requests arriving without one (`api_proxy { use_auto_auth_token = true }`
with a `listener`), and renders templates. `bao proxy` does the auto-auth, sink and API proxy parts
without templates; OpenBao's Agent still has the API proxy too, with a start-up note that it moves to
`bao proxy`. Both run with HOME in their own folder and no BAO_/VAULT_ variable of the caller's.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import find_bao, free_port, stop


@dataclass
class Template:
    """An Agent template: `contents` rendered to `destination` with `perms`."""

    contents: str
    destination: Path
    perms: str = "0600"


@dataclass
class Agent:
    process: subprocess.Popen[bytes]
    folder: Path
    sink: Path
    proxy_addr: str | None
    log: Path
    templates: list[Template] = field(default_factory=list)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def logins(self) -> int:
        """How many times auto-auth has logged in so far (from the Agent's log)."""
        return self.output().count("authentication successful")

    def stop(self) -> None:
        stop(self.process)


def hcl_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    folder: Path, vault_addr: str, role_id: str, secret_id: str, *, proxy_port: int | None, templates: list[Template]
) -> Path:
    (folder / "role-id").write_text(role_id)
    secret_file = folder / "secret-id"
    secret_file.write_text(secret_id)
    secret_file.chmod(0o600)
    lines = [
        f"pid_file = {hcl_string(str(folder / 'pid'))}",
        f"vault {{ address = {hcl_string(vault_addr)} }}",
        "auto_auth {",
        '  method "approle" {',
        '    min_backoff = "200ms"',  # retry a failed login soon: the tests wait for it
        '    max_backoff = "1s"',
        "    config = {",
        f"      role_id_file_path = {hcl_string(str(folder / 'role-id'))}",
        f"      secret_id_file_path = {hcl_string(str(secret_file))}",
        "      remove_secret_id_file_after_reading = false",
        "    }",
        "  }",
        f'  sink "file" {{ config = {{ path = {hcl_string(str(folder / "sink"))} mode = 0600 }} }}',
        "}",
    ]
    if proxy_port is not None:
        lines += [
            "api_proxy { use_auto_auth_token = true }",
            'listener "tcp" {',
            f'  address = "127.0.0.1:{proxy_port}"',
            "  tls_disable = true",
            "}",
        ]
    if templates:
        lines.append('template_config { static_secret_render_interval = "1s" }')
    for template in templates:
        lines += [
            "template {",
            f"  contents = {hcl_string(template.contents)}",
            f"  destination = {hcl_string(str(template.destination))}",
            f"  perms = {hcl_string(template.perms)}",
            "  error_on_missing_key = true",
            "}",
        ]
    config = folder / "agent.hcl"
    config.write_text("\n".join(lines) + "\n")
    return config


def start_agent(
    folder: Path,
    vault_addr: str,
    role_id: str,
    secret_id: str,
    *,
    command: str = "agent",
    proxy: bool = True,
    templates: list[Template] | None = None,
    timeout: float = 60.0,
) -> Agent:
    """`bao agent` (or `bao proxy` with command="proxy"), started and logged in: its sink holds a token,
    its listener answers and its templates are rendered."""
    folder.mkdir(parents=True, exist_ok=True)
    proxy_port = free_port() if proxy else None
    config = write_config(folder, vault_addr, role_id, secret_id, proxy_port=proxy_port, templates=templates or [])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(folder)
    log = folder / f"{command}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [find_bao(), command, f"-config={config}"], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    agent = Agent(
        process, folder, folder / "sink", f"http://127.0.0.1:{proxy_port}" if proxy_port else None, log, templates or []
    )
    deadline = time.monotonic() + timeout
    while not _ready(agent):
        if process.poll() is not None or time.monotonic() > deadline:
            agent.stop()
            raise RuntimeError(f"bao {command} did not come up:\n{agent.output()}")
        time.sleep(0.05)
    return agent


def _ready(agent: Agent) -> bool:
    if not (agent.sink.exists() and agent.sink.stat().st_size):
        return False
    if not all(t.destination.exists() for t in agent.templates):
        return False
    if agent.proxy_addr is None:
        return True
    import socket

    host, port = agent.proxy_addr.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0
