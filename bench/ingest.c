/* bench/ingest: how many events per second pinshim-collector stores.
 *
 *   ingest --collector HOST:PORT [--senders 8] [--events 1000000]
 *          [--batch 500] [--inflight 4] [--der all|served|none]
 *          [--token STRING] [--db FILE]
 *
 * N sender threads, each with its own TCP connection speaking the real
 * protocol (Hello → Welcome, pipelined Batch → Ack), send realistic events:
 * 3-certificate chains drawn from a pool of 8 (real Ed25519 certificates,
 * bench/fleet_cert.c), ~10 hosts, 10-frame stacks from a pool, platform,
 * process and network set.  --der says which certificates carry their DER:
 * all (the default, what the shim sends within its budget), served (the
 * served chain only) or none.
 *
 * 64 event templates are packed once with protobuf-c; a sender only
 * patches a fresh UUIDv7 id into the packed bytes, so this process spends
 * its CPU on the wire, not on protobuf (the collector runs on the same
 * cores).  The clock runs from the first send to the last ack; every ack
 * must report its whole batch stored.  Prints one line: "events=N
 * senders=S batch=B event_bytes=E seconds=T events_per_s=R db_bytes=D"
 * (db_bytes: --db FILE and its WAL, as the last ack left them).
 *
 * Run against a release build on a fresh database:
 *   build/collector/pinshim-collector --listen 127.0.0.1:7411 --db /tmp/i.db &
 *   build/bench/ingest --collector 127.0.0.1:7411 --db /tmp/i.db */
#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "link.h"
#include "wire.h"

#define NCHAINS 8
#define NHOSTS 10
#define NSTACKS 16
#define NTEMPLATES 64
#define STACK_DEPTH 10

enum der_mode { DER_ALL, DER_SERVED, DER_NONE };

struct opts {
	const char *collector, *token, *db;
	long senders, events, batch, inflight;
	enum der_mode der;
};

/* A packed Event whose bytes 2..17 are its id. */
struct tmpl {
	uint8_t *bytes;
	size_t len;
};

static struct tmpl templates[NTEMPLATES];
static struct opts opt = {
	.senders = 8, .events = 1000000, .batch = 500, .inflight = 4,
	.der = DER_ALL,
};
static pthread_barrier_t ready;
static atomic_llong first_send_ns, last_ack_ns;
static atomic_long stored_total, failed;

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}


/* ---- the pools: certificates, chains, stacks ---------------------------- */

/* A real chain (root, intermediate, leaf, fleet_cert.c): the collector
 * derives every field from the DER, as it does for the shim's events. */
static void make_chain(int chain, Pinshim__Cert *out[3], uint64_t *seed)
{
	const struct fleet_cert *issuer = NULL;
	char subject[160], dns[64], err[256];

	for (int pos = 2; pos >= 0; pos--) {
		struct fleet_cert *c;

		snprintf(subject, sizeof(subject), "C=US,O=Bench Org %d,CN=%s %d",
			 chain, pos == 0 ? "leaf" : pos == 1 ? "Intermediate"
			 : "Root", chain);
		snprintf(dns, sizeof(dns), "leaf%d.example.com", chain);
		c = fleet_cert_new(subject, pos == 0 ? dns : NULL, issuer,
				   1700000000, 1900000000,
				   (uint64_t)chain * 3 + (uint64_t)pos + 1, seed,
				   err, sizeof(err));
		if (c == NULL) {
			fprintf(stderr, "ingest: certificate: %s\n", err);
			exit(1);
		}
		c->pb.position = (uint32_t)pos;
		out[pos] = &c->pb;
		issuer = c;
	}
}

static Pinshim__Cert *chains[NCHAINS][3];

static Pinshim__StackFrame *stacks[NSTACKS][STACK_DEPTH];

