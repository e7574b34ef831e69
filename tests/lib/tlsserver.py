"""A threaded TLS test server that records what reached it.

Runs inside the test harness process (never preloaded with the shim).  Each
server listens on 127.0.0.1 on an ephemeral port and serves one chain.  Per
connection it records whether the handshake completed, whether the session
was resumed, the TLS version and every application byte received, so tests
can assert that "no application byte reached the server" when the shim
blocks a handshake.

Protocol: the client sends one line.  If the line looks like an HTTP request
line the server reads the headers and answers with a small HTTP/1.1 200
response whose body is "pong\\n" (curl); otherwise it answers "pong\\n" (or
echoes the line when echo=True).  Then it sends close_notify and closes.
"""

import socket
import ssl
import threading
import time

__all__ = ["TLSServer", "Connection"]

_VERSIONS = {
    None: None,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}

_HTTP_METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"OPTIONS ")


class Connection:
    """What one accepted TCP connection did."""

    def __init__(self, peer):
        self.peer = peer
        self.handshake_ok = False
        self.resumed = False
        self.version = None
        self.error = None       # handshake or I/O error text, if any
        self.received = b""     # every application byte received
        self.done = False

    def __repr__(self):
        return ("Connection(peer=%r, handshake_ok=%r, resumed=%r, version=%r, "
                "received=%r, error=%r)" % (self.peer, self.handshake_ok,
                                            self.resumed, self.version,
                                            self.received, self.error))


class TLSServer:
    """A TLS server on 127.0.0.1:<ephemeral> (or another loopback address:
    address="127.0.0.2").

    chain: PEM file with the leaf first, then intermediates (what is sent).
    key: PEM private key of the leaf.
    min_version / max_version: None, "1.2" or "1.3".
    tickets: when true, TLS 1.2 session tickets and TLS 1.3 tickets are
        issued (resumption possible); when false no tickets are issued (a
        TLS 1.2 session-id cache may still allow resumption, OpenSSL's
        server default, which Python does not let us switch off).
    echo: answer a plain line with the line itself instead of "pong\\n".

    Use as a context manager, or call start() / stop().
    """

    def __init__(self, chain, key, min_version=None, max_version=None,
                 tickets=True, echo=False, io_timeout=10.0,
                 address="127.0.0.1"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(chain, key)
        if _VERSIONS[min_version] is not None:
            ctx.minimum_version = _VERSIONS[min_version]
        if _VERSIONS[max_version] is not None:
            ctx.maximum_version = _VERSIONS[max_version]
        if tickets:
            ctx.options &= ~ssl.OP_NO_TICKET
            ctx.num_tickets = 2
        else:
            ctx.options |= ssl.OP_NO_TICKET
            ctx.num_tickets = 0
        self.context = ctx
        self.chain = chain
        self.echo = echo
        self.io_timeout = io_timeout
        self._lock = threading.Lock()
        self._conns = []
        self._active = 0
        self._idle = threading.Condition(self._lock)
        self._threads = set()
        self._stopping = False
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((address, 0))
        self.address = address
        self._sock.listen(256)
        self.port = self._sock.getsockname()[1]
        self._acceptor = None

    # -- life cycle ---------------------------------------------------------

    def start(self):
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          name="tlsserver-%d" % self.port,
                                          daemon=True)
        self._acceptor.start()
        return self

    def stop(self, timeout=10.0):
        """Stops accepting, waits for the connections in progress, closes."""
        self._stopping = True
        try:
            # Wake accept(): shutdown() on a listening socket makes it return.
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        if self._acceptor is not None:
            self._acceptor.join(timeout)
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what tests look at --------------------------------------------------

    def connections(self, settle=True):
        """A snapshot of every connection so far (after waiting for the ones
        in progress to finish when settle is true)."""
        if settle:
            self.settle()
        with self._lock:
            return list(self._conns)

    def settle(self, timeout=10.0, grace=0.05):
        """Waits until no connection is being served.  A client that has
        exited has closed its socket, so its connection finishes promptly;
        grace covers a connection the kernel accepted but accept() has not
        returned yet."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                while self._active and time.monotonic() < deadline:
                    self._idle.wait(max(0.0, deadline - time.monotonic()))
            time.sleep(grace)
            with self._lock:
                if not self._active or time.monotonic() >= deadline:
                    return

    def reset(self):
        """Forgets the connections recorded so far."""
        self.settle()
        with self._lock:
            self._conns = []

    @property
    def app_bytes(self):
        """Total application bytes received over all connections."""
        return sum(len(c.received) for c in self.connections())

    @property
    def handshakes(self):
        """Completed handshakes (full or resumed)."""
        return sum(1 for c in self.connections() if c.handshake_ok)

    @property
    def resumed(self):
        """Completed handshakes that resumed a session."""
        return sum(1 for c in self.connections() if c.resumed)

    # -- serving ----------------------------------------------------------

    def _accept_loop(self):
        while not self._stopping:
            try:
                sock, peer = self._sock.accept()
            except OSError:
                break
            conn = Connection(peer)
            with self._lock:
                self._conns.append(conn)
                self._active += 1
            t = threading.Thread(target=self._serve, args=(sock, conn),
                                 name="tlsserver-conn", daemon=True)
            self._threads.add(t)
            t.start()

    def _serve(self, sock, conn):
        tls = None
        try:
            sock.settimeout(self.io_timeout)
            try:
                tls = self.context.wrap_socket(sock, server_side=True,
                                               do_handshake_on_connect=False)
                tls.do_handshake()
            except (OSError, ssl.SSLError) as e:
                conn.error = "handshake: %s" % e
                return
            conn.handshake_ok = True
            conn.resumed = tls.session_reused
            conn.version = tls.version()
            self._converse(tls, conn)
        finally:
            try:
                (tls or sock).close()
            except OSError:
                pass
            with self._lock:
                conn.done = True
                self._active -= 1
                self._idle.notify_all()
            self._threads.discard(threading.current_thread())

    def _recv(self, tls, conn):
        try:
            data = tls.recv(4096)
        except (OSError, ssl.SSLError) as e:
            conn.error = "recv: %s" % e
            return b""
        conn.received += data
        return data

    def _converse(self, tls, conn):
        buf = b""
        while b"\n" not in buf:
            data = self._recv(tls, conn)
            if not data:
                return
            buf += data
        line = buf.split(b"\n", 1)[0]
        if line.startswith(_HTTP_METHODS) and b"HTTP/1." in line:
            while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
                data = self._recv(tls, conn)
                if not data:
                    return
                buf += data
            body = b"pong\n"
            reply = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(body), body))
        elif self.echo:
            reply = line + b"\n"
        else:
            reply = b"pong\n"
        try:
            tls.sendall(reply)
            # close_notify, so that the client's session stays resumable;
            # waits (bounded by io_timeout) for the client's close_notify or
            # its close.
            tls.unwrap()
        except (OSError, ssl.SSLError, ValueError):
            pass
