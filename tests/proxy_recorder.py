"""A recording HTTP proxy for the proxy tests: `python -m tests.proxy_recorder PORT LOGFILE [host=port ...]`.

Appends every byte a client sends it to LOGFILE (the tunnelled bytes included), so a test can search
what a proxy could have seen. CONNECT host:443 is tunnelled to 127.0.0.1:<port> when `host=port` is
given (the routed names reach a local TLS server); any other request gets a 502.
"""

from __future__ import annotations

import socket
import sys
import threading


def main(port: int, log_path: str, routes: dict[str, int]) -> None:
    lock = threading.Lock()

    def record(data: bytes) -> None:
        with lock, open(log_path, "ab") as log:
            log.write(data)

    def pipe(source: socket.socket, target: socket.socket, recorded: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if recorded:
                    record(chunk)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle(client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                break
            head += chunk
        record(head)
        line = head.split(b"\r\n", 1)[0].split()
        if len(line) >= 2 and line[0] == b"CONNECT":
            host = line[1].decode().rsplit(":", 1)[0]
            if host in routes:
                upstream = socket.create_connection(("127.0.0.1", routes[host]))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                threading.Thread(target=pipe, args=(upstream, client, False), daemon=True).start()
                pipe(client, upstream, True)
                return
        client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        client.close()

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], {k: int(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])})