static void make_pools(void)
{
	static const char *const modules[] = {
		"/usr/lib/x86_64-linux-gnu/libssl.so.3",
		"/usr/lib/x86_64-linux-gnu/libcurl.so.4",
		"/usr/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/bin/app",
	};
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char buf[64];

	for (int c = 0; c < NCHAINS; c++)
		make_chain(c, chains[c], &seed);
	for (int s = 0; s < NSTACKS; s++) {
		for (int d = 0; d < STACK_DEPTH; d++) {
			Pinshim__StackFrame *f = calloc(1, sizeof(*f));

			pinshim__stack_frame__init(f);
			f->module = (char *)modules[(s + d) % 4];
			f->build_id = "0123456789abcdef0123456789abcdef01234567";
			f->offset = rng_next(&seed) % 0x100000;
			snprintf(buf, sizeof(buf), "function_%d_%d", s, d);
			f->symbol = strdup(buf);
			f->symbol_offset = rng_next(&seed) % 0x200;
			stacks[s][d] = f;
		}
	}
}

/* A copy of a chain's certificates with or without their DER. */
static Pinshim__Cert **chain_copy(int c, bool der)
{
	Pinshim__Cert **v = calloc(3, sizeof(*v));

	for (int p = 0; p < 3; p++) {
		v[p] = malloc(sizeof(**v));
		*v[p] = *chains[c][p];
		if (!der)
			v[p]->der.len = 0;
	}
	return v;
}

static void make_template(int t, uint64_t *seed)
{
	static const char *const hosts[NHOSTS] = {
		"api.example.com", "login.example.com", "cdn.example.net",
		"pay.example.org", "auth.example.io", "push.example.com",
		"sync.example.com", "metrics.example.net", "files.example.org",
		"chat.example.io",
	};
	static uint8_t id0[16];
	static char *pins[2] = {
		"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=",
	};
	static char *resolvers[1] = { "10.0.0.53" };
	Pinshim__Event e = PINSHIM__EVENT__INIT;
	Pinshim__Platform pl = PINSHIM__PLATFORM__INIT;
	Pinshim__Process pr = PINSHIM__PROCESS__INIT;
	Pinshim__Network nw = PINSHIM__NETWORK__INIT;
	int c = (int)(rng_next(seed) % NCHAINS);
	char peer[32], label[32];

	e.id.data = id0;
	e.id.len = 16;
	e.time_us = (int64_t)time(NULL) * 1000000;
	e.kind = PINSHIM__KIND__PIN_MISMATCH;
	e.decision = t % 3 ? PINSHIM__DECISION__WOULD_BLOCK
			   : PINSHIM__DECISION__BLOCKED;
	e.host = (char *)hosts[t % NHOSTS];
	e.port = 443;
	snprintf(peer, sizeof(peer), "203.0.113.%d", t % 7 + 1);
	e.peer = peer;
	e.policy_version = "2026-11-22.1";
	e.mode = PINSHIM__MODE__OBSERVE;
	e.n_expected_pins = 2;
	e.expected_pins = pins;
	e.pinned = true;
	e.verify_error_text = "ok";
	e.tls_version = "TLSv1.3";
	e.served_chain = chain_copy(c, opt.der != DER_NONE);
	e.n_served_chain = 3;
	e.served_total = 3;
	e.built_chain = chain_copy(c, opt.der == DER_ALL);
	e.n_built_chain = 3;
	e.built_total = 3;
	pl.os_id = "debian";
	pl.os_version = "12";
	pl.os_name = "Debian GNU/Linux 12 (bookworm)";
	pl.kernel = "6.1.0-13-amd64";
	pl.arch = "x86_64";
	pl.libssl_version = "OpenSSL 3.0.11 19 Sep 2023";
	pl.host_id = "5f2b1c0e9d8a7b6c5f2b1c0e9d8a7b6c5f2b1c0e9d8a7b6c5f2b1c0e9d8a7b6c";
	pl.hostname = "client-7";
	e.platform = &pl;
	pr.exe = "/usr/bin/app";
	pr.build_id = "89abcdef0123456789abcdef0123456789abcdef";
	pr.app_version = t % 2 ? "4.2.0" : "4.3.0";
	pr.app_version_source = "env";
	pr.pid = 1000 + (uint32_t)(t % 4);
	pr.argv0 = "app";
	e.process = &pr;
	snprintf(label, sizeof(label), "net-%d", t % 3);
	nw.label = label;
	nw.fingerprint = "aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55aa55";
	nw.gateway = "10.0.0.1";
	nw.subnet = "10.0.0.0/24";
	nw.n_resolvers = 1;
	nw.resolvers = resolvers;
	nw.local_address = "10.0.0.23";
	e.network = &nw;
	e.stack = stacks[rng_next(seed) % NSTACKS];
	e.n_stack = STACK_DEPTH;
	e.count = 1;
	e.last_time_us = e.time_us;
	templates[t].len = pinshim__event__get_packed_size(&e);
	templates[t].bytes = malloc(templates[t].len);
	pinshim__event__pack(&e, templates[t].bytes);
	if (templates[t].bytes[0] != 0x0a || templates[t].bytes[1] != 16) {
		fprintf(stderr, "ingest: template does not start with its id\n");
		exit(1);
	}
}

