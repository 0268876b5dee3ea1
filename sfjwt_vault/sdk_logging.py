"""Keep third-party SDK log records out of the logs while a call that carries secret data runs.

botocore logs every request's parameters and every response body at DEBUG: a KMS `Sign` request holds
the JWT signing input and its answer the signature (together, a valid assertion), a `Decrypt` answer
the plaintext, a Secrets Manager write the key. hvac, requests and urllib3 log request lines. An
application (or `sfjwt --debug`) with the root logger at DEBUG would write all of it to its logs.

`quiet_sdk_logs()` opens a window on the calling thread: while it is open, records below WARNING from
any logger under `SDK_LOGGERS` that are made on this thread are dropped. The SDKs log from the thread
that makes the call, so the window covers the call and nothing else. Nothing global is switched: no
logger level, no `logging.disable`. A window on one thread therefore cannot silence or re-enable
another thread's logging, and windows that open and close concurrently cannot leave a logger in the
wrong state. A thread outside a window logs exactly as the application configured it.

The filter is attached to every logger under `SDK_LOGGERS`: the SDKs log to per-module loggers
(`botocore.endpoint`, `urllib3.connectionpool`, ...), and a filter on a parent logger does not see its
children's records. Loggers created after the last look (a module imported later) are found when the
next window opens; a logger created by an import made inside a window is filtered from the next one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SDK_LOGGERS", "quiet_sdk_logs", "sdk_logs_quiet"]

SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "requests", "hvac")

_state = threading.local()
_install_lock = threading.Lock()
# The last scan: how many loggers existed, and the SDK names that were only placeholders (parents of a
# logger, not loggers yet). A new logger, or a placeholder that became a logger, triggers a rescan.
_scanned: tuple[int, tuple[str, ...]] = (-1, ())


class _QuietFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not getattr(_state, "depth", 0)


_FILTER = _QuietFilter()


def sdk_logs_quiet() -> bool:
    """True while the calling thread is inside a `quiet_sdk_logs()` window."""
    return bool(getattr(_state, "depth", 0))


@contextmanager
def quiet_sdk_logs() -> Iterator[None]:
    """Drop the SDKs' records below WARNING made on this thread until the block ends. Nests."""
    _install()
    depth = getattr(_state, "depth", 0)
    _state.depth = depth + 1
    try:
        yield
    finally:
        _state.depth = depth


def _install() -> None:
    """Attach the filter to every SDK logger, when loggers were added since the last scan."""
    global _scanned
    registry = logging.Logger.manager.loggerDict
    size, placeholders = _scanned
    if len(registry) == size and not any(isinstance(registry.get(name), logging.Logger) for name in placeholders):
        return
    with _install_lock:
        for name in SDK_LOGGERS:
            logging.getLogger(name)  # exists from now on, so the scan below sees it
        pending = []
        for name, logger in list(registry.items()):
            if name.partition(".")[0] not in SDK_LOGGERS:
                continue
            if not isinstance(logger, logging.Logger):
                pending.append(name)
            elif _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
        _scanned = (len(registry), tuple(pending))
