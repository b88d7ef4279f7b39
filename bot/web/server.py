"""Serving the WSGI app with waitress: a production-grade, threaded, pure-Python server.

``BackgroundServer`` runs one in a thread (for ``releasebot demo`` and the tests).
"""

from __future__ import annotations

import threading
from typing import Any

from waitress.server import create_server

# A thread holds its click until the click's group commit (bot.store.units) returns, so there
# should be more threads than clicks arriving at once: otherwise clicks queue for a thread
# instead of joining the batch being committed.
DEFAULT_THREADS = 32


def make_server(app: Any, *, host: str, port: int, threads: int = DEFAULT_THREADS) -> Any:
    """A waitress server bound now (port 0 picks a free port); ``run()`` serves."""
    return create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="releasebot",
        max_request_body_size=1_048_576,
        channel_timeout=30,
        connection_limit=1000,
        backlog=1024,
    )


class BackgroundServer:
    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, threads: int = DEFAULT_THREADS
    ) -> None:
        self._server = make_server(app, host=host, port=port, threads=threads)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)

    def _run(self) -> None:
        try:
            self._server.run()
        except OSError:
            # closing the listening socket from ``stop`` may end waitress's loop this way
            if not self._stopping:
                raise

    @property
    def url(self) -> str:
        host, port = self._server.effective_host, self._server.effective_port
        return f"http://{host}:{port}"

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self._server.close()
        self._thread.join(5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
