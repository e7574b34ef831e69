/* bench/gen: seeded fleet telemetry through the real collector protocol.
 *
 *   gen [--collector HOST:PORT | --dry-run] [--token T | --token-file F]
 *       [--seed 1] [--handshakes 1000000] [--hosts 2000] [--networks 200]
 *       [--versions 200] [--days 1] [--clients N] [--per-cause 3]
 *       [--noise 0.0002] [--now UNIX] [--senders 4] [--batch 1000]
 *       [--inflight 4] [--burst 6] [--der all|none] [--truth FILE]
 *       [--records events,counters,chains] [--quiet]
 *
 * Simulates a fleet (fleet.h: hosts with real certificate chains and pins,
 * apps and versions, networks, client processes; rollover,
 * intermediate_change, interception, backend_inconsistency,
 * client_specific, clock_skew, expired and trust_store injected at a few
 * hosts each, designated healthy hosts, background noise) and sends what
 * each client's shim would send (shim/queue.c, shim/batch.c):
 *
 *   counters   per 30 s flush, one per (hour of the client's clock, host,
 *              port, peer, served chain) touched, successes and failures;
 *   events     per failure, coalesced per 60 s window and identical failure
 *              (host, served chain, verify error, kind, decision): the
 *              first whole (platform, process, network, stack, chains with
 *              DER), then one repeat record (repeat_of, count) when the
 *              window closes;
 *   chains     a ChainSeen the first time a client counts a served chain.
 *
 * Each sender thread owns one connection (Hello with the token, pipelined
 * Batches, each acked after commit) and simulates every Nth client, so the
 * records are the same whatever --senders is.  The window is the last
 * --days days up to --now (less an hour: a 1-day window stays within the
 * collector's one-day clock tolerance, since records arrive now).
 *
 * --burst: mean handshakes of a burst (a client's consecutive handshakes
 * with one host, seconds apart).  --records: which records to send (all by
 * default; fewer only to measure what each costs the collector, since the
 * data is then incomplete).
 *
 * --truth FILE: the ground truth as JSON (fleet_truth: host → cause,
 * dimension, value, with the handshakes generated on each side).
 * Prints one line: "handshakes=N failures=F clients=C events=E
 * event_failures=EF counters=K chains=S bytes=B senders=T seconds=W
 * gen_cpu_s=U handshakes_per_s=H events_per_s=R counters_per_s=Q
 * records_per_s=P stored=X duplicates=D" (rates over the senders' start,
 * after the fleet is built, to the last ack; --dry-run: generation and
 * packing only, nothing sent). */
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "link.h"
#include "wire.h"

#define HEAD_ROOM 10
#define COALESCE_MS 60000
#define COUNTERS_MS 30000
#define BATCH_MAX_BYTES (4u << 20)
#define WINDOWS_MAX 64

static struct {
	const char *collector, *truth;
	char *token;
	long senders, batch, inflight;
	double burst;
	unsigned records;            /* bit per field sent: 2 events, 3 ... */
	bool dry, der, quiet;
	struct fleet_opts f;
} opt = {
	.senders = 4, .batch = 1000, .inflight = 4, .burst = 6, .der = true,
	.records = 1u << 2 | 1u << 3 | 1u << 4,
	.f = { .seed = 1, .handshakes = 1000000, .hosts = 2000, .networks = 200,
	       .versions = 200, .days = 1, .per_cause = 3, .noise = 0.0002 },
};

static struct fleet *fleet;
static atomic_llong done_handshakes, last_ack_ns;
static atomic_int failed_senders;

static long long mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* ---- a sender: its connection, batch and pipeline ------------------------- */

struct inflight {
	uint32_t events, counters, chains;
};

struct stats {
	uint64_t handshakes, failures, events, event_failures, counters,
		 chains, bytes, stored, duplicates;
};

struct sender {
	int index, fd;
	uint64_t rng;
	uint8_t *buf, *scratch;
	size_t len, cap, scratch_cap;
	struct inflight batch, fly[64];
	long nfly, fly_head;
	struct stats st;
	struct tally *tally;
};

static bool reserve(uint8_t **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 1 << 20;
	uint8_t *n;

	if (need <= *cap)
		return true;
	while (c < need)
		c *= 2;
	if ((n = realloc(*buf, c)) == NULL)
		return false;
	*buf = n;
	*cap = c;
	return true;
}

/* link_uuid7 with two words of rng, drawn in a fixed order. */
static void uuid7(uint8_t id[16], int64_t ms, uint64_t *rng)
{
	uint64_t r1 = rng_next(rng), r2 = rng_next(rng);

	link_uuid7(id, ms, r1, r2);
}

