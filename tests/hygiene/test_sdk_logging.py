"""`quiet_sdk_logs()`: what it drops, on which thread, and that it switches nothing global.

The windows must be thread-correct: a thread inside a window logs nothing from the SDKs, a thread
outside logs as configured, and windows opening and closing on other threads change neither. The
checks count records; they never time anything. The plugins' own calls are covered end to end by
test_no_secret_on_success.py (with every logger at DEBUG) and the last two tests here.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator

import pytest

from sfjwt_vault import KeyRef
from sfjwt_vault.keys import open_signer
from sfjwt_vault.sdk_logging import SDK_LOGGERS, quiet_sdk_logs, sdk_logs_quiet
from tests.hygiene.conftest import Stores, loggers_at_debug, use_stores

SDK_NAMES = ("botocore.endpoint", "botocore.parsers", "boto3.resources", "urllib3.connectionpool", "requests", "hvac")


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_records:
            self.records.append(record)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    """The root logger and the SDK loggers at DEBUG, every record kept; levels restored after."""
    handler = _Recorder()
    with loggers_at_debug(handler, [*SDK_NAMES, *SDK_LOGGERS, "sfjwt_vault"]):
        yield handler


def test_inside_a_window_sdk_records_below_warning_are_dropped(recorder: _Recorder) -> None:
    with quiet_sdk_logs():
        assert sdk_logs_quiet()
        for name in SDK_NAMES:
            logging.getLogger(name).debug("secret body from %s", name)
            logging.getLogger(name).info("info from %s", name)
            logging.getLogger(name).warning("warning from %s", name)
        logging.getLogger("sfjwt_vault").debug("our own line")
    assert not sdk_logs_quiet()
    assert sorted(recorder.messages()) == sorted([f"warning from {n}" for n in SDK_NAMES] + ["our own line"])


def test_outside_a_window_nothing_is_dropped(recorder: _Recorder) -> None:
    with quiet_sdk_logs():
        pass
    for name in SDK_NAMES:
        logging.getLogger(name).debug("after from %s", name)
    assert recorder.messages() == [f"after from {n}" for n in SDK_NAMES]


def test_windows_nest(recorder: _Recorder) -> None:
    log = logging.getLogger("botocore.endpoint")
    with quiet_sdk_logs():
        with quiet_sdk_logs():
            log.debug("inner")
        log.debug("outer, still inside")
    log.debug("outside")
    assert recorder.messages() == ["outside"]


def test_a_window_is_per_thread(recorder: _Recorder) -> None:
    """While this thread is inside a window, another thread outside one logs normally, and vice versa."""
    log = logging.getLogger("botocore.endpoint")
    inside, logged, release = threading.Event(), threading.Event(), threading.Event()

    def other() -> None:
        with quiet_sdk_logs():
            inside.set()
            log.debug("other thread, inside")
            logged.wait(timeout=30)
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(timeout=30)
    log.debug("main thread, outside, while the other is inside")
    logged.set()
    release.wait(timeout=30)
    thread.join(timeout=30)
    assert recorder.messages() == ["main thread, outside, while the other is inside"]


def test_a_window_closing_on_another_thread_does_not_open_this_one(recorder: _Recorder) -> None:
    """A opens, B opens, A closes, B logs: dropped. What a level toggle gets wrong, by construction."""
    log = logging.getLogger("urllib3.connectionpool")
    a_open, b_open, a_closed, b_logged = (threading.Event() for _ in range(4))

    def thread_a() -> None:
        with quiet_sdk_logs():
            a_open.set()
            b_open.wait(timeout=30)
        a_closed.set()

    def thread_b() -> None:
        a_open.wait(timeout=30)
        with quiet_sdk_logs():
            b_open.set()
            a_closed.wait(timeout=30)
            log.debug("B, inside its window after A closed")
        log.debug("B, after its window")
        b_logged.set()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for thread in threads:
        thread.start()
    b_logged.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=30)
    assert recorder.messages() == ["B, after its window"]


def test_many_threads_count_exactly(recorder: _Recorder) -> None:
    """8 threads each log 200 lines inside windows and 200 outside, interleaved: exactly the outside ones
    are kept, and no level or disable setting moved."""
    loggers = [logging.getLogger(name) for name in SDK_NAMES]
    levels = [logger.level for logger in loggers]
    disabled = logging.root.manager.disable
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        start.wait(timeout=30)
        for i in range(200):
            logger = loggers[(n + i) % len(loggers)]
            with quiet_sdk_logs():
                logger.debug("inside %d %d", n, i)
            logger.debug("outside %d %d", n, i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    messages = recorder.messages()
    assert len(messages) == 8 * 200
    assert all(m.startswith("outside") for m in messages)
    assert [logger.level for logger in loggers] == levels and logging.root.manager.disable == disabled
    assert all(logger.getEffectiveLevel() == logging.DEBUG for logger in loggers)


def test_loggers_made_later_are_covered_from_the_next_window(recorder: _Recorder) -> None:
    """A module imported after the first window gets its logger filtered when the next window opens,
    and so does a logger that was only a placeholder (a parent name) before."""
    with quiet_sdk_logs():
        pass
    tag = uuid.uuid4().hex[:8]
    logging.getLogger(f"botocore.{tag}.child")  # makes botocore.<tag> a placeholder
    fresh = logging.getLogger(f"hvac.{tag}")
    with quiet_sdk_logs():
        fresh.debug("new logger")
        logging.getLogger(f"botocore.{tag}.child").debug("child")
    parent = logging.getLogger(f"botocore.{tag}")  # the placeholder becomes a logger
    with quiet_sdk_logs():
        parent.debug("former placeholder")
    for logger in (fresh, parent):
        logger.setLevel(logging.NOTSET)
    assert recorder.messages() == []


def test_other_loggers_are_never_touched() -> None:
    names = ("sfjwt_vault", "httpx", "myapp", "botocorelike")
    recorder = _Recorder()
    with loggers_at_debug(recorder, names), quiet_sdk_logs():
        for name in names:
            logging.getLogger(name).debug("kept %s", name)
    assert recorder.messages() == [f"kept {name}" for name in names]


# -- the plugins' calls run inside windows ------------------------------------------------------------


def _sdk_records_on_this_thread(records: list[logging.LogRecord]) -> list[str]:
    me = threading.get_ident()
    return [
        f"{r.name}: {r.getMessage()[:80]}"
        for r in records
        if r.thread == me and r.name.partition(".")[0] in SDK_LOGGERS and r.levelno < logging.WARNING
    ]


def test_aws_calls_log_nothing_from_botocore(
    recorder: _Recorder, stores: Stores, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A KMS Sign through the plugin: no botocore/urllib3 record at all while it runs."""
    host = use_stores(stores.env, monkeypatch, request)
    with open_signer(stores.refs["aws-kms"], host) as signer:
        signer.public_key()  # the client is made (botocore logs that, outside any window) ...
        recorder.records.clear()
        signer.sign(b"header.claims")  # ... and the Sign call itself logs nothing from the SDKs
    assert _sdk_records_on_this_thread(recorder.records) == []


def test_vault_calls_log_nothing_from_hvac_requests_urllib3(
    recorder: _Recorder, stores: Stores, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A Transit sign and a KV read through the plugin, client creation included: no hvac/requests/urllib3."""
    host = use_stores(stores.env, monkeypatch, request)
    recorder.records.clear()
    with open_signer(stores.refs["vault-transit"], host) as signer:
        signer.sign(b"header.claims")
    with host.fetch_key(KeyRef.parse(stores.refs["vault"])):
        pass
    assert _sdk_records_on_this_thread(recorder.records) == []