/* ---- the senders --------------------------------------------------------- */

static void uuid7(uint8_t id[16], uint64_t *seed)
{
	struct timespec t;
	uint64_t ms, r1 = rng_next(seed), r2 = rng_next(seed);

	clock_gettime(CLOCK_REALTIME, &t);
	ms = (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
	link_uuid7(id, (int64_t)ms, r1, r2);
}

/* One framed batch of n events in buf (big enough); its length. */
static size_t build_batch(uint8_t *buf, long n, uint64_t *seed,
			  uint8_t batch_id[16])
{
	size_t body = 18, p;
	long first = (long)(rng_next(seed) % NTEMPLATES);

	for (long i = 0; i < n; i++) {
		const struct tmpl *t = &templates[(first + i) % NTEMPLATES];
		uint8_t tmp[10];

		body += 1 + link_varint(tmp, t->len) + t->len;
	}
	/* Frame{batch (3): Batch{id (1), events (2)...}} */
	p = 4;
	buf[p++] = 0x1a;
	p += link_varint(buf + p, body);
	buf[p++] = 0x0a;
	buf[p++] = 16;
	uuid7(batch_id, seed);
	memcpy(buf + p, batch_id, 16);
	p += 16;
	for (long i = 0; i < n; i++) {
		const struct tmpl *t = &templates[(first + i) % NTEMPLATES];

		buf[p++] = 0x12;
		p += link_varint(buf + p, t->len);
		memcpy(buf + p, t->bytes, t->len);
		uuid7(buf + p + 2, seed);
		p += t->len;
	}
	buf[0] = (uint8_t)((p - 4) >> 24);
	buf[1] = (uint8_t)((p - 4) >> 16);
	buf[2] = (uint8_t)((p - 4) >> 8);
	buf[3] = (uint8_t)(p - 4);
	return p;
}

static int read_ack(int fd, long expect)
{
	Pinshim__Frame *in;
	char err[256];

	if (wire_read(fd, WIRE_MAX_FRAME, 60000, &in, err, sizeof(err)) <= 0) {
		fprintf(stderr, "ingest: ack: %s\n", err);
		return -1;
	}
	if (in->body_case != PINSHIM__FRAME__BODY_ACK ||
	    (long)in->ack->stored != expect) {
		fprintf(stderr, "ingest: expected an ack of %ld stored, got %s\n",
			expect, in->body_case == PINSHIM__FRAME__BODY_ERROR
			? in->error->message : "something else");
		wire_free(in);
		return -1;
	}
	stored_total += in->ack->stored;
	wire_free(in);
	return 0;
}

static void *sender(void *arg)
{
	long share = (long)(intptr_t)arg, sent = 0, nbatch = 0, nacked = 0;
	uint64_t seed = 0x1234567ull + (uint64_t)share * 7919 + (uint64_t)now_ns();
	size_t cap = (size_t)opt.batch * 12000 + 64;
	uint8_t *buf = malloc(cap), id[16];
	long sizes[64] = { 0 };
	int fd = link_dial(opt.collector);
	long long zero = 0, end, seen;

	if (fd < 0 || link_hello(fd, "ingest", opt.collector, opt.token,
				 "bench-ingest") < 0) {
		fprintf(stderr, "ingest: cannot reach %s\n", opt.collector);
		failed++;
		pthread_barrier_wait(&ready);
		return NULL;
	}
	pthread_barrier_wait(&ready);
	atomic_compare_exchange_strong(&first_send_ns, &zero, now_ns());
	while (sent < share || nacked < nbatch) {
		if (sent < share && nbatch - nacked < opt.inflight) {
			long n = share - sent < opt.batch ? share - sent : opt.batch;
			size_t len = build_batch(buf, n, &seed, id);

			if (wire_write_all(fd, buf, len, 60000) < 0)
				goto fail;
			sizes[nbatch++ % 64] = n;
			sent += n;
			continue;
		}
		if (read_ack(fd, sizes[nacked++ % 64]) < 0)
			goto fail;
	}
	end = now_ns();
	seen = last_ack_ns;
	while (end > seen && !atomic_compare_exchange_weak(&last_ack_ns, &seen,
							   end))
		;
	close(fd);
	free(buf);
	return NULL;
fail:
	failed++;
	close(fd);
	free(buf);
	return NULL;
}

/* ---- main ----------------------------------------------------------------- */

static long long file_size(const char *path, const char *suffix)
{
	char p[4096];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

static int parse(int argc, char **argv)
{
	static const struct option o[] = {
		{ "collector", required_argument, NULL, 'c' },
		{ "senders", required_argument, NULL, 's' },
		{ "events", required_argument, NULL, 'e' },
		{ "batch", required_argument, NULL, 'b' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "der", required_argument, NULL, 'D' },
		{ "token", required_argument, NULL, 't' },
		{ "db", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		switch (c) {
		case 'c': opt.collector = optarg; break;
		case 's': opt.senders = atol(optarg); break;
		case 'e': opt.events = atol(optarg); break;
		case 'b': opt.batch = atol(optarg); break;
		case 'i': opt.inflight = atol(optarg); break;
		case 't': opt.token = optarg; break;
		case 'd': opt.db = optarg; break;
		case 'D':
			opt.der = strcmp(optarg, "none") == 0 ? DER_NONE
				: strcmp(optarg, "served") == 0 ? DER_SERVED
				: DER_ALL;
			break;
		default:
			return -1;
		}
	}
	if (opt.collector == NULL || opt.senders < 1 || opt.events < 1 ||
	    opt.batch < 1 || opt.batch > 2000 || opt.inflight < 1 ||
	    opt.inflight > 64)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t *t;
	uint64_t seed = 42;
	double secs;

	if (parse(argc, argv) < 0) {
		fprintf(stderr, "usage: ingest --collector HOST:PORT [--senders N]"
			" [--events N] [--batch N] [--inflight N]"
			" [--der all|served|none] [--token T] [--db FILE]\n");
		return 2;
	}
	make_pools();
	for (int i = 0; i < NTEMPLATES; i++)
		make_template(i, &seed);
	t = calloc((size_t)opt.senders, sizeof(*t));
	pthread_barrier_init(&ready, NULL, (unsigned)opt.senders);
	for (long i = 0; i < opt.senders; i++) {
		long share = opt.events / opt.senders +
			     (i < opt.events % opt.senders);

		pthread_create(&t[i], NULL, sender, (void *)(intptr_t)share);
	}
	for (long i = 0; i < opt.senders; i++)
		pthread_join(t[i], NULL);
	if (failed > 0 || stored_total != opt.events) {
		fprintf(stderr, "ingest: %ld senders failed, %ld of %ld stored\n",
			(long)failed, (long)stored_total, opt.events);
		return 1;
	}
	secs = (double)(last_ack_ns - first_send_ns) / 1e9;
	printf("events=%ld senders=%ld batch=%ld event_bytes=%zu seconds=%.3f "
	       "events_per_s=%.0f db_bytes=%lld\n", opt.events, opt.senders,
	       opt.batch, templates[0].len, secs, (double)opt.events / secs,
	       opt.db != NULL ? file_size(opt.db, "") + file_size(opt.db, "-wal")
			      : 0LL);
	return 0;
}
