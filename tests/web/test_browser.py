"""The web page in a real browser: headless Chromium (Debian's `chromium`)
loads pages served by `pinshim-view serve` over a database a real
pinshim-collector filled (wire frames for the scenarios, and real clients
under the shim against real TLS servers), and the test reads the DOM
Chromium built: host names, failure rates, cause names, table cells, the
chart.  Host names, certificate subjects, network labels and versions made
of markup must come out as text: no element of the DOM comes from them.
Screenshots go to the meson log directory (--shots DIR).

Exit 77 (meson: skipped) only when chromium is missing and cannot be
installed."""

import html.parser
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from weblib import (HOSTILE_HOST, HOSTILE_NETWORK, HOSTILE_SUBJECT,
                    HOSTILE_VERSION, Fleet, Serve, quote_host)

SKIP = 77
SHOTS = None
CHROMIUM = "chromium"


def have_chromium():
    """chromium on PATH, installing the Debian package when it is not."""
    if shutil.which(CHROMIUM):
        return True
    if os.geteuid() != 0:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq",
                    "--no-install-recommends", "chromium"], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=900)
    return shutil.which(CHROMIUM) is not None


# ---------------------------------------------------------------------------
# The DOM Chromium serialised, as a tree

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text()
                       for c in self.children)

    def all(self, tag=None):
        for c in self.children:
            if isinstance(c, Node):
                if tag is None or c.tag == tag:
                    yield c
                yield from c.all(tag)

    def has_class(self, name):
        return name in self.attrs.get("class", "").split()


class Tree(html.parser.HTMLParser):
    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#document", {}, None)
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def rows(table):
    """A table's rows as lists of cell texts (header cells included)."""
    return [[c.text().strip() for c in tr.children
             if isinstance(c, Node) and c.tag in ("td", "th")]
            for tr in table.all("tr")]


# ---------------------------------------------------------------------------


