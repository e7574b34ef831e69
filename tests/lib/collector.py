"""A real pinshim-collector for tests, and its viewer.

    c = Collector(tmpdir, token="secret")   # or token=PATH of a token file
    c.start()                   # --listen 127.0.0.1:0, reads "listening on"
    c.address                   # "127.0.0.1:PORT"
    c.policy_keys()             # {"collector": ..., "token": ...} for a policy
    c.failures(host="api.test") # pinshim-view failures --json → list
    c.stats()                   # pinshim-collector --stats --json → dict
    c.stop()                    # SIGTERM, wait: returns the exit status
    c.kill()                    # SIGKILL (then start() again on the same db)
    c.log()                     # everything it wrote on stderr so far

Environment (tests/meson.build): PINSHIM_COLLECTOR_BIN and PINSHIM_VIEW_BIN;
without them the binaries of build-t/ in the source tree.
"""

import json
import os
import re
import select
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("PINSHIM_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
COLLECTOR_BIN = os.environ.get("PINSHIM_COLLECTOR_BIN") or os.path.join(
    SRCDIR, "build-t", "collector", "pinshim-collector")
VIEW_BIN = os.environ.get("PINSHIM_VIEW_BIN") or os.path.join(
    SRCDIR, "build-t", "viewer", "pinshim-view")
START_TIMEOUT = 60


def _schema_version():
    with open(os.path.join(SRCDIR, "store", "store.h")) as f:
        return int(re.search(r"#define STORE_SCHEMA_VERSION (\d+)", f.read()).group(1))


# The schema version this build writes and reads (store/store.h).
SCHEMA_VERSION = _schema_version()


def first_line(proc, timeout):
    """The first line a started process prints on stdout (its "listening on
    ADDR"), or what it printed before timeout seconds passed."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return buf.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n", 1)[0].decode(errors="replace")


class CollectorError(Exception):
    pass


class Collector:
    def __init__(self, tmpdir, token=None, db=None, args=()):
        """token: the shared secret (str or bytes), or the path of an
        existing token file; None runs without --token-file."""
        self.dir = tmpdir
        self.db = db or os.path.join(tmpdir, "collector.db")
        self.args = list(args)
        self.token_file = None
        if token is not None:
            if isinstance(token, str) and os.path.isfile(token):
                self.token_file = token
            else:
                self.token_file = os.path.join(tmpdir, "collector.token")
                with open(self.token_file, "wb") as f:
                    f.write(token.encode() if isinstance(token, str) else token)
        self.proc = None
        self.address = None
        self.port = None
        self._log_path = os.path.join(tmpdir, "collector.log")
        self._log = None

    def policy_keys(self):
        """The [policy] keys that send a shim's events here (started)."""
        keys = {"collector": self.address}
        if self.token_file:
            keys["token"] = self.token_file
        return keys

    # -- the process --------------------------------------------------------

    def start(self, args=(), timeout=START_TIMEOUT):
        """Starts the collector: on a free port the first time, then on the
        same address again (senders configured with it find it back)."""
        if self.proc is not None and self.proc.poll() is None:
            raise CollectorError("already running")
        listen = self.address or "127.0.0.1:0"
        argv = [COLLECTOR_BIN, "--listen", listen, "--db", self.db]
        if self.token_file:
            argv += ["--token-file", self.token_file]
        argv += self.args + list(args)
        self._log = open(self._log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=self._log, stdin=subprocess.DEVNULL)
        line = first_line(self.proc, timeout)
        if not line.startswith("listening on "):
            self.kill()
            raise CollectorError("collector did not start: %r\n%s"
                                 % (line, self.log()))
        self.address = line.split()[-1]
        self.port = int(self.address.rsplit(":", 1)[1])
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=60):
        """SIGTERM and wait; the exit status (None if it was not running)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise CollectorError("collector ignored SIGTERM for %ds" % timeout)
        self._close()
        return rc

    def kill(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait()
        self._close()
        return rc

    def _close(self):
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        if self._log:
            self._log.close()
            self._log = None
        self.proc = None

    def log(self):
        try:
            with open(self._log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self.start() if not self.running() else self

    def __exit__(self, *exc):
        if self.running():
            self.stop()

    # -- what it stored -----------------------------------------------------

    def view(self, *args, check=True, timeout=120):
        """Runs pinshim-view --db DB ARGS; the CompletedProcess."""
        r = subprocess.run([VIEW_BIN, "--db", self.db] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise CollectorError("pinshim-view %s: exit %d\n%s"
                                 % (" ".join(args), r.returncode, r.stderr))
        return r

    def failures(self, host=None, since=None, **extra):
        """The stored failures (pinshim-view failures --json), as a list."""
        args = ["failures", "--json"]
        if host is not None:
            args += ["--host", host]
        if since is not None:
            args += ["--since", since]
        for k, v in extra.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        r = self.view(*args, check=False)
        # the viewer refuses a database with nothing stored, or a host it
        # has never seen: for a test both mean "no failures stored"
        if r.returncode == 1 and ("is empty: no handshakes" in r.stderr or
                                  "no host '" in r.stderr):
            return []
        if r.returncode != 0:
            raise CollectorError("pinshim-view %s: exit %d\n%s"
                                 % (" ".join(args), r.returncode, r.stderr))
        return json.loads(r.stdout)["failures"]

    def stats(self):
        """pinshim-collector --stats --json --db DB, as a dict."""
        r = subprocess.run([COLLECTOR_BIN, "--stats", "--json", "--db", self.db],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise CollectorError("--stats: exit %d\n%s" % (r.returncode, r.stderr))
        return json.loads(r.stdout)

    def wait_stats(self, key, at_least, timeout=30):
        """Polls stats() until stats[key] >= at_least; the last stats."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats()
            if st.get(key, 0) >= at_least or time.monotonic() > deadline:
                return st
            time.sleep(0.1)