static int sender_hello(struct sender *s)
{
	char name[64];

	snprintf(name, sizeof(name), "bench-gen[%d]@%d", s->index,
		 (int)getpid());
	return link_hello(s->fd, "gen", opt.collector, opt.token, name);
}

static void batch_open(struct sender *s)
{
	uint8_t id[16];

	if (s->len > 0)
		return;
	reserve(&s->buf, &s->cap, HEAD_ROOM + 2 + WIRE_ID_LEN);
	uuid7(id, (int64_t)time(NULL) * 1000, &s->rng);
	s->len = HEAD_ROOM;
	s->buf[s->len++] = 0x0a;
	s->buf[s->len++] = WIRE_ID_LEN;
	memcpy(s->buf + s->len, id, WIRE_ID_LEN);
	s->len += WIRE_ID_LEN;
}

static int read_ack(struct sender *s)
{
	struct inflight *b = &s->fly[s->fly_head];
	Pinshim__Frame *in;
	char err[256] = "";

	if (wire_read(s->fd, WIRE_MAX_FRAME, 120000, &in, err, sizeof(err)) <= 0) {
		fprintf(stderr, "gen: %s: ack: %s\n", opt.collector,
			err[0] ? err : "connection closed");
		return -1;
	}
	if (in->body_case != PINSHIM__FRAME__BODY_ACK) {
		fprintf(stderr, "gen: %s: expected an ack, got %s\n", opt.collector,
			in->body_case == PINSHIM__FRAME__BODY_ERROR
			? in->error->message : "another frame");
		wire_free(in);
		return -1;
	}
	s->st.stored += in->ack->stored;
	s->st.duplicates += in->ack->duplicates;
	s->st.events += b->events;
	s->st.counters += b->counters;
	s->st.chains += b->chains;
	wire_free(in);
	s->fly_head = (s->fly_head + 1) % 64;
	s->nfly--;
	return 0;
}

static void note_ack_time(void)
{
	long long end = mono_ns(), seen = last_ack_ns;

	while (end > seen &&
	       !atomic_compare_exchange_weak(&last_ack_ns, &seen, end))
		;
}

/* Seals the batch into a Frame{batch} and sends it (dry: counts it). */
static int batch_send(struct sender *s)
{
	uint8_t hdr[HEAD_ROOM];
	size_t body = s->len - HEAD_ROOM, k = 0, frame_len;
	uint8_t *frame;
	if (s->len == 0)
		return 0;
	hdr[k++] = 0x1a;
	k += link_varint(hdr + k, body);
	frame_len = k + body;
	frame = s->buf + HEAD_ROOM - k - 4;
	frame[0] = (uint8_t)(frame_len >> 24);
	frame[1] = (uint8_t)(frame_len >> 16);
	frame[2] = (uint8_t)(frame_len >> 8);
	frame[3] = (uint8_t)frame_len;
	memcpy(frame + 4, hdr, k);
	s->st.bytes += frame_len + 4;
	s->len = 0;
	if (opt.dry) {
		s->st.events += s->batch.events;
		s->st.counters += s->batch.counters;
		s->st.chains += s->batch.chains;
		s->batch = (struct inflight){ 0 };
		return 0;
	}
	if (s->nfly == opt.inflight && read_ack(s) < 0)
		return -1;
	if (wire_write_all(s->fd, frame, frame_len + 4, 120000) < 0) {
		fprintf(stderr, "gen: %s: write: %m\n", opt.collector);
		return -1;
	}
	s->fly[(s->fly_head + s->nfly) % 64] = s->batch;
	s->nfly++;
	s->batch = (struct inflight){ 0 };
	return 0;
}

static int drain(struct sender *s)
{
	if (batch_send(s) < 0)
		return -1;
	while (s->nfly > 0)
		if (read_ack(s) < 0)
			return -1;
	return 0;
}

/* Appends one record (2: Event, 3: Counter, 4: ChainSeen) packed by
 * protobuf-c; sends the batch when full. */
static int add_record(struct sender *s, unsigned field,
		      const ProtobufCMessage *m)
{
	size_t len;
	long n = (long)(s->batch.events + s->batch.counters + s->batch.chains);

	if (!(opt.records & 1u << field))
		return 0;
	len = protobuf_c_message_get_packed_size(m);

	if (s->len > 0 && (n >= opt.batch || s->len + len + 16 > BATCH_MAX_BYTES) &&
	    batch_send(s) < 0)
		return -1;
	batch_open(s);
	if (!reserve(&s->buf, &s->cap, s->len + len + 16)) {
		fprintf(stderr, "gen: out of memory\n");
		return -1;
	}
	s->buf[s->len++] = (uint8_t)(field << 3 | 2);
	s->len += link_varint(s->buf + s->len, len);
	protobuf_c_message_pack(m, s->buf + s->len);
	s->len += len;
	if (field == 2)
		s->batch.events++;
	else if (field == 3)
		s->batch.counters++;
	else
		s->batch.chains++;
	return 0;
}

