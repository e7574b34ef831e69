"""pinshim-view serve over plain HTTP (urllib): status codes, content
types, the Content-Security-Policy, 404 and 400 answers, the JSON endpoints
against the CLI's --json, escaping of hostile stored strings, reading while
the collector writes, and a clean stop on SIGTERM / SIGINT."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

from weblib import (CSP, HOSTILE_HOST, HOSTILE_NETWORK, HOSTILE_SUBJECT,
                    HOSTILE_VERSION, Fleet, Serve, VIEW_BIN, quote_host,
                    wire)

HTML = "text/html; charset=utf-8"
JSON = "application/json"


class WebCase(unittest.TestCase):
    """One collector filled with the scenarios, one server, per class."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pinshim-web-")
        cls.fleet = Fleet(cls.tmp).start().send_all()
        cls.fleet.wait_handshakes("api.test", 6 * 50 + 3 * 12)
        cls.web = Serve(cls.fleet.c.db, cls.tmp).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.web.stop()
        log = cls.web.log()
        cls.fleet.stop()
        shutil.rmtree(cls.tmp, True)
        assert rc == 0, "serve exited %r\n%s" % (rc, log)
        for bad in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
            assert bad not in log, log

    def get(self, path, method="GET"):
        return self.web.get(path, method=method)

    def assertPage(self, path, status=200, ctype=HTML):
        st, h, body = self.get(path)
        self.assertEqual(st, status, "%s: %r" % (path, body[:600]))
        self.assertEqual(h.get("content-type"), ctype, path)
        self.assertTrue(h.get("content-security-policy", "").startswith(CSP),
                        h)
        self.assertEqual(h.get("x-content-type-options"), "nosniff")
        return body.decode()


class Pages(WebCase):

    def test_every_page_is_html_with_the_policy(self):
        for path in ("/", "/diagnose", "/matrix", "/rollout",
                     "/host/api.test", "/chain/api.test",
                     "/diagnose?host=api.test", "/?since=2h&network=office",
                     "/matrix?host=api.test&since=1d&until=0s"):
            body = self.assertPage(path)
            self.assertTrue(body.startswith("<!DOCTYPE html>"), path)
            self.assertIn('<link rel="stylesheet" href="/style.css">', body)
            self.assertNotIn("<script", body, path)
            self.assertNotIn("style=", body, path)   # CSP: no inline style
            self.assertNotIn("http://", body.replace(
                "http://www.w3.org/2000/svg", ""), path)   # nothing remote

    def test_style_sheet_is_served_locally(self):
        body = self.assertPage("/style.css", ctype="text/css; charset=utf-8")
        with open(os.path.join(os.environ.get("PINSHIM_SRCDIR", "."),
                               "viewer", "web", "style.css")) as f:
            self.assertEqual(body, f.read())

    def test_overview_lists_hosts_with_rates(self):
        body = self.assertPage("/")
        for host in ("api.test", "healthy.test"):
            self.assertIn('href="/host/%s"' % host, body)
        # api.test: 36 of 336 handshakes failed
        self.assertIn("10.7%", body)
        self.assertIn("<svg", body)

    def test_overview_filters(self):
        only = self.assertPage("/?host=healthy.test")
        self.assertIn('href="/host/healthy.test', only)
        self.assertNotIn('href="/host/api.test', only)
        office = self.assertPage("/?network=office")
        self.assertNotIn("10.7%", office)   # hotel-wifi's failures gone
        future = self.assertPage("/?since=2099-01-01T00:00:00Z")
        self.assertNotIn('href="/host/api.test', future)

    def test_host_page(self):
        body = self.assertPage("/host/api.test")
        self.assertIn("<h1>api.test</h1>", body)
        self.assertIn("hotel-wifi", body)
        self.assertIn('href="/chain/api.test"', body)

    def test_diagnosis_page_shows_what_the_cli_diagnoses(self):
        cli = self.fleet.view_json("diagnose", "--host", "api.test")
        self.assertTrue(cli["diagnoses"])
        body = self.assertPage("/diagnose?host=api.test")
        for d in cli["diagnoses"]:
            self.assertIn('<span class="cause">%s</span>' % d["cause"], body)
            split = "%s=%s: " % (d["dimension"], d["value"])
            if d["dimension"]:
                self.assertIn(split, body)
        self.assertIn('class="bar"', body)          # the chart has bars

    def test_unknown_paths_and_hosts_are_404(self):
        for path in ("/nope", "/host/", "/host/nowhere.test",
                     "/chain/nowhere.test", "/host/api.test/extra",
                     "/style.css/x", "/favicon.ico",
                     "/?host=nowhere.test", "/diagnose?host=nowhere.test"):
            self.assertPage(path, status=404)
        for path in ("/api/nope", "/api/chain/nowhere.test",
                     "/api/summary?host=nowhere.test", "/api"):
            body = self.assertPage(path, status=404, ctype=JSON)
            self.assertEqual(json.loads(body)["error"]["status"], 404)

    def test_malformed_parameters_are_400(self):
        long = "x" * 300
        for q in ("since=yesterday", "until=15x", "since=2026-13-01T00:00:00Z",
                  "bogus=1", "host=a&host=b", "kind=nope", "limit=0",
                  "limit=99999", "offset=-1", "host=" + long,
                  "since=1h&until=2h", "&".join("k%d=1" % i for i in range(20))):
            body = self.assertPage("/?" + q, status=400)
            self.assertIn("query parameter", body, q)
            js = self.assertPage("/api/summary?" + q, status=400, ctype=JSON)
            self.assertEqual(json.loads(js)["error"]["status"], 400)

    def test_error_page_escapes_what_it_echoes(self):
        body = self.assertPage("/?%3Cscript%3E=1", status=400)
        self.assertNotIn("<script>", body)
        self.assertIn("&lt;script&gt;", body)

    def test_only_get_and_head(self):
        st, h, body = self.get("/", method="POST")
        self.assertEqual(st, 405)
        self.assertEqual(h.get("allow"), "GET, HEAD")
        st, h, body = self.get("/", method="HEAD")
        self.assertEqual((st, body), (200, b""))
        self.assertEqual(h.get("content-type"), HTML)

    def test_a_huge_url_is_refused(self):
        try:
            st = self.get("/?host=" + "a" * 40000)[0]
        except (ConnectionError, OSError):
            st = None                           # closed on us: refused too
        self.assertIn(st, (None, 400, 414, 431))
        self.assertPage("/")                    # still serving