class Browser(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pinshim-web-browser-")
        cls.fleet = Fleet(cls.tmp).start().send_all()
        cls.real = cls.fleet.real_clients()
        cls.fleet.wait_handshakes("pinned.test", cls.real)
        cls.fleet.wait_events("pinned.test", cls.real // 2)   # rotated
        cls.fleet.wait_handshakes("api.test", 336)
        cls.web = Serve(cls.fleet.c.db, cls.tmp).start()
        cls.shots = SHOTS or cls.tmp

    @classmethod
    def tearDownClass(cls):
        rc = cls.web.stop()
        log = cls.web.log()
        cls.fleet.stop()
        shutil.rmtree(cls.tmp, True)
        assert rc == 0, "serve exited %r\n%s" % (rc, log)
        for bad in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
            assert bad not in log, log

    def chromium(self, *args):
        profile = tempfile.mkdtemp(prefix="chromium-", dir=self.tmp)
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-quic", "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--user-data-dir=" + profile] + \
            list(args)
        r = subprocess.run(argv, capture_output=True, timeout=120)
        shutil.rmtree(profile, True)
        return r

    def dom(self, path):
        r = self.chromium("--dump-dom", self.web.url + path)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        text = r.stdout.decode()
        self.assertIn("</html>", text, r.stderr[-2000:])
        return Tree(text).root

    def screenshot(self, path, name):
        out = os.path.join(self.shots, name)
        if os.path.exists(out):
            os.unlink(out)
        r = self.chromium("--screenshot=" + out, "--window-size=1280,900",
                          "--hide-scrollbars", self.web.url + path)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        with open(out, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(len(png), 20000, "a blank page?")   # text, chart
        print("screenshot %s: %s (%d bytes)" % (path, out, len(png)))

    def assertNothingInjected(self, doc, where):
        """No element or attribute of the DOM came from a stored string."""
        for tag in ("script", "img", "iframe", "object", "embed", "b"):
            self.assertEqual(list(doc.all(tag)), [], "%s: <%s>" % (where, tag))
        for n in doc.all():
            for attr in n.attrs:
                self.assertFalse(attr.startswith("on"),
                                 "%s: %s %s" % (where, n.tag, attr))
        svgs = [s for s in doc.all("svg") if not s.has_class("timeline")]
        self.assertEqual(svgs, [], where)

    def host_rows(self, doc):
        tables = [t for t in doc.all("table") if t.has_class("hosts")]
        self.assertEqual(len(tables), 1)
        return {r[0]: r for r in rows(tables[0])[1:]}

    # -- the overview ------------------------------------------------------

    def test_overview(self):
        doc = self.dom("/")
        self.assertNothingInjected(doc, "/")
        summary = self.web.json("/api/summary")
        diagnoses = self.web.json("/api/diagnose")["diagnoses"]
        hosts = self.host_rows(doc)
        self.assertEqual(set(hosts), {h["host"] for h in summary["hosts"]})
        self.assertIn(HOSTILE_HOST, hosts)       # as text, whole
        for h in summary["hosts"]:
            row = hosts[h["host"]]
            self.assertEqual(row[1], "{:,}".format(h["handshakes"]))
            self.assertEqual(row[2], "{:,}".format(h["failures"]))
            rate = "%.1f%%" % (100.0 * h["failures"] / h["handshakes"])
            self.assertEqual(row[3], rate, h["host"])
            top = [d["cause"] for d in diagnoses if d["host"] == h["host"]]
            self.assertEqual(row[5].split(" ")[0], top[0] if top else "–")
        self.assertEqual(hosts["api.test"][3], "10.7%")
        self.assertEqual(hosts["healthy.test"][3], "0.0%")
        self.assertEqual(hosts["pinned.test"][1], "{:,}".format(self.real))
        # the host link is percent-encoded, and leads to its page
        links = [a for a in doc.all("a") if a.text() == HOSTILE_HOST]
        self.assertTrue(links)
        self.assertTrue(links[0].attrs["href"].startswith(
            "/host/" + quote_host(HOSTILE_HOST)))
        # the chart: bars for successes and failures by cause
        svg = [s for s in doc.all("svg") if s.has_class("timeline")]
        self.assertEqual(len(svg), 1)
        titles = " ".join(t.text() for t in svg[0].all("title"))
        self.assertIn("successes", titles)
        for d in diagnoses:
            self.assertIn(d["cause"], titles)
        self.screenshot("/", "web-overview.png")

    # -- a diagnosis -------------------------------------------------------

    def test_diagnosis_page(self):
        doc = self.dom("/diagnose?host=api.test")
        self.assertNothingInjected(doc, "/diagnose")
        cli = self.fleet.view_json("diagnose", "--host", "api.test")
        sections = [s for s in doc.all("section")
                    if s.has_class("diagnosis")]
        self.assertEqual(len(sections), len(cli["diagnoses"]))
        for sec, d in zip(sections, cli["diagnoses"]):
            head = list(sec.all("h3"))[0].text()
            self.assertIn("api.test", head)
            self.assertIn(d["cause"], head)
            self.assertIn("confidence %d%%" % round(100 * d["confidence"]),
                          head)
            split = [s.text() for s in sec.all("span")
                     if s.has_class("split")][0]
            if d["dimension"]:
                self.assertEqual(split, "%s=%s: %s/%s failed; elsewhere "
                                 "%s/%s" % (d["dimension"], d["value"],
                                            "{:,}".format(d["failed"]),
                                            "{:,}".format(d["total"]),
                                            "{:,}".format(d["rest_failed"]),
                                            "{:,}".format(d["rest_total"])))
            fix = [p.text() for p in sec.all("p") if p.has_class("fix")][0]
            self.assertEqual(fix, "Fix: " + d["fix"])
            self.assertEqual([li.text() for ul in sec.all("ul")
                              if ul.has_class("evidence")
                              for li in ul.all("li")], d["evidence"])
            self.check_chains(sec, d["chains"])
        # the interception on hotel-wifi, as the CLI names it
        top = cli["diagnoses"][0]
        self.assertEqual((top["dimension"], top["value"]),
                         ("network", "hotel-wifi"))
        svg = [s for s in doc.all("svg") if s.has_class("timeline")]
        self.assertEqual(len(svg), 1)
        bars = [r for r in svg[0].all("rect") if r.has_class("bar")]
        self.assertGreaterEqual(len(bars), 6 + 3)   # 6 hours up, 3 down
        self.screenshot("/diagnose?host=api.test", "web-diagnose.png")

    def check_chains(self, sec, chains):
        """Each chain's certificate table, with pinned and changed marked
        as the report says."""
        tables = [t for t in sec.all("table") if t.has_class("certs")]
        with_certs = [c for c in chains if c["certs"]]
        self.assertEqual(len(tables), len(with_certs))
        for t, c in zip(tables, with_certs):
            body = rows(t)[1:]
            self.assertEqual([r[1] for r in body],
                             [x["subject"] for x in c["certs"]])
            self.assertEqual([r[3] for r in body],
                             [x["pin"] for x in c["certs"]])
            for r, x in zip(body, c["certs"]):
                self.assertEqual("pinned" in r[5], x["pinned"], r)
                self.assertEqual("changed" in r[5], x["changed"], r)
            trs = [tr for tr in t.all("tr")][1:]
            self.assertEqual([tr.has_class("changed") for tr in trs],
                             [x["changed"] for x in c["certs"]])

    # -- markup in stored strings --------------------------------------------

    def test_hostile_strings_render_as_text(self):
        q = quote_host(HOSTILE_HOST)
        doc = self.dom("/host/" + q)
        self.assertNothingInjected(doc, "/host/")
        self.assertEqual(list(doc.all("h1"))[0].text(), HOSTILE_HOST)
        self.assertIn(HOSTILE_HOST, list(doc.all("title"))[0].text())
        # the network x version table: markup as row and column names
        matrix = [t for t in doc.all("table") if t.has_class("matrix")][0]
        cells = rows(matrix)
        self.assertIn(HOSTILE_VERSION, cells[0])
        self.assertIn(HOSTILE_NETWORK, [r[0] for r in cells[1:]])
        # the served leaf of the recent failures
        recent = [t for t in doc.all("table") if t.has_class("recent")][0]
        self.assertIn(HOSTILE_SUBJECT, [r[6] for r in rows(recent)[1:]])

        doc = self.dom("/diagnose?host=" + q)
        self.assertNothingInjected(doc, "/diagnose?host=")
        subjects = [r[1] for t in doc.all("table") if t.has_class("certs")
                    for r in rows(t)[1:]]
        self.assertIn(HOSTILE_SUBJECT, subjects)
        self.screenshot("/diagnose?host=" + q, "web-hostile.png")

        doc = self.dom("/chain/" + q)
        self.assertNothingInjected(doc, "/chain/")
        subjects = [r[1] for t in doc.all("table") if t.has_class("certs")
                    for r in rows(t)[1:]]
        self.assertIn(HOSTILE_SUBJECT, subjects)

    def test_matrix_and_rollout(self):
        doc = self.dom("/matrix?host=api.test")
        self.assertNothingInjected(doc, "/matrix")
        m = self.web.json("/api/matrix?host=api.test")
        cells = rows([t for t in doc.all("table") if t.has_class("matrix")][0])
        self.assertEqual(cells[0][1:], m["col_names"])
        self.assertEqual([r[0] for r in cells[1:]], m["row_names"])
        for i, row in enumerate(cells[1:]):
            for j, text in enumerate(row[1:]):
                c = m["cells"][i][j]
                if c["total"] == 0:
                    self.assertEqual(text, "–")
                else:
                    self.assertEqual(text, "%.1f%%%s/%s" % (
                        100.0 * c["failed"] / c["total"],
                        "{:,}".format(c["failed"]), "{:,}".format(c["total"])))
        hotel = m["row_names"].index("hotel-wifi")
        self.assertTrue(cells[1 + hotel][1].startswith("100.0%"))

        doc = self.dom("/rollout")
        self.assertNothingInjected(doc, "/rollout")
        ro = self.web.json("/api/rollout")["rollout"]
        secs = [s for s in doc.all("section") if s.has_class("rollout")]
        self.assertEqual([list(s.all("a"))[0].text() for s in secs],
                         [h["host"] for h in ro])
        for s, h in zip(secs, ro):
            verdict = [x for x in s.all("span")
                       if x.has_class("ready") or x.has_class("not-ready")]
            self.assertEqual(verdict[0].text(), h["verdict"])


def main():
    global SHOTS
    args = sys.argv[1:]
    if args[:1] == ["--shots"]:
        SHOTS = args[1]
        os.makedirs(SHOTS, exist_ok=True)
        args = args[2:]
    if not have_chromium():
        print("chromium is not installed and cannot be installed: skipped")
        sys.exit(SKIP)
    unittest.main(argv=[sys.argv[0]] + args, verbosity=2)


if __name__ == "__main__":
    main()
