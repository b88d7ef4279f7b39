"""A TCP proxy the test controls, between `serve` and PostgreSQL, that can go silent.

``freeze()`` stops forwarding on the connections open at that moment without closing them:
nothing is read from either side, nothing is sent, no FIN or RST ever arrives, as when a
network path or a NAT entry dies. The kernel still acknowledges what it buffers, so TCP
keepalives and ``tcp_user_timeout`` do not notice: only the client's own bound on waiting for
an answer does. New connections pass through, or (``new_too=True``) are accepted and frozen
as well, as in a partition. ``thaw()`` forwards again everything held back.
"""

from __future__ import annotations

import select
import socket
import threading
from dataclasses import dataclass, field

SLICE_S = 0.05


@dataclass
class _Link:
    client: socket.socket
    upstream: socket.socket
    flowing: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        self.closed.set()
        for sock in (self.client, self.upstream):
            try:
                sock.close()
            except OSError:
                pass


class FreezingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._new_flowing = True
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)

    def start(self) -> FreezingProxy:
        self._acceptor.start()
        return self

    def freeze(self, *, new_too: bool = False) -> None:
        """Go silent on every open connection (and on new ones, with ``new_too``)."""
        with self._lock:
            self._new_flowing = not new_too
            for link in self._links:
                link.flowing.clear()

    def thaw(self) -> None:
        with self._lock:
            self._new_flowing = True
            for link in self._links:
                link.flowing.set()

    def open_links(self) -> int:
        with self._lock:
            return sum(1 for link in self._links if not link.closed.is_set())

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            for link in self._links:
                link.close()
        self._acceptor.join(5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            link = _Link(client, upstream)
            with self._lock:
                if self._new_flowing:
                    link.flowing.set()
                self._links.append(link)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(link, source, sink), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, link: _Link, source: socket.socket, sink: socket.socket) -> None:
        held = b""  # read just before a freeze: forwarded at the thaw
        try:
            while not link.closed.is_set():
                if not link.flowing.wait(SLICE_S):
                    continue
                if held:
                    sink.sendall(held)
                    held = b""
                readable, _, _ = select.select([source], [], [], SLICE_S)
                if not readable:
                    continue
                data = source.recv(65536)
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                if link.flowing.is_set():
                    sink.sendall(data)
                else:
                    held = data
        except OSError:
            link.close()