/* ---- one client process, as its shim would report it -------------------- */

struct ctr {
	bool used;
	int64_t hour;
	int host, peer, chain;
	uint64_t ok, failed;
};

struct win {
	int host, chain, verify_error;
	Pinshim__Kind kind;
	Pinshim__Decision decision;
	int64_t opened_ms;
	uint8_t first_id[16];
	uint32_t tally;
	int64_t rep_first_ms, rep_last_ms;    /* client clock */
	int rep_peer;
	struct outcome rep;
};

struct client {
	const struct fleet_client *c;
	const struct fleet_version *v;
	uint64_t rng, trust;
	int64_t skew_ms;
	char hostname[48], host_id[65], os[48], local[48];
	char *resolvers[1];
	Pinshim__Platform pl;
	Pinshim__Process pr;
	Pinshim__Network nw;
	struct ctr *ctrs;
	size_t nctr_slots, nctrs;
	int *touched;
	struct win wins[WINDOWS_MAX];
	int nwins;
	int *seen, nseen, seen_cap;
};

static void client_context(struct client *cl, const struct fleet_client *c,
			   int index)
{
	const struct fleet_os *os = &fleet->oses[c->os];
	const struct fleet_app *a = &fleet->apps[c->app];
	const struct fleet_network *n = &fleet->networks[c->network];

	cl->c = c;
	cl->v = &fleet->versions[c->version];
	cl->rng = rng_stream(fleet->o.seed, 99, (uint64_t)index);
	cl->trust = fleet_trust(fleet, c);
	cl->skew_ms = (int64_t)c->skew_s * 1000;
	snprintf(cl->hostname, sizeof(cl->hostname), "%s-%05d", a->argv0, index);
	for (int i = 0; i < 64; i += 16)
		snprintf(cl->host_id + i, sizeof(cl->host_id) - (size_t)i, "%016llx",
			 (unsigned long long)rng_next(&cl->rng));
	snprintf(cl->os, sizeof(cl->os), "%s %s", os->id, os->version);
	snprintf(cl->local, sizeof(cl->local), "%s%d", n->local_prefix,
		 2 + (int)rng_below(&cl->rng, 250));
	pinshim__platform__init(&cl->pl);
	cl->pl.os_id = (char *)os->id;
	cl->pl.os_version = (char *)os->version;
	cl->pl.os_name = (char *)os->name;
	cl->pl.kernel = (char *)os->kernel;
	cl->pl.arch = rng_below(&cl->rng, 10) == 0 ? "aarch64" : "x86_64";
	cl->pl.libssl_version = (char *)os->libssl;
	cl->pl.host_id = cl->host_id;
	cl->pl.hostname = cl->hostname;
	pinshim__process__init(&cl->pr);
	cl->pr.exe = (char *)a->exe;
	cl->pr.build_id = (char *)cl->v->build_id;
	cl->pr.app_version = (char *)cl->v->name;
	cl->pr.app_version_source = "env";
	cl->pr.pid = 300 + (uint32_t)rng_below(&cl->rng, 4000000);
	cl->pr.argv0 = (char *)a->argv0;
	pinshim__network__init(&cl->nw);
	cl->nw.label = (char *)n->label;
	cl->nw.fingerprint = (char *)n->fingerprint;
	cl->nw.gateway = (char *)n->gateway;
	cl->nw.subnet = (char *)n->subnet;
	cl->resolvers[0] = (char *)n->resolver;
	cl->nw.resolvers = cl->resolvers;
	cl->nw.n_resolvers = 1;
	cl->nw.local_address = cl->local;
	cl->nwins = 0;
	cl->nseen = 0;
}

