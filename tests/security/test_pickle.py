"""Every public exception crosses a process boundary intact (issue 13 item 11): through pickle and
through a real ProcessPoolExecutor, hint, check, error, description and status code included."""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from types import ModuleType
from typing import Any

import pytest
import sfjwt_vault_aws.errors
import sfjwt_vault_hashicorp.errors

from sfjwt_vault import errors
from sfjwt_vault.errors import Check, SalesforceAuthError, SfjwtError

MODULES: list[ModuleType] = [errors, sfjwt_vault_aws.errors, sfjwt_vault_hashicorp.errors]


def error_classes() -> list[type[SfjwtError]]:
    found = {
        cls
        for module in MODULES
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, SfjwtError) and cls.__module__ == module.__name__
    }
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def make(cls: type[SfjwtError]) -> SfjwtError:
    """One instance with every attribute set to something a round trip could lose."""
    if issubclass(cls, SalesforceAuthError):
        error: SfjwtError = cls(
            "invalid_grant",
            "invalid assertion",
            check=Check.CERTIFICATE,
            hint="the hint",
            retryable=True,
            status_code=418,
        )
        error.server_time = 1_700_000_000.5  # type: ignore[attr-defined]
        return error
    return cls(f"{cls.__name__} message", hint="the hint")


def state(error: BaseException) -> dict[str, Any]:
    return {
        "type": type(error),
        "str": str(error),
        "args": error.args,
        "dict": dict(vars(error)),
        "exit_code": getattr(error, "exit_code", None),
        "retryable": getattr(error, "retryable", None),
    }


def raise_(error: SfjwtError) -> None:
    raise error


CLASSES = error_classes()


def test_every_error_class_is_covered() -> None:
    names = {c.__name__ for c in CLASSES}
    assert {"SfjwtError", "SalesforceAuthError", "InvalidAssertionError", "UntrustedResponseError"} <= names
    assert {"AwsNotFoundError", "AwsThrottledError", "VaultSealedError", "VaultPermissionDeniedError"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_pickle_round_trip(cls: type[SfjwtError]) -> None:
    error = make(cls)
    copy = pickle.loads(pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301 - our own bytes
    assert state(copy) == state(error)
    assert copy.hint == "the hint"
    if isinstance(error, SalesforceAuthError):
        assert (copy.error, copy.description, copy.check, copy.status_code) == (  # type: ignore[attr-defined]
            "invalid_grant",
            "invalid assertion",
            Check.CERTIFICATE,
            418,
        )


def test_errors_come_back_from_a_process_pool() -> None:
    sent = [make(cls) for cls in CLASSES]
    # spawn: the child imports the error classes afresh (as on macOS and Windows), and no fork of this
    # multi-threaded test process
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(raise_, error) for error in sent]
        received = [future.exception() for future in futures]
    for error, back in zip(sent, received, strict=True):
        assert back is not None and state(back) == state(error), type(error).__name__