class Escaping(WebCase):

    def test_hostile_host_renders_as_text_everywhere(self):
        q = quote_host(HOSTILE_HOST)
        for path in ("/", "/host/" + q, "/diagnose", "/diagnose?host=" + q,
                     "/matrix?host=" + q, "/rollout", "/chain/" + q):
            body = self.assertPage(path)
            # (the text "onerror=alert(2)" is there, escaped, as text)
            for markup in ("<script", "<img", "<svg onload", "<b>"):
                self.assertNotIn(markup, body, path)
        body = self.assertPage("/")
        self.assertIn("evil&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;"
                      "&amp;amp;&lt;img src=x onerror=alert(2)&gt;.test", body)
        self.assertIn('href="/host/%s"' % q, body)   # percent-encoded link

    def test_hostile_subject_network_and_version(self):
        q = quote_host(HOSTILE_HOST)
        diag = self.assertPage("/diagnose?host=" + q)
        self.assertIn("CN=&lt;script&gt;alert(3)&lt;/script&gt;&quot;&#39;"
                      "&amp;&lt;img src=y onerror=alert(4)&gt;", diag)
        matrix = self.assertPage("/matrix?host=" + q)
        self.assertIn("&lt;b&gt;net&lt;/b&gt;&amp;&lt;script&gt;alert(5)"
                      "&lt;/script&gt;", matrix)
        self.assertIn("&quot;&gt;&lt;svg onload=alert(6)&gt;", matrix)
        chain = self.assertPage("/chain/" + q)
        self.assertIn("CN=&lt;script&gt;", chain)

    def test_hostile_filter_values_are_escaped_in_the_form_and_links(self):
        net = quote_host(HOSTILE_NETWORK)
        body = self.assertPage("/?network=" + net)
        self.assertNotIn("<script", body)
        self.assertIn('value="&lt;b&gt;net&lt;/b&gt;&amp;&lt;script&gt;', body)
        self.assertIn("network=" + net, body)       # nav links keep it

    def test_json_carries_the_hostile_strings_verbatim(self):
        q = quote_host(HOSTILE_HOST)
        js = self.web.json("/api/summary")
        self.assertIn(HOSTILE_HOST, [h["host"] for h in js["hosts"]])
        chain = self.web.json("/api/chain/" + q)
        subjects = [c["subject"] for ch in chain["chains"]
                    for c in ch["certs"]]
        self.assertIn(HOSTILE_SUBJECT, subjects)