static int send_event(struct sender *s, struct client *cl, int hi, int peer,
		      const struct outcome *o, int64_t first_ms, int64_t last_ms,
		      uint32_t count, const uint8_t id[16],
		      const uint8_t *repeat_of)
{
	const struct fleet_host *h = &fleet->hosts[hi];
	const struct fleet_chain *ch = o->chain;
	Pinshim__Event e = PINSHIM__EVENT__INIT;
	char message[200];

	e.id.data = (uint8_t *)id;
	e.id.len = 16;
	e.time_us = first_ms * 1000;
	e.last_time_us = last_ms * 1000;
	e.count = count;
	if (repeat_of != NULL) {
		e.repeat_of.data = (uint8_t *)repeat_of;
		e.repeat_of.len = 16;
	}
	e.kind = o->kind;
	e.decision = o->decision;
	e.host = (char *)h->name;
	e.port = h->port;
	e.peer = (char *)h->peer[peer];
	e.policy_version = (char *)cl->v->policy_version;
	e.mode = h->enforce ? PINSHIM__MODE__ENFORCE : PINSHIM__MODE__OBSERVE;
	e.expected_pins = (char **)o->pins;
	e.n_expected_pins = o->npins;
	e.pinned = true;
	e.matched = o->matched;
	e.verify_error = o->verify_error;
	e.verify_error_text = (char *)X509_verify_cert_error_string(o->verify_error);
	e.tls_version = h->port == 8443 ? "TLSv1.2" : "TLSv1.3";
	if (o->verify_error != X509_V_OK)
		snprintf(message, sizeof(message), "%s%s", e.verify_error_text,
			 o->matched == PINSHIM__MATCHED__MATCHED_NONE
			 ? "; no pin matches the chain either" : "");
	else
		snprintf(message, sizeof(message), "no pin matches the chain");
	e.message = message;
	e.served_chain = (Pinshim__Cert **)(opt.der ? ch->served
						    : ch->served_bare);
	e.n_served_chain = ch->nserved;
	e.served_total = (uint32_t)ch->nserved;
	/* OpenSSL's chain: complete when it anchored it, else as served */
	e.built_chain = (Pinshim__Cert **)(!o->built ? e.served_chain
					   : opt.der ? ch->built : ch->built_bare);
	e.n_built_chain = o->built ? ch->nbuilt : ch->nserved;
	e.built_total = (uint32_t)e.n_built_chain;
	e.platform = &cl->pl;
	e.process = &cl->pr;
	e.network = &cl->nw;
	e.stack = cl->v->stack;
	e.n_stack = cl->v->nstack;
	if (opt.records & 1u << 2)
		s->st.event_failures += count;
	return add_record(s, 2, &e.base);
}

static int send_counter(struct sender *s, struct client *cl,
			const struct ctr *k, int64_t now_ms)
{
	const struct fleet_host *h = &fleet->hosts[k->host];
	const struct fleet_network *n = &fleet->networks[cl->c->network];
	Pinshim__Counter c = PINSHIM__COUNTER__INIT;
	uint8_t id[16];

	uuid7(id, now_ms + cl->skew_ms, &cl->rng);
	c.id.data = id;
	c.id.len = 16;
	c.hour = k->hour;
	c.host = (char *)h->name;
	c.port = h->port;
	c.peer = (char *)h->peer[k->peer];
	c.network = (char *)n->label;
	c.network_fingerprint = (char *)n->fingerprint;
	c.app_version = (char *)cl->v->name;
	c.libssl_version = cl->pl.libssl_version;
	c.os = cl->os;
	c.chain_fingerprint.data = (uint8_t *)fleet->chains[k->chain]->fp;
	c.chain_fingerprint.len = 32;
	c.successes = k->ok;
	c.failures = k->failed;
	c.host_id = cl->host_id;
	return add_record(s, 3, &c.base);
}

static int send_chain(struct sender *s, const struct fleet_chain *ch, int hi)
{
	Pinshim__ChainSeen cs = PINSHIM__CHAIN_SEEN__INIT;

	cs.fingerprint.data = (uint8_t *)ch->fp;
	cs.fingerprint.len = 32;
	cs.host = (char *)fleet->hosts[hi].name;
	cs.certs = (Pinshim__Cert **)ch->served_bare;
	cs.n_certs = ch->nserved;
	cs.total = (uint32_t)ch->nserved;
	return add_record(s, 4, &cs.base);
}

/* The 30 s counter flush: every key touched, then an empty table. */
static int flush_counters(struct sender *s, struct client *cl, int64_t now_ms)
{
	for (size_t i = 0; i < cl->nctrs; i++) {
		struct ctr *k = &cl->ctrs[cl->touched[i]];

		if (send_counter(s, cl, k, now_ms) < 0)
			return -1;
		k->used = false;
	}
	cl->nctrs = 0;
	return 0;
}

static int count(struct sender *s, struct client *cl, int64_t hour, int hi,
		 int peer, int chain, bool failed, int64_t now_ms)
{
	uint64_t hsh = (uint64_t)hour * 31 + (uint64_t)hi * 1000003 +
		       (uint64_t)peer * 7 + (uint64_t)chain * 7919;
	size_t i = (size_t)(hsh * 0x9e3779b97f4a7c15ULL >> 40) % cl->nctr_slots;

	while (cl->ctrs[i].used &&
	       !(cl->ctrs[i].hour == hour && cl->ctrs[i].host == hi &&
		 cl->ctrs[i].peer == peer && cl->ctrs[i].chain == chain))
		i = (i + 1) % cl->nctr_slots;
	if (!cl->ctrs[i].used) {
		if (cl->nctrs >= cl->nctr_slots / 2) {     /* the shim's table
							      is bounded too */
			if (flush_counters(s, cl, now_ms) < 0)
				return -1;
			return count(s, cl, hour, hi, peer, chain, failed, now_ms);
		}
		cl->ctrs[i] = (struct ctr){ true, hour, hi, peer, chain, 0, 0 };
		cl->touched[cl->nctrs++] = (int)i;
	}
	if (failed)
		cl->ctrs[i].failed++;
	else
		cl->ctrs[i].ok++;
	return 0;
}

