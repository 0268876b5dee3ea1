"""The `file:` backend's refusals: non-regular files without blocking, loose permissions, unknown options."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sfjwt_vault_file

from sfjwt_vault import ConfigurationError, KeyBackendError, KeyRef, SecretBuffer
from sfjwt_vault.keys import MAX_KEY_BYTES, open_signer
from sfjwt_vault.plugins import PluginHost


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """Before: `open()` on a FIFO blocked forever. Run in a child so a regression fails, not hangs."""
    fifo = tmp_path / "key.pem"
    os.mkfifo(fifo)
    code = textwrap.dedent(
        f"""
        from sfjwt_vault import KeyBackendError, KeyRef
        from sfjwt_vault.plugins import PluginHost
        import sfjwt_vault_file
        host = PluginHost(load_entry_points=False)
        host.register(sfjwt_vault_file, "file")
        try:
            host.fetch_key(KeyRef.parse("file:{fifo}"))
        except KeyBackendError as exc:
            print(exc.message)
        """
    )
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("reading a FIFO as the key file blocked")
    assert result.stdout.strip() == f"key path {str(fifo)!r} is not a regular file", result.stderr


def test_a_directory_or_device_is_refused(host: PluginHost, tmp_path: Path) -> None:
    for path in (str(tmp_path), "/dev/zero"):
        with pytest.raises(KeyBackendError, match="is not a regular file"):
            host.fetch_key(KeyRef.parse(f"file:{path}"))


def test_a_key_readable_by_others_warns_once_per_process(
    host: PluginHost, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    os.chmod(key_file, 0o644)
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            with open_signer(f"file:{key_file}", host) as signer:
                signer.sign(b"x")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"key file {str(key_file)!r} has mode 0644: group or others can access it; "
        f"chmod 600 {str(key_file)!r}, so that only its owner can read it"
    ]
    problems = host.key_problems(KeyRef.parse(f"file:{key_file}"))
    assert [p.message for p in problems] == [f"key file {str(key_file)!r} has mode 0644: group or others can access it"]


def test_a_private_key_file_has_no_problems(host: PluginHost, key_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    with caplog.at_level(logging.DEBUG), open_signer(f"file:{key_file}", host) as signer:
        signer.sign(b"x")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert sfjwt_vault_file.key_file_problems(str(key_file)) == []
    assert host.key_problems(KeyRef.parse(f"file:{key_file}")) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_key_owned_by_another_user_warns(host: PluginHost, key_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    os.chown(key_file, 65534, -1)
    with caplog.at_level(logging.WARNING):
        host.fetch_key(KeyRef.parse(f"file:{key_file}")).wipe()
    assert [r.getMessage() for r in caplog.records] == [
        f"key file {str(key_file)!r} is owned by uid 65534, not by this user (uid 0); "
        "chown the key file to the user that runs sfjwt-vault, and chmod 600 it"
    ]
    assert [p.hint for p in sfjwt_vault_file.key_file_problems(str(key_file))] == [
        "chown the key file to the user that runs sfjwt-vault, and chmod 600 it"
    ]


def test_a_misspelt_option_is_refused_not_ignored(host: PluginHost, key_file: Path) -> None:
    """Before: `?pasphrase_env=` was ignored and a token minted without the passphrase option."""
    with pytest.raises(ConfigurationError, match="unknown option\\(s\\): pasphrase_env") as info:
        with open_signer(f"file:{key_file}?pasphrase_env=PW", host):
            pass
    assert "allowed: passphrase_env" in (info.value.hint or "")
    with pytest.raises(ConfigurationError, match="has a #field"):
        host.fetch_key(KeyRef.parse(f"file:{key_file}#private_key"))
    with pytest.raises(ConfigurationError, match="unknown option"):
        host.store_key(KeyRef.parse(f"file:{key_file}.new?mode=0644"), SecretBuffer.from_buffer(b"x"), overwrite=False)
    assert not Path(f"{key_file}.new").exists()


def _fstat_reporting_size(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """fstat as it was a moment before the file was rewritten in place: `size` bytes."""
    real = os.fstat

    def stale(fd: int) -> os.stat_result:
        fields = list(real(fd))
        fields[6] = size  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(sfjwt_vault_file.os, "fstat", stale)


def test_a_key_file_that_grew_after_fstat_is_read_whole(
    host: PluginHost, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read buffer is sized from fstat; a file longer by the time it is read is read again, whole."""
    pem = key_file.read_bytes()
    _fstat_reporting_size(monkeypatch, 100)
    buffer = host.fetch_key(KeyRef.parse(f"file:{key_file}"))
    try:
        assert len(buffer) == len(pem) and buffer.view() == pem
    finally:
        buffer.wipe()


def test_a_key_file_that_grew_past_the_limit_while_read_is_refused(
    host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"-" * (MAX_KEY_BYTES + 10))
    path.chmod(0o600)
    _fstat_reporting_size(monkeypatch, 100)
    with pytest.raises(KeyBackendError, match="grew past"):
        host.fetch_key(KeyRef.parse(f"file:{path}"))
