"""Gunicorn's gthread worker, with each request read whole before a thread serves it.

gthread hands a connection to a thread as soon as its first bytes arrive,
and the thread then blocks reading the rest: eight sockets that stop in
the middle of their headers (or bodies) hold all 2 x 4 threads, and the
dyno stops answering. Heroku's router passes request bodies on as the
client sends them, so it does not shield a dyno from a slow or stalled
client; gunicorn's own documentation asks for a buffering proxy in front
(docs.gunicorn.org, "Deploying Gunicorn"), which a Heroku dyno does not
have. This worker is that buffer, inside gunicorn's event loop:

- The main thread reads each request, head and body, without blocking
  (the body spooled to a temporary file past SPOOL_BYTES), and only a
  complete request goes to a thread.
- A request whose head is not complete HEAD_TIMEOUT seconds after its
  connection opened (or its first byte arrived on a kept-alive one), or
  whose body stalls for BODY_IDLE_TIMEOUT, is closed: a stalled socket
  costs a few KB of memory for at most that long, never a thread.
- A thread's own reads and writes time out after THREAD_IO_TIMEOUT, in
  case the client stalls after all (a pipelined request, a body the
  worker did not buffer, a client that stops reading the response).

Requests it does not buffer (an Expect: 100-continue, a chunked body,
a Content-Length over MAX_BUFFERED_BODY) go to a thread after their head,
as before, with THREAD_IO_TIMEOUT on its reads; the app refuses chunked
and oversized bodies without reading them (411, 413), and gthread drains
what is left within its own 5 s bound.
"""

from __future__ import annotations

import selectors
import tempfile
import time
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

HEAD_TIMEOUT = 10.0
BODY_IDLE_TIMEOUT = 10.0
THREAD_IO_TIMEOUT = 10.0
# A head larger than this is handed on unfinished: gunicorn refuses it (400).
MAX_HEAD_BYTES = 64 * 1024
# Bodies up to this size are buffered (a 50 MB upload and its multipart framing).
MAX_BUFFERED_BODY = 64 * 1024 * 1024
# Bodies are kept in memory up to this size, then in a temporary file.
SPOOL_BYTES = 1024 * 1024
RECV_BYTES = 256 * 1024


class BufferedSocket:
    """A connection's socket whose reads serve the bytes read ahead first."""

    def __init__(self, sock) -> None:
        self._sock = sock
        self._spool = None

    def __getattr__(self, name):
        return getattr(self._sock, name)

    @property
    def raw(self):
        """The socket itself."""
        return self._sock

    def serve(self, spool) -> None:
        """Make recv() return these bytes (a file at its start) before the socket's."""
        self._spool = spool

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self._spool is not None:
            data = self._spool.read(size)
            if data:
                return data
            self._spool.close()
            self._spool = None
        return self._sock.recv(size, flags)

    def setblocking(self, flag: bool) -> None:
        # Threads set their socket blocking: bound each read and write instead.
        if flag:
            self._sock.settimeout(THREAD_IO_TIMEOUT)
        else:
            self._sock.setblocking(False)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._sock.close()


class _Request:
    """What has been read of one request so far: its head, then all of it in `spool`."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.expected: int | None = None  # bytes of the whole request, once its head is read
        self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        self.deadline = time.monotonic() + HEAD_TIMEOUT

    def take(self, data: bytes) -> bool:
        """Add bytes; True once the request is whole (or is to go on unbuffered)."""
        if self.expected is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return len(self.head) > MAX_HEAD_BYTES
            body = _body_length(bytes(self.head[:end]))
            self.spool.write(self.head)
            if body is None:
                return True
            self.expected = end + 4 + body
        else:
            self.spool.write(data)
        self.deadline = time.monotonic() + BODY_IDLE_TIMEOUT
        return self.spool.tell() >= self.expected


class BufferingWorker(ThreadWorker):
    """gthread, except that a thread only ever sees a request that has fully arrived."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict = {}  # conn -> _Request

    def enqueue_req(self, conn) -> None:
        # A kept-alive connection whose parser read ahead already holds the next request.
        read_ahead = conn.parser is not None and conn.parser.unreader.buf.getvalue()
        if self.cfg.is_ssl or read_ahead:
            return super().enqueue_req(conn)
        if not isinstance(conn.sock, BufferedSocket):
            conn.sock = BufferedSocket(conn.sock)
        conn.sock.setblocking(False)
        self.reading[conn] = _Request()
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        return None

    def _on_readable(self, conn, _sock) -> None:
        request = self.reading[conn]
        while True:
            try:
                data = conn.sock.raw.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(conn)
                return
            if not data:
                self._drop(conn)  # the client went away
                return
            if request.take(data):
                self._hand_on(conn, request)
                return

    def _hand_on(self, conn, request: _Request) -> None:
        self.poller.unregister(conn.sock)
        del self.reading[conn]
        if request.expected is None and not request.spool.tell():
            request.spool.write(request.head)  # a head too long: gunicorn refuses it
        request.spool.seek(0)
        conn.sock.serve(request.spool)
        conn.data_ready = True
        super().enqueue_req(conn)

    def _drop(self, conn) -> None:
        request = self.reading.pop(conn, None)
        if request is not None:
            request.spool.close()
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Close connections whose request stalled (and gthread's own idle ones)."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c, r in self.reading.items() if r.deadline <= now]:
            self.log.info("closing a stalled connection from %s", conn.client)
            self._drop(conn)


def _body_length(head: bytes) -> int | None:
    """The Content-Length to buffer, or None to hand the request on after its head."""
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name in (b"transfer-encoding", b"expect"):
            return None
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return None  # gunicorn answers it
    if length is None or length <= 0 or length > MAX_BUFFERED_BODY:
        return None
    return length