/* The repeat record of a closing window, if the window saw repeats. */
static int close_window(struct sender *s, struct client *cl, int w)
{
	struct win *x = &cl->wins[w];
	int rc = 0;

	if (x->tally > 0) {
		uint8_t id[16];

		uuid7(id, x->rep_first_ms, &cl->rng);
		rc = send_event(s, cl, x->host, x->rep_peer, &x->rep,
				x->rep_first_ms, x->rep_last_ms, x->tally, id,
				x->first_id);
	}
	cl->wins[w] = cl->wins[--cl->nwins];
	return rc;
}

static int close_windows(struct sender *s, struct client *cl, int64_t now_ms,
			 bool all)
{
	for (int w = cl->nwins - 1; w >= 0; w--)
		if ((all || now_ms - cl->wins[w].opened_ms >= COALESCE_MS) &&
		    close_window(s, cl, w) < 0)
			return -1;
	return 0;
}

static int failure(struct sender *s, struct client *cl, int hi, int peer,
		   const struct outcome *o, int64_t t_ms)
{
	int64_t ct = t_ms + cl->skew_ms;
	struct win *x;
	uint8_t id[16];

	for (int w = 0; w < cl->nwins; w++) {
		x = &cl->wins[w];
		if (x->host == hi && x->chain == o->chain->id &&
		    x->verify_error == o->verify_error && x->kind == o->kind &&
		    x->decision == o->decision) {
			if (x->tally++ == 0) {
				x->rep_first_ms = ct;
				x->rep_peer = peer;
				x->rep = *o;
			}
			x->rep_last_ms = ct;
			return 0;
		}
	}
	uuid7(id, ct, &cl->rng);
	if (cl->nwins < WINDOWS_MAX) {
		x = &cl->wins[cl->nwins++];
		*x = (struct win){ .host = hi, .chain = o->chain->id,
				   .verify_error = o->verify_error,
				   .kind = o->kind, .decision = o->decision,
				   .opened_ms = t_ms };
		memcpy(x->first_id, id, 16);
	}
	return send_event(s, cl, hi, peer, o, ct, ct, 1, id, NULL);
}

static int chain_seen(struct sender *s, struct client *cl,
		      const struct fleet_chain *ch, int hi)
{
	for (int i = 0; i < cl->nseen; i++)
		if (cl->seen[i] == ch->id)
			return 0;
	if (cl->nseen == cl->seen_cap) {
		int cap = cl->seen_cap ? 2 * cl->seen_cap : 16;
		int *n = realloc(cl->seen, (size_t)cap * sizeof(*n));

		if (n == NULL)
			return -1;
		cl->seen = n;
		cl->seen_cap = cap;
	}
	cl->seen[cl->nseen++] = ch->id;
	return send_chain(s, ch, hi);
}

/* A planned handshake: when, with which host, at which address. */
struct hs {
	int64_t t;
	int host, peer;
};

static int cmp_hs(const void *a, const void *b)
{
	int64_t x = ((const struct hs *)a)->t, y = ((const struct hs *)b)->t;

	return x < y ? -1 : x > y;
}

