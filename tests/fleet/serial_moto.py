"""A moto server that handles one request at a time, for the fleet tests and the fleet benchmark.

moto_server is threaded, and moto's DynamoDB does not make a conditional write atomic against a
concurrent one: with 8 threads racing for one lease, two sometimes win (seen in 2 of 10 rounds). Real
DynamoDB serializes conditional writes per item, which the lease relies on. Serving one request at a
time gives moto that property. Werkzeug speaks HTTP/1.0 when not threaded, so a kept-alive client
cannot hold the server. Same app and request handler as `moto_server`, only `threaded=False`.

    python -m tests.fleet.serial_moto PORT
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.servers import start_moto


def start_serial_moto(tmp: Path) -> tuple[str, subprocess.Popen[bytes]]:
    return start_moto(tmp, command=[sys.executable, "-m", "tests.fleet.serial_moto"])


def main(port: int) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("-p") + 1]))  # called as `-H 127.0.0.1 -p PORT`, like moto_server
