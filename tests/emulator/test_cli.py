"""`sfjwt emulator`: what it prints, its request log, TLS from the command line, errors and exit codes."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from sfjwt_vault import cli
from sfjwt_vault.testing import ThrowawayCA, make_test_keypair

from .client import CLIENT


@dataclass
class Running:
    process: subprocess.Popen[str]
    setup: dict[str, str]  # "name: value" lines printed before "serving"
    lines: list[str]


@pytest.fixture(scope="module")
def app_cert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "app.crt"
    path.write_bytes(make_test_keypair()[1])
    return path


@contextmanager
def emulator_process(*args: str, module: str = "sfjwt_vault.cli") -> Iterator[Running]:
    prefix = ["emulator"] if module == "sfjwt_vault.cli" else []
    process = subprocess.Popen(
        [sys.executable, "-m", module, *prefix, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("serving"):
                break
        else:
            raise AssertionError(f"the emulator did not start: {process.communicate()}")
        setup = {}
        for line in lines:
            name, sep, value = line.partition(": ")
            if sep and not line.startswith(" "):
                setup[name] = value.strip()
        yield Running(process, setup, lines)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def stop(running: Running) -> tuple[str, str]:
    running.process.send_signal(signal.SIGTERM)  # stops cleanly, like Ctrl-C
    out, err = running.process.communicate(timeout=10)
    assert running.process.returncode == 0
    return out, err


def test_serves_prints_setup_and_logs_requests(app_cert: Path) -> None:
    with emulator_process(
        "--cert", str(app_cert), "--consumer-key", "3MVG9cli", "--username", "cli@acme.com", "--sandbox",
        module="sfjwt_vault.testing",
    ) as running:  # fmt: skip
        setup = running.setup
        assert setup["base URL"].startswith("http://127.0.0.1:")
        assert setup["token URL"] == setup["base URL"] + "/services/oauth2/token"
        assert setup["audience"] == "https://test.salesforce.com"
        assert setup["consumer key"] == "3MVG9cli" and setup["username"] == "cli@acme.com"
        assert CLIENT.get(setup["base URL"] + "/services/data/").status_code == 200
        assert CLIENT.get(setup["base URL"] + "/services/data/v65.0/limits").status_code == 401
        out, err = stop(running)
    assert "stopped" in out
    log = [line.split(" ", 1)[1] for line in err.splitlines()]  # after the time stamp
    assert log == ["GET /services/data/ 200", "GET /services/data/v65.0/limits 401 INVALID_SESSION_ID"]


def test_quiet(app_cert: Path) -> None:
    with emulator_process("--quiet") as running:
        assert CLIENT.get(running.setup["base URL"] + "/services/data/").status_code == 200
        _, err = stop(running)
    assert err == ""


def test_tls_prints_the_ca_and_how_to_trust_it(app_cert: Path) -> None:
    with emulator_process("--tls", "--cert", str(app_cert), "--tls-name", "sf.test") as running:
        setup = running.setup
        base, ca_file = setup["base URL"], Path(setup["CA file"])
        assert base.startswith("https://127.0.0.1:")
        assert ca_file.is_file() and b"BEGIN CERTIFICATE" in ca_file.read_bytes()
        for variable in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"):
            assert any(line.strip().startswith(f"export {variable}={ca_file}") for line in running.lines)
        proxy = base.replace("https://", "http://")
        assert any(line.strip() == f"export HTTPS_PROXY={proxy}" for line in running.lines)
        verify = ssl.create_default_context(cafile=str(ca_file))
        assert httpx.get(base + "/services/data/", verify=verify).status_code == 200
        with httpx.Client(proxy=proxy, verify=verify) as client:
            assert client.get("https://login.salesforce.com/services/data/").status_code == 200
            assert client.get("https://sf.test/services/data/").status_code == 200
        stop(running)
    assert not ca_file.exists()  # the throwaway CA goes with the emulator


def test_every_interface_bind_is_warned_about() -> None:
    with emulator_process("--host", "::", "--quiet") as running:
        assert running.setup["base URL"].startswith("http://[::1]:")
        assert CLIENT.get(running.setup["base URL"] + "/services/data/").status_code == 200
        _, err = stop(running)
    assert err.startswith("warning: the Salesforce emulator listens on every network interface")
    assert "plain HTTP" in err


# -- errors: error:/hint:, exit 2, no traceback -------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["emulator", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


def test_private_key_given_as_certificate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, _ = make_test_keypair()
    path = tmp_path / "key.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    code, err = run_cli(capsys, "--cert", str(path))
    assert code == 2
    assert err.splitlines()[0] == f"error: {path} holds a private key, not a certificate"
    assert err.splitlines()[1].startswith("hint: pass the certificate uploaded to the app")
    assert "BEGIN" not in err and "MII" not in err  # nothing of the key is echoed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "error: cannot read the certificate {path}: No such file or directory"),
        (b"hello", "error: {path} is not a PEM certificate"),
        (ThrowawayCA().pem, "error: {path} holds a certificate for a non-RSA key"),
    ],
)
def test_unusable_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path = tmp_path / "app.crt"
    if content is not None:
        path.write_bytes(content)
    code, err = run_cli(capsys, "--cert", str(path))
    assert code == 2
    assert err.splitlines()[0].startswith(message.format(path=path))
    assert err.splitlines()[1].startswith("hint: ")


def test_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run_cli(capsys, "--port", str(port))
    assert code == 2
    assert err.splitlines()[0] == f"error: cannot listen on 127.0.0.1 port {port}: Address already in use"
    assert err.splitlines()[1].startswith("hint: choose another --port")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "invalid port"),
        (["--port", "-1"], "invalid port"),
        (["--session-lifetime", "0"], "invalid lifetime"),
        (["--tls-name", "x.test"], "--tls-name needs --tls"),
        (["--username", "u@x"], "need --cert"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["emulator", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_my_domain(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(capsys, "--my-domain", "http://acme.my.salesforce.com")
    assert code == 2 and err.startswith("error: --my-domain") and "\nhint: " in err


def test_unknown_host(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(capsys, "--host", "no-such-host.invalid")
    assert code == 2 and err.startswith("error: cannot listen on no-such-host.invalid") and "hint: check --host" in err


def test_help_names_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["emulator", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for option in ("--host", "--port", "--tls", "--tls-name", "--sandbox", "--my-domain", "--session-lifetime",
                   "--cert", "--consumer-key", "--username", "--external", "--quiet"):  # fmt: skip
        assert option in out
    assert "default: 127.0.0.1" in out and "examples:" in out and "docs/emulator.md" in out