static int pick_host(const struct fleet_app *a, uint64_t *rng)
{
	double x = rng_unit(rng) * a->cum[a->nhosts - 1];
	int lo = 0, hi = a->nhosts - 1;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (a->cum[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return a->hosts[lo];
}

/* A client's handshakes come in bursts: a job talks to one host a few
 * times in a row, at the address it resolved, within seconds. */
static void plan(const struct fleet_client *c, struct client *cl,
		 struct hs *plan_out)
{
	const struct fleet_app *a = &fleet->apps[c->app];
	int64_t span = c->end_ms - c->start_ms;
	uint32_t k = 0;

	while (k < c->handshakes) {
		uint32_t size = 1 + (uint32_t)(-log(1 - rng_unit(&cl->rng)) *
					       (opt.burst - 1));
		int64_t t = c->start_ms + (int64_t)(rng_unit(&cl->rng) * (double)span);
		int host = pick_host(a, &cl->rng);
		int peer = (int)rng_below(&cl->rng,
					  (uint64_t)fleet->hosts[host].npeers);

		for (uint32_t j = 0; j < size && k < c->handshakes; j++, k++) {
			plan_out[k] = (struct hs){ t < c->end_ms ? t : c->end_ms,
						   host, peer };
			t += 50 + (int64_t)rng_below(&cl->rng, 2000);
		}
	}
	qsort(plan_out, c->handshakes, sizeof(*plan_out), cmp_hs);
}

/* One client's life: its handshakes in time order, with the shim's
 * counter flushes and coalescing windows between them. */
static int simulate(struct sender *s, struct client *cl, int index,
		    struct hs **hs, size_t *hs_cap)
{
	const struct fleet_client *c = &fleet->clients[index];
	int64_t next_flush;
	struct outcome o;

	if (c->handshakes == 0)
		return 0;
	client_context(cl, c, index);
	if (*hs_cap < c->handshakes) {
		struct hs *n = realloc(*hs, c->handshakes * sizeof(*n));

		if (n == NULL)
			return -1;
		*hs = n;
		*hs_cap = c->handshakes;
	}
	plan(c, cl, *hs);
	next_flush = c->start_ms + COUNTERS_MS;
	for (uint32_t k = 0; k < c->handshakes; k++) {
		int64_t t = (*hs)[k].t;
		int hi = (*hs)[k].host, peer = (*hs)[k].peer;

		if (t >= next_flush) {
			if (flush_counters(s, cl, t) < 0)
				return -1;
			next_flush += ((t - next_flush) / COUNTERS_MS + 1) * COUNTERS_MS;
		}
		if (cl->nwins > 0 && close_windows(s, cl, t, false) < 0)
			return -1;
		fleet_handshake(fleet, c, cl->trust, hi, peer, t / 1000,
				rng_unit(&cl->rng), &o);
		s->tally[hi].n[fleet_in_value(fleet, c, hi, peer, t / 1000)][o.failed]++;
		s->st.handshakes++;
		if (chain_seen(s, cl, o.chain, hi) < 0 ||
		    count(s, cl, (t + cl->skew_ms) / 1000 / 3600 * 3600, hi, peer,
			  o.chain->id, o.failed, t) < 0)
			return -1;
		if (o.failed) {
			s->st.failures++;
			if (failure(s, cl, hi, peer, &o, t) < 0)
				return -1;
		}
		if ((k & 1023) == 1023)
			atomic_fetch_add(&done_handshakes, 1024);
	}
	atomic_fetch_add(&done_handshakes, c->handshakes & 1023);
	/* exit: every window closes, the counters go out */
	if (close_windows(s, cl, c->end_ms, true) < 0 ||
	    flush_counters(s, cl, c->end_ms) < 0)
		return -1;
	return 0;
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	struct client cl = { 0 };
	struct hs *hs = NULL;
	size_t hs_cap = 0;

	s->fd = -1;
	s->rng = rng_stream(fleet->o.seed, 98, (uint64_t)s->index);
	cl.nctr_slots = 4096;
	cl.ctrs = calloc(cl.nctr_slots, sizeof(*cl.ctrs));
	cl.touched = calloc(cl.nctr_slots, sizeof(*cl.touched));
	if (cl.ctrs == NULL || cl.touched == NULL)
		goto fail;
	if (!opt.dry && ((s->fd = link_dial(opt.collector)) < 0 ||
			 sender_hello(s) < 0)) {
		if (s->fd < 0)
			fprintf(stderr, "gen: cannot reach %s\n", opt.collector);
		goto fail;
	}
	for (int i = s->index; i < fleet->nclients; i += (int)opt.senders)
		if (simulate(s, &cl, i, &hs, &hs_cap) < 0)
			goto fail;
	if (drain(s) < 0)
		goto fail;
	note_ack_time();
	goto out;
fail:
	failed_senders++;
out:
	if (s->fd >= 0)
		close(s->fd);
	free(hs);
	free(cl.ctrs);
	free(cl.touched);
	free(cl.seen);
	free(s->buf);
	free(s->scratch);
	s->buf = s->scratch = NULL;
	return NULL;
}

/* ---- main ------------------------------------------------------------------ */

static const char usage[] =
	"usage: gen [--collector HOST:PORT | --dry-run] [--token T | --token-file F]\n"
	"           [--seed N] [--handshakes N] [--hosts N] [--networks N]\n"
	"           [--versions N] [--days D] [--clients N] [--per-cause N]\n"
	"           [--noise RATE] [--now UNIX] [--senders N] [--batch N]\n"
	"           [--inflight N] [--burst MEAN] [--der all|none] [--truth FILE]\n"
	"           [--records events,counters,chains] [--quiet]\n";

static char *read_token(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[WIRE_MAX_TOKEN + 1];
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "gen: token file %s: %m\n", path);
		return NULL;
	}
	n = fread(buf, 1, WIRE_MAX_TOKEN, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return strdup(buf);
}

static int parse(int argc, char **argv)
{
	enum { O_SEED = 256, O_HS, O_HOSTS, O_NETS, O_VERS, O_DAYS, O_CLIENTS,
	       O_PER, O_NOISE, O_NOW, O_SENDERS, O_BATCH, O_INFL, O_DER,
	       O_TRUTH, O_TOKEN, O_TOKENF, O_DRY, O_QUIET, O_BURST, O_RECORDS };
	static const struct option o[] = {
		{ "collector", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, O_SEED },
		{ "handshakes", required_argument, NULL, O_HS },
		{ "hosts", required_argument, NULL, O_HOSTS },
		{ "networks", required_argument, NULL, O_NETS },
		{ "versions", required_argument, NULL, O_VERS },
		{ "days", required_argument, NULL, O_DAYS },
		{ "clients", required_argument, NULL, O_CLIENTS },
		{ "per-cause", required_argument, NULL, O_PER },
		{ "noise", required_argument, NULL, O_NOISE },
		{ "now", required_argument, NULL, O_NOW },
		{ "senders", required_argument, NULL, O_SENDERS },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "inflight", required_argument, NULL, O_INFL },
		{ "der", required_argument, NULL, O_DER },
		{ "truth", required_argument, NULL, O_TRUTH },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "token-file", required_argument, NULL, O_TOKENF },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "burst", required_argument, NULL, O_BURST },
		{ "records", required_argument, NULL, O_RECORDS },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt.f.now = (int64_t)time(NULL);
	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		switch (c) {
		case 'c': opt.collector = optarg; break;
		case O_SEED: opt.f.seed = strtoull(optarg, NULL, 0); break;
		case O_HS: opt.f.handshakes = (long long)strtod(optarg, NULL); break;
		case O_HOSTS: opt.f.hosts = atoi(optarg); break;
		case O_NETS: opt.f.networks = atoi(optarg); break;
		case O_VERS: opt.f.versions = atoi(optarg); break;
		case O_DAYS: opt.f.days = atof(optarg); break;
		case O_CLIENTS: opt.f.clients = atoi(optarg); break;
		case O_PER: opt.f.per_cause = atoi(optarg); break;
		case O_NOISE: opt.f.noise = atof(optarg); break;
		case O_NOW: opt.f.now = atoll(optarg); break;
		case O_SENDERS: opt.senders = atol(optarg); break;
		case O_BATCH: opt.batch = atol(optarg); break;
		case O_INFL: opt.inflight = atol(optarg); break;
		case O_DER: opt.der = strcmp(optarg, "none") != 0; break;
		case O_TRUTH: opt.truth = optarg; break;
		case O_TOKEN: opt.token = strdup(optarg); break;
		case O_TOKENF:
			if ((opt.token = read_token(optarg)) == NULL)
				return -1;
			break;
		case O_DRY: opt.dry = true; break;
		case O_QUIET: opt.quiet = true; break;
		case O_BURST: opt.burst = atof(optarg); break;
		case O_RECORDS:
			opt.records = (strstr(optarg, "events") ? 1u << 2 : 0) |
				      (strstr(optarg, "counters") ? 1u << 3 : 0) |
				      (strstr(optarg, "chains") ? 1u << 4 : 0);
			break;
		default: return -1;
		}
	}
	if (opt.f.clients == 0)
		opt.f.clients = (int)(opt.f.handshakes / 400 > 40
				      ? (opt.f.handshakes / 400 < 1000000
					 ? opt.f.handshakes / 400 : 1000000) : 40);
	if ((opt.collector == NULL) == !opt.dry || optind != argc ||
	    opt.f.handshakes < 1 || opt.f.hosts < 50 || opt.f.networks < 8 ||
	    opt.f.versions < 1 || opt.f.days <= 0 || opt.f.clients < 1 ||
	    opt.f.per_cause < 1 || opt.f.noise < 0 || opt.f.noise >= 0.5 ||
	    opt.burst < 1 || opt.records == 0 ||
	    opt.senders < 1 || opt.senders > 256 || opt.batch < 1 ||
	    opt.batch > WIRE_MAX_RECORDS || opt.inflight < 1 || opt.inflight > 64)
		return -1;
	return 0;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void progress(pthread_t *t)
{
	long long start = mono_ns();

	for (;;) {
		struct timespec ts;
		long long hs;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if (pthread_timedjoin_np(t[0], NULL, &ts) == 0)
			return;
		hs = done_handshakes;
		if (!opt.quiet)
			fprintf(stderr, "gen: %lld/%lld handshakes, %.0f/s\n", hs,
				opt.f.handshakes,
				(double)hs / ((double)(mono_ns() - start) / 1e9));
	}
}

