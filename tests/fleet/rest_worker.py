"""One instance of a REST-calling fleet: N threads call the REST API through `httpx.Client(auth=creds)`.

    python -m tests.fleet.rest_worker '<json settings>'

Settings: cache, token_url, audience, consumer_key, username, key, threads, start_at (epoch seconds),
stop_at (epoch seconds), max_calls (per thread), pause (seconds between a thread's calls). Prints one
JSON line: {"statuses": {"200": n, "401": n, ...}, "errors": [...], "calls": n}. No token is printed.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
from typing import Any

import httpx

from tests.fleet.worker import instance_credentials

PATH = "/services/data/v65.0/limits"


def main(settings: dict[str, Any]) -> dict[str, Any]:
    creds = instance_credentials(settings)
    statuses: collections.Counter[str] = collections.Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        with httpx.Client(base_url=str(settings["base_url"]), auth=creds) as client:
            for _ in range(int(settings["max_calls"])):
                if time.time() >= float(settings["stop_at"]):
                    return
                try:
                    status = client.get(PATH).status_code
                    with lock:
                        statuses[str(status)] += 1
                except Exception as exc:  # noqa: BLE001 - reported to the parent
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}"[:300])
                time.sleep(float(settings["pause"]))

    time.sleep(max(0.0, float(settings["start_at"]) - time.time()))
    threads = [threading.Thread(target=work) for _ in range(int(settings["threads"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"statuses": dict(statuses), "errors": errors, "calls": sum(statuses.values())}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
