/* The simulated fleet (fleet.h): building it from the seed, deciding one
 * handshake, and writing the ground truth.
 *
 * Shape of the world: apps (each with its executable, TLS library and
 * versions, newer ones more common) own hosts, chosen by Zipf popularity;
 * clients are processes of one app version on one network and operating
 * system, daemons (the whole window, many handshakes) or short commands.
 * Causes are injected at a few hosts each, picked among hosts with enough
 * traffic (not the few giants): the outcome of every handshake follows
 * from the chain served (by time, peer, intercepting network), the
 * client's root store (its version's bundle, its network's proxy CA), its
 * clock and its version's pins, so the data shows exactly the contrast a
 * real fleet would. */
#include "fleet.h"

#include <json-c/json.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY 86400
#define WINDOW_MARGIN 3600   /* a 1-day window stays inside the collector's
                                one-day clock tolerance while it is sent */
#define SKEW_MIN_DAYS 90

/* ---- random streams (rng.c) ---------------------------------------------- */

static double rng_range(uint64_t *s, double lo, double hi)
{
	return lo + (hi - lo) * rng_unit(s);
}

enum purpose {
	P_CA = 1, P_HOST, P_NET, P_VERSION, P_CLIENT, P_CAUSE, P_KEY,
};

/* Index of the first cumulative weight above u * total. */
static int pick(const double *cum, int n, double u)
{
	double x = u * cum[n - 1];
	int lo = 0, hi = n - 1;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (cum[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static double *cumulate(const double *w, int n)
{
	double *cum = malloc((size_t)(n > 0 ? n : 1) * sizeof(*cum));
	double sum = 0;

	for (int i = 0; cum != NULL && i < n; i++)
		cum[i] = sum += w[i];
	return cum;
}

const char *cause_name(enum cause c)
{
	static const char *const names[CAUSE_COUNT] = {
		"healthy", "rollover", "intermediate_change", "interception",
		"backend_inconsistency", "client_specific", "clock_skew",
		"expired", "trust_store",
	};

	return c < CAUSE_COUNT ? names[c] : "?";
}

/* ---- certificates -------------------------------------------------------- */

static struct fleet_cert *add_cert(struct fleet *f, const char *subject,
				   const char *dns,
				   const struct fleet_cert *issuer,
				   int64_t nb, int64_t na, uint64_t key_seed,
				   uint64_t *rng, char *err, size_t errlen)
{
	struct fleet_cert *c;

	if (f->ncerts == f->certs_cap) {
		size_t cap = f->certs_cap ? 2 * f->certs_cap : 256;
		struct fleet_cert **n = realloc(f->certs, cap * sizeof(*n));

		if (n == NULL) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		f->certs = n;
		f->certs_cap = cap;
	}
	c = fleet_cert_new(subject, dns, issuer, nb, na, key_seed, rng, err,
			   errlen);
	if (c == NULL)
		return NULL;
	c->root = issuer == NULL ? -1 : issuer->root >= 0 ? issuer->root
			   : -1;
	f->certs[f->ncerts++] = c;
	return c;
}

static struct fleet_cert *add_root(struct fleet *f, const char *subject,
				   uint64_t *rng, char *err, size_t errlen)
{
	struct fleet_cert *c;

	if (f->nroots >= MAX_ROOTS) {
		snprintf(err, errlen, "more than %d roots", MAX_ROOTS);
		return NULL;
	}
	c = add_cert(f, subject, NULL, NULL, f->o.now - 8LL * 365 * DAY,
		     f->o.now + 12LL * 365 * DAY, rng_next(rng), rng, err,
		     errlen);
	if (c != NULL)
		c->root = f->nroots++;
	return c;
}

static const struct fleet_chain *add_chain(struct fleet *f,
					   const struct fleet_cert *leaf)
{
	struct fleet_chain *ch;

	if (leaf == NULL)
		return NULL;
	if (f->nchains == f->chains_cap) {
		size_t cap = f->chains_cap ? 2 * f->chains_cap : 256;
		struct fleet_chain **n = realloc(f->chains, cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		f->chains = n;
		f->chains_cap = cap;
	}
	ch = fleet_chain_new((int)f->nchains, leaf);
	if (ch != NULL)
		f->chains[f->nchains++] = ch;
	return ch;
}

/* The public CAs: a root and two issuing intermediates each. */
static const struct {
	const char *root, *ica[2];
} public_cas[] = {
	{ "C=US,O=Corvid Trust Services,CN=Corvid Root CA R1",
	  { "C=US,O=Corvid Trust Services,CN=Corvid TLS Issuing CA 1A",
	    "C=US,O=Corvid Trust Services,CN=Corvid TLS Issuing CA 1B" } },
	{ "C=DE,O=Halden PKI GmbH,CN=Halden Global Root G2",
	  { "C=DE,O=Halden PKI GmbH,CN=Halden TLS RSA CA G2",
	    "C=DE,O=Halden PKI GmbH,CN=Halden TLS ECC CA G2" } },
	{ "C=GB,O=Northgate Certification Ltd,CN=Northgate Root Authority 2019",
	  { "C=GB,O=Northgate Certification Ltd,CN=Northgate DV Server CA",
	    "C=GB,O=Northgate Certification Ltd,CN=Northgate OV Server CA" } },
	{ "C=NL,O=Ostara Secure B.V.,CN=Ostara Root CA 2017",
	  { "C=NL,O=Ostara Secure B.V.,CN=Ostara Server CA 3",
	    "C=NL,O=Ostara Secure B.V.,CN=Ostara Server CA 4" } },
	{ "C=US,O=Quillon Trust,CN=Quillon Universal Root",
	  { "C=US,O=Quillon Trust,CN=Quillon Secure Site CA",
	    "C=US,O=Quillon Trust,CN=Quillon Cloud Services CA" } },
};
#define NPUBLIC (sizeof(public_cas) / sizeof(public_cas[0]))

/* Re-signing middleboxes: a network's proxy forges a leaf for every host
 * it intercepts under its own root. */
static const struct {
	const char *root, *label;
	bool trusted;
} proxies[] = {
	{ "C=US,O=Acme Corp IT Security,CN=Acme Corp SSL Inspection CA",
	  "corp-proxy-frankfurt", true },
	{ "C=PT,O=Hotel Lisboa Guest Network,CN=Guest WiFi Secure Gateway",
	  "wifi-hotel-lisboa-guest", false },
	{ "C=US,O=NetSentinel Inc,CN=NetSentinel DPI Root",
	  "dc-inspect-us-east", true },
};
#define NPROXIES (sizeof(proxies) / sizeof(proxies[0]))

static struct fleet_cert *icas[NPUBLIC][2], *new_ica;

static int build_cas(struct fleet *f, uint64_t *rng, char *err, size_t errlen)
{
	struct fleet_cert *r;

	for (size_t i = 0; i < NPUBLIC; i++) {
		if ((r = add_root(f, public_cas[i].root, rng, err, errlen)) == NULL)
			return -1;
		f->public_roots |= 1ULL << r->root;
		for (int k = 0; k < 2; k++) {
			icas[i][k] = add_cert(f, public_cas[i].ica[k], NULL, r,
					      f->o.now - 700LL * DAY,
					      f->o.now + 1100LL * DAY,
					      rng_next(rng), rng, err, errlen);
			if (icas[i][k] == NULL)
				return -1;
		}
	}
	/* A root so new that older CA bundles lack it (trust_store). */
	r = add_root(f, "C=DE,O=Halden PKI GmbH,CN=Halden Global Root G4 2025",
		     rng, err, errlen);
	if (r == NULL)
		return -1;
	f->new_root = r->root;
	new_ica = add_cert(f, "C=DE,O=Halden PKI GmbH,CN=Halden TLS ICA G4", NULL,
			   r, f->o.now - 200LL * DAY, f->o.now + 1500LL * DAY,
			   rng_next(rng), rng, err, errlen);
	if (new_ica == NULL)
		return -1;
	for (size_t i = 0; i < NPROXIES; i++) {
		if ((r = add_root(f, proxies[i].root, rng, err, errlen)) == NULL)
			return -1;
		f->proxy_root[i] = r->root;
	}
	f->nproxies = (int)NPROXIES;
	return 0;
}

/* A leaf for host h under ica, valid from nb for days, with the key of
 * key_seed. */
static const struct fleet_chain *leaf_chain(struct fleet *f,
					    const struct fleet_host *h,
					    const struct fleet_cert *ica,
					    int64_t nb, int days,
					    uint64_t key_seed, uint64_t *rng,
					    char *err, size_t errlen)
{
	char subject[200];
	const char *dot = strchr(h->name, '.');
	const struct fleet_chain *ch;

	snprintf(subject, sizeof(subject), "C=US,O=%.*s Inc.,CN=%s",
		 dot != NULL ? (int)strcspn(dot + 1, ".") : 0,
		 dot != NULL ? dot + 1 : "", h->name);
	ch = add_chain(f, add_cert(f, subject, h->name, ica, nb,
				   nb + (int64_t)days * DAY, key_seed, rng, err,
				   errlen));
	if (ch == NULL && err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	return ch;
}

/* ---- apps, versions, operating systems ------------------------------------ */

static const struct {
	const char *name, *exe, *argv0, *lib;
	double share;
	bool kiosk;
} app_specs[] = {
	{ "orbit-agent", "/usr/bin/orbit-agent", "orbit-agent",
	  "/usr/lib/x86_64-linux-gnu/libcurl.so.4", 0.16, false },
	{ "ledgerd", "/opt/ledger/bin/ledgerd", "ledgerd", NULL, 0.12, false },
	{ "billing-worker", "/usr/bin/python3.11", "python3",
	  "/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so",
	  0.10, false },
	{ "fleet-sync", "/usr/local/bin/fleet-sync", "fleet-sync",
	  "/usr/lib/x86_64-linux-gnu/libcurl.so.4", 0.10, false },
	{ "metricsd", "/usr/sbin/metricsd", "metricsd", NULL, 0.09, false },
	{ "chat-desktop", "/opt/chat/chat-desktop", "chat-desktop",
	  "/opt/chat/libchatnet.so", 0.08, false },
	{ "payments-api", "/srv/payments/bin/payments-api", "payments-api",
	  "/usr/lib/x86_64-linux-gnu/libgrpc.so.29", 0.08, false },
	{ "mailrelay", "/usr/sbin/mailrelay", "mailrelay", NULL, 0.07, false },
	{ "backup-client", "/opt/backup/bin/backup-client", "backup-client",
	  "/usr/lib/x86_64-linux-gnu/libcurl.so.4", 0.07, false },
	{ "pkg-updater", "/usr/bin/pkg-updater", "pkg-updater",
	  "/usr/lib/x86_64-linux-gnu/libcurl.so.4", 0.06, false },
	{ "curl", "/usr/bin/curl", "curl",
	  "/usr/lib/x86_64-linux-gnu/libcurl.so.4", 0.04, false },
	{ "kiosk-agent", "/opt/kiosk/bin/kiosk-agent", "kiosk-agent",
	  "/usr/lib/x86_64-linux-gnu/libcurl.so.4", 0.03, true },
};
#define NAPPS (int)(sizeof(app_specs) / sizeof(app_specs[0]))

static const struct fleet_os os_table[] = {
	{ "debian", "12", "Debian GNU/Linux 12 (bookworm)", "6.1.0-26-amd64",
	  "OpenSSL 3.0.15 3 Sep 2024", 0.30 },
	{ "debian", "13", "Debian GNU/Linux 13 (trixie)", "6.12.38+deb13-amd64",
	  "OpenSSL 3.5.1 1 Jul 2025", 0.08 },
	{ "ubuntu", "22.04", "Ubuntu 22.04.4 LTS", "5.15.0-117-generic",
	  "OpenSSL 3.0.2 15 Mar 2022", 0.20 },
	{ "ubuntu", "24.04", "Ubuntu 24.04.1 LTS", "6.8.0-45-generic",
	  "OpenSSL 3.0.13 30 Jan 2024", 0.20 },
	{ "rhel", "9.4", "Red Hat Enterprise Linux 9.4 (Plow)",
	  "5.14.0-427.13.1.el9_4.x86_64", "OpenSSL 3.0.7 1 Nov 2022", 0.12 },
	{ "fedora", "40", "Fedora Linux 40 (Server Edition)",
	  "6.10.6-200.fc40.x86_64", "OpenSSL 3.2.2 4 Jun 2024", 0.05 },
	{ "alpine", "3.20.3", "Alpine Linux v3.20", "6.6.49-0-lts",
	  "OpenSSL 3.3.2 3 Sep 2024", 0.05 },
};
#define NOSES (int)(sizeof(os_table) / sizeof(os_table[0]))

static Pinshim__StackFrame *frame(const char *module, const char *symbol,
				  uint64_t *rng)
{
	Pinshim__StackFrame *fr = calloc(1, sizeof(*fr));
	char bid[41];

	pinshim__stack_frame__init(fr);
	for (int i = 0; i < 40; i += 16)
		snprintf(bid + i, sizeof(bid) - (size_t)i, "%016llx",
			 (unsigned long long)rng_next(rng));
	fr->module = (char *)module;
	fr->build_id = strdup(bid);
	fr->offset = 0x1000 + rng_below(rng, 0x80000);
	fr->symbol = (char *)symbol;
	fr->symbol_offset = symbol[0] != '\0' ? rng_below(rng, 0x400) : 0;
	return fr;
}

/* The handshake's call stack, innermost first: the shim's hook, libssl,
 * the app's TLS library, the app. */
static void make_stack(struct fleet_version *v, const struct fleet_app *a,
		       uint64_t *rng)
{
	static const char *const ssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
	static const char *const shim = "/usr/lib/x86_64-linux-gnu/libpinshim.so";
	static const char *const libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
	Pinshim__StackFrame **s = calloc(12, sizeof(*s));
	size_t n = 0;

	s[n++] = frame(shim, "SSL_do_handshake", rng);
	s[n++] = frame(ssl, "SSL_connect", rng);
	if (a->lib != NULL) {
		s[n++] = frame(a->lib, "", rng);
		s[n++] = frame(a->lib, strstr(a->lib, "curl") ? "curl_easy_perform"
				       : strstr(a->lib, "_ssl") ? "PyInit__ssl"
				       : "", rng);
	}
	s[n++] = frame(a->exe, "", rng);
	s[n++] = frame(a->exe, "", rng);
	s[n++] = frame(a->exe, "main", rng);
	s[n++] = frame(libc, "__libc_start_call_main", rng);
	s[n++] = frame(libc, "__libc_start_main", rng);
	s[n++] = frame(a->exe, "_start", rng);
	v->stack = s;
	v->nstack = n;
}

static int build_apps(struct fleet *f, uint64_t *rng)
{
	int extra = f->o.versions - 2 * NAPPS, given = 0;

	f->napps = NAPPS;
	f->apps = calloc(NAPPS, sizeof(*f->apps));
	f->nversions = 0;
	f->versions = calloc((size_t)(f->o.versions > 2 * NAPPS
				      ? f->o.versions : 2 * NAPPS) + NAPPS,
			     sizeof(*f->versions));
	if (f->apps == NULL || f->versions == NULL)
		return -1;
	for (int i = 0; i < NAPPS; i++) {
		struct fleet_app *a = &f->apps[i];
		int n = 2 + (extra > 0 ? (int)(extra * app_specs[i].share) : 0);
		int major = 1 + (int)rng_below(rng, 6), minor = (int)rng_below(rng, 12);
		int patch = 0;

		if (i == NAPPS - 1 && extra > 0)      /* the rounding's rest */
			n = 2 + extra - given;
		given += n - 2;
		a->name = app_specs[i].name;
		a->exe = app_specs[i].exe;
		a->argv0 = app_specs[i].argv0;
		a->lib = app_specs[i].lib;
		a->share = app_specs[i].share;
		a->kiosk = app_specs[i].kiosk;
		a->first_version = f->nversions;
		a->nversions = n;
		for (int k = 0; k < n; k++) {
			struct fleet_version *v = &f->versions[f->nversions++];
			time_t day = (time_t)(f->o.now - (int64_t)(n - k) * 9 * DAY);
			struct tm tm;

			/* newer versions are more common */
			v->app = i;
			v->weight = pow(0.82, n - 1 - k);
			v->old_bundle = k < (n + 2) / 3;
			if (rng_below(rng, 4) == 0) {
				minor++;
				patch = 0;
			} else {
				patch++;
			}
			snprintf(v->name, sizeof(v->name), "%d.%d.%d", major, minor,
				 patch);
			for (int b = 0; b < 40; b += 16)
				snprintf(v->build_id + b, sizeof(v->build_id) - (size_t)b,
					 "%016llx", (unsigned long long)rng_next(rng));
			gmtime_r(&day, &tm);
			snprintf(v->policy_version, sizeof(v->policy_version),
				 "%04d-%02d-%02d.%d", tm.tm_year + 1900, tm.tm_mon + 1,
				 tm.tm_mday, 1 + (int)rng_below(rng, 3));
			make_stack(v, a, rng);
		}
	}
	return 0;
}

/* ---- hosts ---------------------------------------------------------------- */

static const char *const services[] = {
	"api", "auth", "login", "cdn", "pay", "push", "sync", "metrics",
	"files", "chat", "img", "search", "graph", "ws", "static", "media",
	"billing", "status", "events", "telemetry", "gateway", "id",
	"accounts", "update", "config", "ingest", "hooks", "storage",
};
static const char *const syllables[] = {
	"ka", "vo", "ra", "zen", "trix", "lu", "mi", "no", "pex", "sol", "ta",
	"ri", "qua", "dor", "bel", "cor", "vi", "an", "el", "os", "tek", "mar",
	"fin", "ly", "gen", "ix", "ar", "do",
};
static const char *const tlds[] = {
	"com", "com", "com", "net", "io", "org", "cloud", "dev", "de", "eu",
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t fnv(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* A unique, plausible name for host i. */
static void host_name(char *out, size_t len, uint64_t *rng, uint64_t *set,
		      size_t slots)
{
	for (int attempt = 0;; attempt++) {
		char brand[64] = "";
		int parts = 2 + (int)rng_below(rng, 2);
		size_t i;
		uint64_t h;

		for (int k = 0; k < parts; k++)
			strcat(brand, syllables[rng_below(rng, COUNT(syllables))]);
		if (attempt > 8)
			snprintf(brand + strlen(brand), sizeof(brand) - strlen(brand),
				 "%d", attempt);
		snprintf(out, len, "%s.%s.%s",
			 services[rng_below(rng, COUNT(services))], brand,
			 tlds[rng_below(rng, COUNT(tlds))]);
		h = fnv(out) | 1;
		for (i = h % slots; set[i] != 0 && set[i] != h; i = (i + 1) % slots)
			;
		if (set[i] == 0) {
			set[i] = h;
			return;
		}
	}
}

static void host_peers(struct fleet_host *h, int n, uint64_t *rng)
{
	bool v6 = rng_below(rng, 10) == 0;

	h->npeers = n;
	for (int i = 0; i < n; i++) {
		if (v6)
			snprintf(h->peer[i], sizeof(h->peer[i]), "2001:db8:%x:%x::%x",
				 (unsigned)rng_below(rng, 0x10000),
				 (unsigned)rng_below(rng, 0x10000),
				 (unsigned)(1 + rng_below(rng, 0xfff)));
		else
			snprintf(h->peer[i], sizeof(h->peer[i]), "198.%d.%d.%d",
				 18 + (int)rng_below(rng, 2),
				 (int)rng_below(rng, 256),
				 1 + (int)rng_below(rng, 254));
	}
}

static void set_pins(struct fleet_host *h, const char *a, const char *b)
{
	for (size_t i = 0; i < h->npins; i++)
		free(h->pins[i]);
	h->pins[0] = strdup(a);
	h->pins[1] = strdup(b);
	h->npins = 2;
}

/* Every host: an owner app, peers, a chain from a public CA, pins on the
 * leaf (most) or the issuing CA, with a backup pin never deployed. */
static int build_hosts(struct fleet *f, uint64_t *rng, char *err,
		       size_t errlen)
{
	size_t slots = (size_t)f->o.hosts * 4 + 16;
	uint64_t *set = calloc(slots, sizeof(*set));
	double *w = calloc(NAPPS, sizeof(*w)), *cw = NULL;
	int kiosk = NAPPS - 1, rest;

	f->nhosts = f->o.hosts;
	f->hosts = calloc((size_t)f->nhosts, sizeof(*f->hosts));
	if (set == NULL || w == NULL || f->hosts == NULL)
		goto oom;
	/* The kiosk app owns exactly the clock_skew hosts; the others share
	 * the rest by their share of the clients. */
	for (int i = 0; i < NAPPS; i++)
		w[i] = app_specs[i].kiosk ? 0 : app_specs[i].share;
	if ((cw = cumulate(w, NAPPS)) == NULL)
		goto oom;
	rest = f->nhosts - f->o.per_cause;
	for (int i = 0; i < f->nhosts; i++) {
		struct fleet_host *h = &f->hosts[i];
		char backup[64];
		int n;

		host_name(h->name, sizeof(h->name), rng, set, slots);
		h->app = i >= rest ? kiosk : pick(cw, NAPPS, rng_unit(rng));
		h->port = rng_below(rng, 10) == 0 ? 8443 : 443;
		n = 1 + (rng_unit(rng) < 0.7) + (rng_unit(rng) < 0.35) +
		    (rng_unit(rng) < 0.15);
		host_peers(h, n, rng);
		h->enforce = rng_unit(rng) < 0.6;
		h->stale_peer = -1;
		h->chain = leaf_chain(f, h, icas[rng_below(rng, NPUBLIC)][rng_below(rng, 2)],
				      f->o.now - (int64_t)rng_range(rng, 3, 75) * DAY,
				      h->app == kiosk || rng_unit(rng) < 0.7 ? 90 : 397,
				      rng_stream(f->o.seed, P_KEY, (uint64_t)i), rng,
				      err, errlen);
		if (h->chain == NULL)
			goto fail;
		fleet_backup_pin(backup, rng);
		if (rng_unit(rng) < 0.75)
			set_pins(h, h->chain->leaf->pb.pin, backup);
		else
			set_pins(h, h->chain->intermediate->pb.pin, backup);
	}
	for (int a = 0; a < NAPPS; a++) {
		struct fleet_app *app = &f->apps[a];
		double *hw;
		int rank = 0;

		app->hosts = calloc((size_t)f->nhosts, sizeof(int));
		for (int i = 0; i < f->nhosts; i++)
			if (f->hosts[i].app == a)
				app->hosts[app->nhosts++] = i;
		hw = calloc((size_t)app->nhosts + 1, sizeof(*hw));
		/* Zipf popularity, in a shuffled order */
		for (int i = app->nhosts - 1; i > 0; i--) {
			int j = (int)rng_below(rng, (uint64_t)i + 1), t = app->hosts[i];

			app->hosts[i] = app->hosts[j];
			app->hosts[j] = t;
		}
		for (int i = 0; i < app->nhosts; i++) {
			hw[i] = 1.0 / pow(++rank, 0.9);
			f->hosts[app->hosts[i]].weight = hw[i];
		}
		app->cum = cumulate(hw, app->nhosts);
		free(hw);
		if (app->nhosts == 0) {
			snprintf(err, errlen, "app %s has no host: use more --hosts",
				 app->name);
			goto fail;
		}
	}
	free(set);
	free(w);
	free(cw);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	free(set);
	free(w);
	free(cw);
	return -1;
}

/* ---- networks ---------------------------------------------------------------- */

static const char *const cities[] = {
	"berlin", "paris", "london", "austin", "toronto", "tokyo", "sydney",
	"madrid", "warsaw", "dublin", "oslo", "zurich", "seattle", "boston",
};
static const char *const venues[] = {
	"hotel", "cafe", "airport", "library", "cowork", "train",
};
static const char *const carriers[] = {
	"telekom", "vodafone", "orange", "verizon", "tmobile", "o2", "att",
};
static const char *const regions[] = {
	"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1",
};

static void net_address(struct fleet_network *n, int type, uint64_t *rng)
{
	int a = (int)rng_below(rng, 256), b = (int)rng_below(rng, 256);

	switch (type) {
	case 0:   /* office */
		snprintf(n->gateway, sizeof(n->gateway), "10.%d.0.1", a);
		snprintf(n->subnet, sizeof(n->subnet), "10.%d.0.0/16", a);
		snprintf(n->local_prefix, sizeof(n->local_prefix), "10.%d.%d.", a,
			 1 + b % 200);
		break;
	case 1:   /* home */
		snprintf(n->gateway, sizeof(n->gateway), "192.168.%d.1", a);
		snprintf(n->subnet, sizeof(n->subnet), "192.168.%d.0/24", a);
		snprintf(n->local_prefix, sizeof(n->local_prefix), "192.168.%d.", a);
		break;
	case 2:   /* public wifi */
		snprintf(n->gateway, sizeof(n->gateway), "172.%d.%d.1", 16 + a % 16,
			 b & 0xfc);
		snprintf(n->subnet, sizeof(n->subnet), "172.%d.%d.0/22", 16 + a % 16,
			 b & 0xfc);
		snprintf(n->local_prefix, sizeof(n->local_prefix), "172.%d.%d.",
			 16 + a % 16, (b & 0xfc) + 1);
		break;
	case 3:   /* mobile */
		snprintf(n->gateway, sizeof(n->gateway), "100.%d.%d.1", 64 + a % 64, b);
		snprintf(n->subnet, sizeof(n->subnet), "100.%d.%d.0/24", 64 + a % 64,
			 b);
		snprintf(n->local_prefix, sizeof(n->local_prefix), "100.%d.%d.",
			 64 + a % 64, b);
		break;
	default:  /* datacenter, vpn */
		snprintf(n->gateway, sizeof(n->gateway), "10.%d.%d.1", 100 + a % 100,
			 b);
		snprintf(n->subnet, sizeof(n->subnet), "10.%d.%d.0/24", 100 + a % 100,
			 b);
		snprintf(n->local_prefix, sizeof(n->local_prefix), "10.%d.%d.",
			 100 + a % 100, b);
		break;
	}
	snprintf(n->resolver, sizeof(n->resolver), "%s", n->gateway);
}

static void net_label(struct fleet_network *n, int type, int i, uint64_t *rng)
{
	switch (type) {
	case 0:
		snprintf(n->label, sizeof(n->label), "office-%s-%d",
			 cities[rng_below(rng, COUNT(cities))], i);
		break;
	case 1:
		snprintf(n->label, sizeof(n->label), "home-%d", i);
		break;
	case 2:
		snprintf(n->label, sizeof(n->label), "wifi-%s-%s-%d",
			 venues[rng_below(rng, COUNT(venues))],
			 cities[rng_below(rng, COUNT(cities))], i);
		break;
	case 3:
		snprintf(n->label, sizeof(n->label), "lte-%s-%d",
			 carriers[rng_below(rng, COUNT(carriers))], i);
		break;
	case 4:
		snprintf(n->label, sizeof(n->label), "dc-%s-%d",
			 regions[rng_below(rng, COUNT(regions))], i);
		break;
	default:
		snprintf(n->label, sizeof(n->label), "vpn-%d", i);
		break;
	}
}

static void net_fingerprint(struct fleet_network *n)
{
	unsigned char md[32];
	char buf[160];
	int len = snprintf(buf, sizeof(buf), "%s\n%s\n%s", n->gateway, n->subnet,
			   n->resolver);

	EVP_Digest(buf, (size_t)len, md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(n->fingerprint + 2 * i, 3, "%02x", md[i]);
}

static int build_networks(struct fleet *f, uint64_t *rng)
{
	static const double types[] = { 0.20, 0.35, 0.15, 0.10, 0.15, 0.05 };
	double *tc = cumulate(types, 6), *w;
	int *order;

	f->nnetworks = f->o.networks;
	f->networks = calloc((size_t)f->nnetworks, sizeof(*f->networks));
	w = calloc((size_t)f->nnetworks, sizeof(*w));
	order = calloc((size_t)f->nnetworks, sizeof(*order));
	if (tc == NULL || f->networks == NULL || w == NULL || order == NULL)
		return -1;
	for (int i = 0; i < f->nnetworks; i++) {
		struct fleet_network *n = &f->networks[i];
		int type = pick(tc, 6, rng_unit(rng));

		net_address(n, type, rng);
		net_fingerprint(n);
		if (rng_unit(rng) < 0.7)
			net_label(n, type, i, rng);
		else
			snprintf(n->label, sizeof(n->label), "net-%.8s", n->fingerprint);
		n->proxy = -1;
		order[i] = i;
	}
	for (int i = f->nnetworks - 1; i > 0; i--) {
		int j = (int)rng_below(rng, (uint64_t)i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int r = 0; r < f->nnetworks; r++)
		w[order[r]] = 1.0 / pow(r + 1, 0.9);
	/* The intercepting networks: popular enough to matter, not the top. */
	for (int k = 0; k < f->nproxies && k + 3 < f->nnetworks; k++) {
		struct fleet_network *n = &f->networks[order[3 + k * 2]];

		n->proxy = k;
		n->proxy_trusted = proxies[k].trusted;
		snprintf(n->label, sizeof(n->label), "%s", proxies[k].label);
	}
	f->net_cum = cumulate(w, f->nnetworks);
	free(tc);
	free(w);
	free(order);
	return f->net_cum != NULL ? 0 : -1;
}

/* ---- causes --------------------------------------------------------------- */

/* Expected handshakes of each host. */
static double host_traffic(const struct fleet *f, int h)
{
	const struct fleet_app *a = &f->apps[f->hosts[h].app];

	return a->share * f->hosts[h].weight / a->cum[a->nhosts - 1];
}

static int by_traffic_desc(const void *x, const void *y, void *arg)
{
	const struct fleet *f = arg;
	double a = host_traffic(f, *(const int *)x);
	double b = host_traffic(f, *(const int *)y);

	return a < b ? 1 : a > b ? -1 : *(const int *)x - *(const int *)y;
}

static int64_t change_moment(const struct fleet *f, uint64_t *rng)
{
	return f->start + (int64_t)((double)(f->end - f->start) *
				    rng_range(rng, 0.3, 0.7));
}

static int inject(struct fleet *f, struct fleet_host *h, enum cause c,
		  uint64_t *rng, char *err, size_t errlen)
{
	const struct fleet_cert *ica = h->chain->intermediate;
	const struct fleet_app *a = &f->apps[h->app];
	char backup[64];
	int64_t nb = h->chain->leaf->pb.not_before;

	h->cause = c;
	fleet_backup_pin(backup, rng);
	switch (c) {
	case CAUSE_ROLLOVER:          /* a new key from T; pins lack it */
		h->change_at = change_moment(f, rng);
		set_pins(h, h->chain->leaf->pb.pin, backup);
		h->next = leaf_chain(f, h, ica, h->change_at - 3600, 90,
				     rng_next(rng), rng, err, errlen);
		return h->next != NULL ? 0 : -1;
	case CAUSE_INTERMEDIATE_CHANGE: { /* same key, another CA path */
		const struct fleet_cert *other;

		do {
			other = icas[rng_below(rng, NPUBLIC)][rng_below(rng, 2)];
		} while (other == ica);
		h->change_at = change_moment(f, rng);
		set_pins(h, ica->pb.pin, backup);
		/* the leaf's key again: the seed it was drawn from */
		h->next = leaf_chain(f, h, other, h->change_at - 3600, 90,
				     rng_stream(f->o.seed, P_KEY, (uint64_t)(h - f->hosts)),
				     rng, err, errlen);
		if (h->next == NULL)
			return -1;
		if (strcmp(h->next->leaf->pb.pin, h->chain->leaf->pb.pin) != 0) {
			snprintf(err, errlen, "intermediate_change: leaf key differs");
			return -1;
		}
		return 0;
	}
	case CAUSE_INTERCEPTION:
		set_pins(h, h->chain->leaf->pb.pin, backup);
		for (int k = 0; k < f->nproxies; k++) {
			char subject[200];
			struct fleet_cert *root = NULL;

			for (size_t i = 0; i < f->ncerts; i++)
				if (f->certs[i]->root == f->proxy_root[k] &&
				    f->certs[i]->issuer == NULL)
					root = f->certs[i];
			snprintf(subject, sizeof(subject), "CN=%s", h->name);
			h->forged[k] = add_chain(f, add_cert(f, subject, h->name, root,
							     f->o.now - 30 * DAY,
							     f->o.now + 30 * DAY,
							     rng_stream(f->o.seed, P_KEY,
									1000000 + (uint64_t)k),
							     rng, err, errlen));
			if (h->forged[k] == NULL)
				return -1;
		}
		return 0;
	case CAUSE_BACKEND_INCONSISTENCY: /* one backend kept the old chain */
		if (h->npeers < 3)
			host_peers(h, 3 + (int)rng_below(rng, 2), rng);
		h->stale_peer = (int)rng_below(rng, (uint64_t)h->npeers);
		set_pins(h, h->chain->leaf->pb.pin, backup);
		h->stale = leaf_chain(f, h, ica, nb - 80 * DAY, 397, rng_next(rng),
				      rng, err, errlen);
		return h->stale != NULL ? 0 : -1;
	case CAUSE_CLIENT_SPECIFIC: {  /* one version shipped old pins */
		int v = a->first_version + (int)rng_below(rng, (uint64_t)a->nversions - 1);
		char old[64];

		fleet_backup_pin(old, rng);   /* the key before the rotation */
		set_pins(h, old, h->chain->leaf->pb.pin);
		h->alt_pins[0] = strdup(old);
		h->alt_pins[1] = strdup(backup);
		h->nalt_pins = 2;
		h->nversions = 1;
		h->versions[0] = v;
		return 0;
	}
	case CAUSE_TRUST_STORE:       /* a chain from the new root */
		h->chain = leaf_chain(f, h, new_ica, nb, 90,
				      rng_stream(f->o.seed, P_KEY, (uint64_t)(h - f->hosts)),
				      rng, err, errlen);
		if (h->chain == NULL)
			return -1;
		set_pins(h, h->chain->leaf->pb.pin, backup);
		return 0;
	case CAUSE_EXPIRED:           /* the leaf runs out at T */
		h->change_at = change_moment(f, rng);
		h->chain = leaf_chain(f, h, ica, h->change_at - 90 * DAY, 90,
				      rng_stream(f->o.seed, P_KEY, (uint64_t)(h - f->hosts)),
				      rng, err, errlen);
		if (h->chain == NULL)
			return -1;
		set_pins(h, h->chain->leaf->pb.pin, backup);
		return 0;
	case CAUSE_CLOCK_SKEW:        /* healthy: its skewed clients fail */
	default:
		return 0;
	}
}

/* Causes go to hosts with traffic (skipping the few giants, whose scale
 * would dwarf the rest), a few each, in a seeded order; then some hosts
 * are designated healthy (no failure at all, not even noise). */
static int build_causes(struct fleet *f, uint64_t *rng, char *err,
			size_t errlen)
{
	int *cand = calloc((size_t)f->nhosts, sizeof(*cand)), n = 0, skip, band;
	int next = 0;

	if (cand == NULL)
		return -1;
	for (int i = 0; i < f->nhosts; i++)
		if (!f->apps[f->hosts[i].app].kiosk)
			cand[n++] = i;
	qsort_r(cand, (size_t)n, sizeof(*cand), by_traffic_desc, f);
	skip = n / 100 + 1;
	band = n / 8 > 60 ? n / 8 : n - skip;
	for (int i = 0; i < band - 1 && skip + i < n; i++) {   /* shuffle the band */
		int j = i + (int)rng_below(rng, (uint64_t)(band - i));

		if (skip + j < n) {
			int t = cand[skip + i];

			cand[skip + i] = cand[skip + j];
			cand[skip + j] = t;
		}
	}
	for (enum cause c = CAUSE_ROLLOVER; c < CAUSE_COUNT; c++) {
		if (c == CAUSE_CLOCK_SKEW) {
			struct fleet_app *k = &f->apps[NAPPS - 1];

			for (int i = 0; i < k->nhosts; i++)
				if (inject(f, &f->hosts[k->hosts[i]], c, rng, err,
					   errlen) < 0)
					goto fail;
			continue;
		}
		for (int i = 0; i < f->o.per_cause; i++) {
			if (skip + next >= n) {
				snprintf(err, errlen, "not enough hosts for the causes: "
					 "use more --hosts");
				goto fail;
			}
			if (inject(f, &f->hosts[cand[skip + next++]], c, rng, err,
				   errlen) < 0)
				goto fail;
		}
	}
	for (int i = 0; i < 2 * f->o.per_cause && skip + next < n; i++)
		f->hosts[cand[skip + next++]].quiet = true;
	free(cand);
	return 0;
fail:
	free(cand);
	return -1;
}

/* ---- clients ------------------------------------------------------------ */

static int build_clients(struct fleet *f)
{
	double *app_cum, *os_w, *aw = calloc(NAPPS, sizeof(*aw)), *w;
	double total = 0, cum = 0;
	long long given = 0;
	int n = f->o.clients;

	f->nclients = n;
	f->clients = calloc((size_t)n, sizeof(*f->clients));
	w = calloc((size_t)n, sizeof(*w));
	os_w = calloc(NOSES, sizeof(*os_w));
	if (f->clients == NULL || w == NULL || aw == NULL || os_w == NULL)
		return -1;
	for (int i = 0; i < NAPPS; i++)
		aw[i] = app_specs[i].share;
	for (int i = 0; i < NOSES; i++)
		os_w[i] = os_table[i].weight;
	app_cum = cumulate(aw, NAPPS);
	f->oses = os_table;
	f->noses = NOSES;
	f->os_cum = cumulate(os_w, NOSES);
	for (int i = 0; i < n; i++) {
		struct fleet_client *c = &f->clients[i];
		uint64_t r = rng_stream(f->o.seed, P_CLIENT, (uint64_t)i);
		const struct fleet_app *a;
		double vw[512], *vc;
		int64_t span = (f->end - f->start) * 1000;

		c->app = pick(app_cum, NAPPS, rng_unit(&r));
		a = &f->apps[c->app];
		for (int k = 0; k < a->nversions && k < 512; k++)
			vw[k] = f->versions[a->first_version + k].weight;
		vc = cumulate(vw, a->nversions < 512 ? a->nversions : 512);
		c->version = a->first_version +
			     pick(vc, a->nversions < 512 ? a->nversions : 512,
				  rng_unit(&r));
		free(vc);
		c->network = pick(f->net_cum, f->nnetworks, rng_unit(&r));
		c->os = pick(f->os_cum, NOSES, rng_unit(&r));
		c->daemon = rng_unit(&r) < 0.55;
		c->skew_s = (int32_t)rng_range(&r, -3, 3);
		if (a->kiosk && rng_unit(&r) < 0.2)       /* a dead RTC battery */
			c->skew_s = rng_unit(&r) < 0.7
				    ? -(int32_t)(rng_range(&r, SKEW_MIN_DAYS, 400) * DAY)
				    : (int32_t)(rng_range(&r, 120, 300) * DAY);
		if (c->daemon) {
			c->start_ms = f->start * 1000 +
				      (rng_unit(&r) < 0.8 ? 0
				       : (int64_t)(rng_unit(&r) * 0.5 * (double)span));
			c->end_ms = f->end * 1000;
			/* Pareto: a few chatty daemons */
			w[i] = 20.0 / pow(1.0 - rng_unit(&r) * 0.999, 1 / 1.3);
		} else {
			int64_t dur = (int64_t)(2000 * pow(450, rng_unit(&r)));

			if (dur > span)
				dur = span;
			c->start_ms = f->start * 1000 +
				      (int64_t)(rng_unit(&r) * (double)(span - dur));
			c->end_ms = c->start_ms + dur;
			w[i] = 1.0 / pow(1.0 - rng_unit(&r) * 0.99, 1 / 1.5);
		}
		total += w[i];
	}
	for (int i = 0; i < n; i++) {            /* exactly o.handshakes */
		long long upto;

		cum += w[i];
		upto = i == n - 1 ? f->o.handshakes
				  : (long long)((double)f->o.handshakes * cum / total);
		f->clients[i].handshakes = (uint32_t)(upto - given);
		given = upto;
	}
	free(app_cum);
	free(aw);
	free(os_w);
	free(w);
	return 0;
}

struct fleet *fleet_build(const struct fleet_opts *o, char *err, size_t errlen)
{
	struct fleet *f = calloc(1, sizeof(*f));
	uint64_t rng;

	err[0] = '\0';
	if (f == NULL)
		goto oom;
	f->o = *o;
	f->end = o->now;
	f->start = o->now - (int64_t)(o->days * DAY) + WINDOW_MARGIN;
	rng = rng_stream(o->seed, P_CA, 0);
	if (build_cas(f, &rng, err, errlen) < 0)
		goto fail;
	rng = rng_stream(o->seed, P_VERSION, 0);
	if (build_apps(f, &rng) < 0)
		goto oom;
	rng = rng_stream(o->seed, P_NET, 0);
	if (build_networks(f, &rng) < 0)
		goto oom;
	rng = rng_stream(o->seed, P_HOST, 0);
	if (build_hosts(f, &rng, err, errlen) < 0)
		goto fail;
	rng = rng_stream(o->seed, P_CAUSE, 0);
	if (build_causes(f, &rng, err, errlen) < 0)
		goto fail;
	{
		struct fleet_cert *portal = add_cert(
			f, "O=Captive Portal,CN=captive.portal.lan",
			"captive.portal.lan", NULL, o->now - 400LL * DAY,
			o->now + 400LL * DAY, rng_next(&rng), &rng, err, errlen);

		if ((f->noise_chain = add_chain(f, portal)) == NULL)
			goto fail;
	}
	if (build_clients(f) < 0)
		goto oom;
	return f;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	if (err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	fleet_free(f);
	return NULL;
}

void fleet_free(struct fleet *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->ncerts; i++)
		fleet_cert_free(f->certs[i]);
	for (size_t i = 0; i < f->nchains; i++)
		free(f->chains[i]);
	for (int i = 0; f->hosts != NULL && i < f->nhosts; i++) {
		for (size_t k = 0; k < f->hosts[i].npins; k++)
			free(f->hosts[i].pins[k]);
		for (size_t k = 0; k < f->hosts[i].nalt_pins; k++)
			free(f->hosts[i].alt_pins[k]);
	}
	for (int i = 0; f->apps != NULL && i < f->napps; i++) {
		free(f->apps[i].hosts);
		free(f->apps[i].cum);
	}
	for (int i = 0; f->versions != NULL && i < f->nversions; i++) {
		for (size_t k = 0; k < f->versions[i].nstack; k++) {
			free(f->versions[i].stack[k]->build_id);
			free(f->versions[i].stack[k]);
		}
		free(f->versions[i].stack);
	}
	free(f->certs);
	free(f->chains);
	free(f->hosts);
	free(f->apps);
	free(f->versions);
	free(f->networks);
	free(f->net_cum);
	free(f->os_cum);
	free(f->clients);
	free(f);
}

/* ---- one handshake --------------------------------------------------------- */

uint64_t fleet_trust(const struct fleet *f, const struct fleet_client *c)
{
	const struct fleet_network *n = &f->networks[c->network];
	uint64_t t = f->public_roots;

	if (!f->versions[c->version].old_bundle)
		t |= 1ULL << f->new_root;
	if (n->proxy >= 0 && n->proxy_trusted)
		t |= 1ULL << f->proxy_root[n->proxy];
	return t;
}

static const struct fleet_chain *served(const struct fleet *f,
					const struct fleet_client *c,
					const struct fleet_host *h, int p,
					int64_t t)
{
	int proxy = f->networks[c->network].proxy;

	if (proxy >= 0 && h->forged[proxy] != NULL)
		return h->forged[proxy];
	if (p == h->stale_peer)
		return h->stale;
	if (h->next != NULL && t >= h->change_at)
		return h->next;
	return h->chain;
}

/* OpenSSL's verdict on the chain at the client's time. */
static int verify(const struct fleet_chain *ch, uint64_t trust, int64_t now)
{
	if (ch->root == NULL || ch->root->root < 0 ||
	    !(trust >> ch->root->root & 1))
		return ch->nserved == 1 && ch->leaf->issuer == NULL
		       ? X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
		       : X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
	for (size_t i = 0; i < ch->nbuilt; i++) {
		if (now < ch->built[i]->not_before)
			return X509_V_ERR_CERT_NOT_YET_VALID;
		if (now > ch->built[i]->not_after)
			return X509_V_ERR_CERT_HAS_EXPIRED;
	}
	return X509_V_OK;
}

static Pinshim__Matched match(const struct fleet_chain *ch, bool built,
			      char *const *pins, size_t npins)
{
	for (size_t i = 0; i < ch->nserved; i++)
		for (size_t k = 0; k < npins; k++)
			if (strcmp(ch->served[i]->pin, pins[k]) == 0)
				return PINSHIM__MATCHED__MATCHED_SERVED;
	for (size_t i = ch->nserved; built && i < ch->nbuilt; i++)
		for (size_t k = 0; k < npins; k++)
			if (strcmp(ch->built[i]->pin, pins[k]) == 0)
				return PINSHIM__MATCHED__MATCHED_BUILT;
	return PINSHIM__MATCHED__MATCHED_NONE;
}

static Pinshim__Kind kind_of(int err)
{
	switch (err) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return PINSHIM__KIND__UNTRUSTED_ISSUER;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return PINSHIM__KIND__EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return PINSHIM__KIND__NOT_YET_VALID;
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return PINSHIM__KIND__HOSTNAME_MISMATCH;
	default:
		return PINSHIM__KIND__OTHER_VERIFY_ERROR;
	}
}

/* Background noise, a low rate on every host but the designated healthy
 * ones: a captive portal, a misrouted name, a corrupted signature. */
static int noise(const struct fleet *f, double draw,
		 const struct fleet_chain **ch)
{
	double u = draw / f->o.noise;

	if (u < 0.3) {
		*ch = f->noise_chain;
		return X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT;
	}
	if (u < 0.8) {
		*ch = f->hosts[(int)(u * 7919) % f->nhosts].chain;
		return X509_V_ERR_HOSTNAME_MISMATCH;
	}
	return X509_V_ERR_CERT_SIGNATURE_FAILURE;
}

void fleet_handshake(const struct fleet *f, const struct fleet_client *c,
		     uint64_t trust, int hi, int p, int64_t t,
		     double noise_draw, struct outcome *o)
{
	const struct fleet_host *h = &f->hosts[hi];
	const struct fleet_chain *ch = served(f, c, h, p, t);
	bool alt = false;
	int err;

	for (int i = 0; i < h->nversions; i++)
		alt |= h->versions[i] == c->version;
	o->pins = alt ? h->alt_pins : h->pins;
	o->npins = alt ? h->nalt_pins : h->npins;
	if (!h->quiet && noise_draw < f->o.noise)
		err = noise(f, noise_draw, &ch);
	else
		err = verify(ch, trust, t + c->skew_s);
	o->chain = ch;
	o->built = err == X509_V_OK || err == X509_V_ERR_CERT_NOT_YET_VALID ||
		   err == X509_V_ERR_CERT_HAS_EXPIRED ||
		   err == X509_V_ERR_HOSTNAME_MISMATCH;
	o->verify_error = err;
	o->matched = match(ch, o->built, o->pins, o->npins);
	o->failed = true;
	if (err != X509_V_OK) {        /* the program rejects it */
		o->kind = kind_of(err);
		o->decision = PINSHIM__DECISION__BLOCKED;
	} else if (o->matched == PINSHIM__MATCHED__MATCHED_NONE) {
		o->kind = PINSHIM__KIND__PIN_MISMATCH;
		o->decision = h->enforce ? PINSHIM__DECISION__BLOCKED
					 : PINSHIM__DECISION__WOULD_BLOCK;
	} else {
		o->failed = false;
		o->kind = PINSHIM__KIND__KIND_UNSPECIFIED;
		o->decision = PINSHIM__DECISION__DECISION_UNSPECIFIED;
	}
}

bool fleet_in_value(const struct fleet *f, const struct fleet_client *c,
		    int hi, int p, int64_t t)
{
	const struct fleet_host *h = &f->hosts[hi];
	int proxy = f->networks[c->network].proxy;

	switch (h->cause) {
	case CAUSE_ROLLOVER:
	case CAUSE_INTERMEDIATE_CHANGE:
	case CAUSE_EXPIRED:
		return t >= h->change_at;
	case CAUSE_INTERCEPTION:
		return proxy >= 0 && h->forged[proxy] != NULL;
	case CAUSE_BACKEND_INCONSISTENCY:
		return p == h->stale_peer;
	case CAUSE_CLIENT_SPECIFIC:
		return h->versions[0] == c->version;
	case CAUSE_TRUST_STORE:
		return f->versions[c->version].old_bundle;
	case CAUSE_CLOCK_SKEW:
		return c->skew_s > DAY || c->skew_s < -DAY;
	default:
		return false;
	}
}

/* ---- the ground truth -------------------------------------------------------- */

static json_object *rfc3339(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_object_new_string(buf);
}

static json_object *side(uint64_t failed, uint64_t total)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "failed", json_object_new_int64((int64_t)failed));
	json_object_object_add(o, "total", json_object_new_int64((int64_t)total));
	return o;
}

static json_object *pin_list(char *const *pins, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(pins[i]));
	return a;
}

/* The dimension, value(s) and fix the viewer should find for host h. */
static void truth_claim(const struct fleet *f, const struct fleet_host *h,
			json_object *o)
{
	json_object *values = json_object_new_array();
	const char *dim = "", *value = "";
	char fix[512] = "", when[32] = "";

	if (h->change_at != 0) {
		time_t tt = (time_t)h->change_at;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	switch (h->cause) {
	case CAUSE_ROLLOVER:
		dim = "chain";
		value = h->next->leaf->pb.pin;
		snprintf(fix, sizeof(fix), "add the new leaf key's pin %s to host %s",
			 value, h->name);
		break;
	case CAUSE_INTERMEDIATE_CHANGE:
		dim = "chain";
		value = h->next->intermediate->pb.pin;
		snprintf(fix, sizeof(fix), "pin the new issuing CA %s (%s) or the "
			 "leaf key %s for host %s", h->next->intermediate->pb.subject,
			 value, h->next->leaf->pb.pin, h->name);
		break;
	case CAUSE_EXPIRED:
		dim = "time";
		value = when;
		snprintf(fix, sizeof(fix), "renew the certificate of %s (expired %s)",
			 h->name, when);
		break;
	case CAUSE_INTERCEPTION:
		dim = "network";
		for (int n = 0; n < f->nnetworks; n++)
			if (f->networks[n].proxy >= 0 &&
			    h->forged[f->networks[n].proxy] != NULL)
				json_object_array_add(values, json_object_new_string(
							      f->networks[n].label));
		snprintf(fix, sizeof(fix), "exempt %s from TLS inspection on the "
			 "intercepting networks", h->name);
		break;
	case CAUSE_BACKEND_INCONSISTENCY:
		dim = "peer";
		value = h->peer[h->stale_peer];
		snprintf(fix, sizeof(fix), "update or remove backend %s of %s: it "
			 "serves a stale certificate", value, h->name);
		break;
	case CAUSE_CLIENT_SPECIFIC:
		dim = "app_version";
		value = f->versions[h->versions[0]].name;
		snprintf(fix, sizeof(fix), "ship pin %s for %s in %s %s's policy",
			 h->chain->leaf->pb.pin, h->name, f->apps[h->app].name, value);
		break;
	case CAUSE_TRUST_STORE: {
		const struct fleet_app *a = &f->apps[h->app];

		dim = "app_version";
		for (int v = a->first_version; v < a->first_version + a->nversions; v++)
			if (f->versions[v].old_bundle)
				json_object_array_add(values, json_object_new_string(
							      f->versions[v].name));
		snprintf(fix, sizeof(fix), "add root %s to the CA bundle of the "
			 "older %s versions", h->chain->root->pb.subject, a->name);
		break;
	}
	case CAUSE_CLOCK_SKEW:
		dim = "clock";
		value = "skewed";
		snprintf(fix, sizeof(fix), "fix the clocks of the %s clients that "
			 "are months off", f->apps[h->app].name);
		break;
	default:
		break;
	}
	if (value[0] == '\0' && json_object_array_length(values) > 0)
		value = json_object_get_string(json_object_array_get_idx(values, 0));
	else if (value[0] != '\0' && json_object_array_length(values) == 0)
		json_object_array_add(values, json_object_new_string(value));
	json_object_object_add(o, "dimension", json_object_new_string(dim));
	json_object_object_add(o, "value", json_object_new_string(value));
	json_object_object_add(o, "values", values);
	if (when[0] != '\0')
		json_object_object_add(o, "since", json_object_new_string(when));
	json_object_object_add(o, "fix", json_object_new_string(fix));
}

static json_object *truth_host(const struct fleet *f, const struct fleet_host *h,
			       const struct tally *t)
{
	json_object *o = json_object_new_object();
	uint64_t failed = t->n[0][1] + t->n[1][1];

	json_object_object_add(o, "cause", json_object_new_string(
				       cause_name(h->cause)));
	truth_claim(f, h, o);
	json_object_object_add(o, "app", json_object_new_string(f->apps[h->app].name));
	json_object_object_add(o, "mode", json_object_new_string(
				       h->enforce ? "enforce" : "observe"));
	json_object_object_add(o, "pins", pin_list(h->pins, h->npins));
	json_object_object_add(o, "served_leaf_pin", json_object_new_string(
				       h->chain->leaf->pb.pin));
	json_object_object_add(o, "handshakes", side(failed, t->n[0][0] + t->n[0][1] +
						     t->n[1][0] + t->n[1][1]));
	json_object_object_add(o, "in_value", side(t->n[1][1],
						   t->n[1][0] + t->n[1][1]));
	json_object_object_add(o, "elsewhere", side(t->n[0][1],
						    t->n[0][0] + t->n[0][1]));
	if (h->change_at != 0)
		json_object_object_add(o, "change_at", rfc3339(h->change_at));
	return o;
}

int fleet_truth(const struct fleet *f, const struct tally *t, FILE *out)
{
	json_object *root = json_object_new_object(), *hosts = json_object_new_object();
	json_object *healthy = json_object_new_array(), *noisy = json_object_new_array();
	int rc;

	json_object_object_add(root, "seed", json_object_new_int64((int64_t)f->o.seed));
	json_object_object_add(root, "handshakes", json_object_new_int64(f->o.handshakes));
	json_object_object_add(root, "start", rfc3339(f->start));
	json_object_object_add(root, "end", rfc3339(f->end));
	json_object_object_add(root, "noise_rate", json_object_new_double(f->o.noise));
	for (int i = 0; i < f->nhosts; i++) {
		const struct fleet_host *h = &f->hosts[i];
		uint64_t failed = t[i].n[0][1] + t[i].n[1][1];

		if (h->cause != CAUSE_NONE)
			json_object_object_add(hosts, h->name, truth_host(f, h, &t[i]));
		else if (h->quiet)
			json_object_array_add(healthy, json_object_new_string(h->name));
		else if (failed > 0)
			json_object_array_add(noisy, json_object_new_string(h->name));
	}
	json_object_object_add(root, "hosts", hosts);
	json_object_object_add(root, "healthy", healthy);
	json_object_object_add(root, "noise_hosts", noisy);
	rc = fputs(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						  JSON_C_TO_STRING_NOSLASHESCAPE),
		   out) < 0 || fputc('\n', out) == EOF ? -1 : 0;
	json_object_put(root);
	return rc;
}
