"""A trap: a loopback port standing in for a host a private prompt must never reach. It
answers nothing and counts every connection and every byte it receives, so a test can
show that not one byte was sent (not merely that no request was understood)."""

from __future__ import annotations

import socket
import threading


class ByteTrap:
    """A TCP listener on 127.0.0.1 that counts connections and received bytes."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.connections = 0
        self.bytes = 0
        self.received = b""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"byte trap {self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        conn.settimeout(0.5)
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                with self._lock:
                    self.bytes += len(data)
                    self.received += data

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def __repr__(self) -> str:
        return f"<ByteTrap 127.0.0.1:{self.port} connections={self.connections} bytes={self.bytes}>"