class Api(WebCase):

    def cli(self, *args):
        return self.fleet.view_json(*args)

    def test_endpoints_mirror_the_cli(self):
        pairs = [("/api/summary", ["summary"]),
                 ("/api/diagnose", ["diagnose"]),
                 ("/api/rollout", ["rollout"]),
                 ("/api/chain/api.test", ["chain", "api.test"]),
                 ("/api/diagnose?host=api.test&since=1d",
                  ["diagnose", "--host", "api.test", "--since", "1d"]),
                 ("/api/summary?network=office", ["summary", "--network",
                                                  "office"])]
        for path, args in pairs:
            self.assertPage(path, ctype=JSON)
            self.assertEqual(self.web.json(path), self.cli(*args), path)

    def test_failures_are_paged(self):
        every = self.web.json("/api/failures")["failures"]
        self.assertEqual(len(every), len(self.fleet.c.failures()))
        two = self.web.json("/api/failures?limit=2&offset=1")["failures"]
        self.assertEqual([f["id"] for f in two], [f["id"] for f in every[1:3]])
        api = self.web.json("/api/failures?host=api.test")["failures"]
        self.assertEqual({f["host"] for f in api}, {"api.test"})
        self.assertEqual(sum(f["count"] for f in api), 36)

    def test_timeline_and_matrix(self):
        tl = self.web.json("/api/timeline?host=api.test")
        self.assertEqual(tl["host"], "api.test")
        self.assertEqual(sum(h["successes"] for h in tl["hours"]), 300)
        self.assertEqual(sum(h["failures"] for h in tl["hours"]), 36)
        m = self.web.json("/api/matrix?host=api.test")
        cells = {(r, c): m["cells"][i][j]
                 for i, r in enumerate(m["row_names"])
                 for j, c in enumerate(m["col_names"])}
        self.assertEqual(cells[("hotel-wifi", "8.1.2")],
                         {"failed": 36, "total": 36})
        self.assertEqual(cells[("office", "8.1.2")],
                         {"failed": 0, "total": 300})


class WhileWriting(WebCase):

    def test_pages_follow_a_collector_that_keeps_writing(self):
        stop = threading.Event()
        sent = []

        def writer():
            while not stop.is_set():
                c = wire.make_counter(host="busy.test", successes=7,
                                      failures=0)
                self.fleet.send(counters=[c])
                sent.append(7)
        t = threading.Thread(target=writer)
        t.start()
        try:
            deadline = time.monotonic() + 3
            n = 0
            while time.monotonic() < deadline:
                self.assertPage("/")
                self.assertPage("/api/summary", ctype=JSON)
                n += 1
            self.assertGreater(n, 3)
        finally:
            stop.set()
            t.join()
        self.fleet.wait_handshakes("busy.test", 7 * len(sent))
        js = self.web.json("/api/summary?host=busy.test")
        self.assertEqual(js["hosts"][0]["handshakes"], 7 * len(sent))

    def test_timings(self):
        """Prints how long each page takes on this small database."""
        for path in ("/", "/host/api.test", "/diagnose", "/matrix",
                     "/rollout", "/chain/api.test", "/api/diagnose"):
            times = []
            for _ in range(5):
                t = time.monotonic()
                st, _, _ = self.get(path)
                times.append(time.monotonic() - t)
                self.assertEqual(st, 200)
            print("timing %-18s median %6.1f ms" % (
                path, 1000 * sorted(times)[2]))


class BadDatabases(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pinshim-web-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def serve(self, db, listen="127.0.0.1:0"):
        return subprocess.run([VIEW_BIN, "--db", db, "serve", "--listen",
                               listen], capture_output=True, text=True,
                              timeout=60)

    def test_missing_database_exits_1(self):
        r = self.serve(os.path.join(self.tmp, "none.db"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("none.db", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_other_schema_version_exits_1(self):
        db = os.path.join(self.tmp, "old.db")
        fleet = Fleet(self.tmp).start()
        fleet.stop()
        con = sqlite3.connect(fleet.c.db)
        con.execute("PRAGMA user_version = 99")
        con.close()
        r = self.serve(fleet.c.db)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"schema version 99, this build reads \d+")

    def test_not_a_database_exits_1(self):
        db = os.path.join(self.tmp, "text.db")
        with open(db, "w") as f:
            f.write("hello\n" * 100)
        r = self.serve(db)
        self.assertEqual(r.returncode, 1)
        self.assertIn("text.db", r.stderr)

    def test_bad_listen_address(self):
        fleet = Fleet(self.tmp).start()
        fleet.stop()
        for bad in ("nowhere", "127.0.0.1:", "[::1:80", "256.1.1.1:80"):
            r = self.serve(fleet.c.db, listen=bad)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn("--listen", r.stderr)

    def test_empty_database(self):
        fleet = Fleet(self.tmp).start()
        fleet.stop()
        web = Serve(fleet.c.db, self.tmp).start()
        try:
            st, _, body = web.get("/")
            self.assertEqual(st, 200)
            self.assertIn(b"empty", body)
            for path in ("/diagnose", "/matrix", "/rollout"):
                self.assertEqual(web.get(path)[0], 200, path)
            self.assertEqual(web.get("/host/api.test")[0], 404)
            self.assertEqual(web.json("/api/summary")["hosts"], [])
            self.assertEqual(web.json("/api/diagnose"), {"diagnoses": []})
            self.assertEqual(web.get("/api/chain/api.test")[0], 404)
        finally:
            self.assertEqual(web.stop(), 0)

    def test_sigint_stops_cleanly(self):
        fleet = Fleet(self.tmp).start()
        fleet.stop()
        web = Serve(fleet.c.db, self.tmp).start()
        self.assertEqual(web.get("/")[0], 200)
        self.assertEqual(web.stop(signal.SIGINT), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
