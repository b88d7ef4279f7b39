"""A doorbell between the serving process and its worker process: "there is work, look now".

The serving process records decisions and queues their Slack messages in the outbox; the
worker process delivers them. The outbox is the truth and the worker polls it anyway, so
the doorbell only saves the poll interval: one datagram on a Unix socket, sent without
waiting, lost without harm when the worker is not listening.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


class Doorbell:
    """Rings a listener's socket; never blocks and never raises."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def ring(self) -> None:
        with contextlib.suppress(OSError):  # not listening yet, or already rung: no matter
            self._socket.sendto(b"!", str(self.path))

    def close(self) -> None:
        self._socket.close()


class DoorbellListener:
    """Calls ``on_ring`` (coalesced) each time the doorbell at ``path`` rings."""

    def __init__(self, path: Path, on_ring: Callable[[], None]) -> None:
        self.path = path
        self.on_ring = on_ring
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # left by a worker that was killed
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._thread = threading.Thread(target=self._loop, name="doorbell", daemon=True)
        self._closed = False

    def start(self) -> DoorbellListener:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed = True
        if self._thread.is_alive():
            bell = Doorbell(self.path)  # wakes the blocked recv, which then sees _closed
            bell.ring()
            bell.close()
            self._thread.join(5)
        self._socket.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _loop(self) -> None:
        while True:
            try:
                self._socket.recv(64)
                self._socket.setblocking(False)
                with contextlib.suppress(BlockingIOError):  # many rings, one wake-up
                    while True:
                        self._socket.recv(64)
                self._socket.setblocking(True)
            except OSError:
                return
            if self._closed:
                return
            try:
                self.on_ring()
            except Exception:  # the doorbell must keep listening
                log.exception("doorbell handler failed")