static int write_truth(struct sender *s)
{
	struct tally *t = calloc((size_t)fleet->nhosts, sizeof(*t));
	FILE *f;
	int rc;

	if (t == NULL)
		return -1;
	for (long i = 0; i < opt.senders; i++)
		for (int h = 0; h < fleet->nhosts; h++)
			for (int a = 0; a < 2; a++)
				for (int b = 0; b < 2; b++)
					t[h].n[a][b] += s[i].tally[h].n[a][b];
	if ((f = fopen(opt.truth, "w")) == NULL) {
		fprintf(stderr, "gen: truth %s: %m\n", opt.truth);
		free(t);
		return -1;
	}
	rc = fleet_truth(fleet, t, f);
	if (fclose(f) != 0 || rc < 0) {
		fprintf(stderr, "gen: truth %s: %m\n", opt.truth);
		rc = -1;
	}
	free(t);
	return rc;
}

int main(int argc, char **argv)
{
	struct sender *s;
	pthread_t *t;
	struct stats tot = { 0 };
	char err[256];
	double secs, cpu0, build_s;
	long long t0;

	if (parse(argc, argv) < 0) {
		fputs(usage, stderr);
		return 2;
	}
	if (opt.f.days > 1 && !opt.quiet)
		fprintf(stderr, "gen: note: records older than a day reach the "
			"collector as from clients whose clock is behind\n");
	t0 = mono_ns();
	if ((fleet = fleet_build(&opt.f, err, sizeof(err))) == NULL) {
		fprintf(stderr, "gen: %s\n", err);
		return 1;
	}
	build_s = (double)(mono_ns() - t0) / 1e9;
	cpu0 = cpu_seconds();
	t0 = mono_ns();
	if (!opt.quiet)
		fprintf(stderr, "gen: fleet of %d hosts, %d clients, %zu certificates "
			"built in %.2f s\n", fleet->nhosts, fleet->nclients,
			fleet->ncerts, build_s);
	s = calloc((size_t)opt.senders, sizeof(*s));
	t = calloc((size_t)opt.senders, sizeof(*t));
	for (long i = 0; s != NULL && t != NULL && i < opt.senders; i++) {
		s[i].index = (int)i;
		s[i].tally = calloc((size_t)fleet->nhosts, sizeof(*s[i].tally));
		if (s[i].tally == NULL ||
		    pthread_create(&t[i], NULL, sender_main, &s[i]) != 0) {
			fprintf(stderr, "gen: cannot start sender %ld\n", i);
			return 1;
		}
	}
	progress(t);
	for (long i = 1; i < opt.senders; i++)
		pthread_join(t[i], NULL);
	if (failed_senders > 0) {
		fprintf(stderr, "gen: %d of %ld senders failed\n", (int)failed_senders,
			opt.senders);
		return 1;
	}
	for (long i = 0; i < opt.senders; i++) {
		tot.handshakes += s[i].st.handshakes;
		tot.failures += s[i].st.failures;
		tot.events += s[i].st.events;
		tot.event_failures += s[i].st.event_failures;
		tot.counters += s[i].st.counters;
		tot.chains += s[i].st.chains;
		tot.bytes += s[i].st.bytes;
		tot.stored += s[i].st.stored;
		tot.duplicates += s[i].st.duplicates;
	}
	secs = (double)(last_ack_ns - t0) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	if (opt.truth != NULL && write_truth(s) < 0)
		return 1;
	printf("handshakes=%llu failures=%llu clients=%d hosts=%d events=%llu "
	       "event_failures=%llu counters=%llu chains=%llu bytes=%llu "
	       "senders=%ld seconds=%.3f build_s=%.2f gen_cpu_s=%.2f "
	       "handshakes_per_s=%.0f events_per_s=%.0f counters_per_s=%.0f "
	       "records_per_s=%.0f stored=%llu duplicates=%llu%s\n",
	       (unsigned long long)tot.handshakes,
	       (unsigned long long)tot.failures, fleet->nclients, fleet->nhosts,
	       (unsigned long long)tot.events,
	       (unsigned long long)tot.event_failures,
	       (unsigned long long)tot.counters, (unsigned long long)tot.chains,
	       (unsigned long long)tot.bytes, opt.senders, secs, build_s,
	       cpu_seconds() - cpu0, (double)tot.handshakes / secs,
	       (double)tot.events / secs, (double)tot.counters / secs,
	       (double)(tot.events + tot.counters + tot.chains) / secs,
	       (unsigned long long)tot.stored,
	       (unsigned long long)tot.duplicates, opt.dry ? " dry_run=1" : "");
	for (long i = 0; i < opt.senders; i++)
		free(s[i].tally);
	free(s);
	free(t);
	fleet_free(fleet);
	return 0;
}
