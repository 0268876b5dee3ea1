"""The loopback Runtime API against AWS's runtime client, with a probe handler: the invocation headers
reach the handler's context, results and errors come back to the right request id, and an init
failure is posted once. This is what the Lambda example's tests rely on."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.lambda_function import sandbox

PROBE = """
import os, time

def handler(event, context):
    if event.get("fail"):
        raise ValueError("probe failure")
    return {
        "request_id": context.aws_request_id,
        "arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "event": event,
    }
"""


def probe_root(tmp_path: Path, source: str = PROBE) -> Path:
    root = tmp_path / "task"
    root.mkdir()
    (root / "handler.py").write_text(source)
    return root


def test_invocations_carry_the_runtime_api_headers(runtime_dir: Path, tmp_path: Path) -> None:
    with sandbox(probe_root(tmp_path), runtime_dir, tmp_path / "sb", {}, timeout_s=15.0) as box:
        box.api.wait_ready(process=box.process)
        first = box.api.invoke({"n": 1})
        failed = box.api.invoke({"fail": True})
        second = box.api.invoke({"n": 2})

    assert first.outcome == "response" and second.outcome == "response"
    result = first.payload
    assert result["request_id"] == first.request_id and result["event"] == {"n": 1}
    assert result["arn"] == box.api.function_arn
    assert 0 < result["remaining_ms"] <= 15_000  # from Lambda-Runtime-Deadline-Ms
    assert result["trace"] == first.trace_id  # Lambda-Runtime-Trace-Id becomes _X_AMZN_TRACE_ID
    assert second.payload["request_id"] == second.request_id != first.request_id
    assert failed.outcome == "error"
    assert failed.payload["errorType"] == "ValueError" and failed.payload["errorMessage"] == "probe failure"
    assert failed.payload["requestId"] == failed.request_id
    posts = [path for method, path in box.api.requests if method == "POST"]
    assert posts == [
        f"/2018-06-01/runtime/invocation/{first.request_id}/response",
        f"/2018-06-01/runtime/invocation/{failed.request_id}/error",
        f"/2018-06-01/runtime/invocation/{second.request_id}/response",
    ]


def test_an_import_error_is_posted_as_an_init_error(runtime_dir: Path, tmp_path: Path) -> None:
    root = probe_root(tmp_path, "raise RuntimeError('broken at import')\n")
    with sandbox(root, runtime_dir, tmp_path / "sb", {}) as box:
        error = box.api.wait_init_error()
        assert box.wait_exit() != 0
    assert error.error_type == error.payload["errorType"] == "RuntimeError"
    assert error.payload["errorMessage"] == "broken at import"
    assert box.api.init_done_at is None
    assert [m for m, _ in box.api.requests] == ["POST"]
