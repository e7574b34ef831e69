/* What waits for the sender thread: failure events (coalesced), the
 * hourly handshake counters, and the served chains counted for the first
 * time (ChainSeen).  Filled on the handshake path, so everything
 * here is a short mutex hold and memory operations: no I/O, no syscall that
 * can block (clock_gettime and time are vDSO calls).
 *
 * Memory is bounded (QUEUE_MAX events, QUEUE_MAX_BYTES, fixed tables) and
 * counts are never dropped: when the queue is full a failure is folded into
 * a tally (its coalescing entry, else a catch-all per host, kind and
 * decision, else one per kind and decision), and every tally comes back as a
 * record when its window closes. */
#include "delivery.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX 1024
#define QUEUE_MAX_BYTES (16u << 20)
#define COAL_MAX 64                    /* distinct failures per window */
#define FOLD_HOSTS 32                  /* catch-all tallies per host */
#define FOLD_KD (7 * 3)                /* then per kind × decision, host "*" */
#define COUNTER_SLOTS 512              /* power of two */
#define COUNTER_FULL_KEYS 384          /* beyond: per host and hour */
#define COUNTER_HOST_KEYS 480          /* beyond: per hour, host "*" */
#define SEEN_MAX 1024                  /* chain fingerprints remembered */
#define SEEN_SLOTS 2048                /* power of two, 2 * SEEN_MAX */
#define CHAINS_PENDING 64              /* ChainSeen waiting for the sender */

/* ---- events ---- */

struct ckey {                          /* what makes two failures identical */
	uint64_t hash;
	char host[256];
	size_t nchain;
	unsigned char sha[CHAIN_MAX][20];  /* served chain: OpenSSL's cached
	                                      SHA-1 of each certificate */
	int verify_error;
	enum event_kind kind;
	enum event_decision decision;
	char net[65];                      /* network fingerprint */
};

struct coal {
	bool used;
	struct ckey key;
	long long opened;                  /* CLOCK_MONOTONIC seconds */
	unsigned char first_id[16];
	bool first_queued;                 /* the first record went out whole */
	struct timespec last;
	unsigned tally;                    /* failures the first does not cover */
	unsigned file_written;             /* of tally: lines already written */
	unsigned handed;                   /* of tally: in records already */
	struct timespec first_unhanded;    /* the first repeat not handed */
	long long unhanded_ms, last_ms;    /* its monotonic time, the last's */
	struct event *tmpl;                /* details for the closing record */
};

struct fold {
	bool used;
	char host[256];
	int port;
	enum event_kind kind;
	enum event_decision decision;
	bool from_sender;                  /* could not be delivered/spooled */
	long long opened;
	struct timespec first, last;
	unsigned wire, file;               /* tallies per destination */
	struct event *tmpl;                /* the first one folded, or NULL */
};

enum overflow { OVF_QUEUE = 1, OVF_FOLD = 2, OVF_COUNTERS = 4, OVF_OOM = 8 };

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static struct qitem ring[QUEUE_MAX];
static size_t ring_head, ring_n, ring_bytes;
static struct qitem *ready;            /* records of closed windows */
static size_t ready_n, ready_cap;
static struct coal coals[COAL_MAX];
static struct fold folds[FOLD_HOSTS + FOLD_KD];
static atomic_uint overflows;
static unsigned overflows_logged;

static long long mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

/* The handshake path's clock for handover (coarse: a vDSO read). */
static long long mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The HANDOVER rule of delivery.h. */
static bool handover_due(long long first_ms, long long last_ms, long long now)
{
	return now - last_ms >= HANDOVER_IDLE_MS ||
	       now - first_ms >= HANDOVER_MAX_MS;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

#define FNV_INIT 14695981039346656037ULL

static unsigned wanted(void)
{
	const struct shim_settings *c = config_settings();

	return (c->events_file != NULL ? DEST_FILE : 0) |
	       (c->collector != NULL ? DEST_WIRE : 0);
}

static size_t event_bytes(const struct event *ev)
{
	size_t n = sizeof(*ev);

	for (size_t i = 0; i < ev->served.n; i++)
		n += ev->served.certs[i].der_len;
	for (size_t i = 0; i < ev->built.n; i++)
		n += ev->built.certs[i].der_len;
	return n;
}

static void key_of(struct ckey *k, const struct event *ev)
{
	const char *net = (ev->network != NULL ? ev->network
					       : context_network())->fingerprint;
	uint64_t h = FNV_INIT;

	memset(k, 0, sizeof(*k));
	snprintf(k->host, sizeof(k->host), "%s", ev->peer.host);
	k->nchain = ev->served.n;
	for (size_t i = 0; i < k->nchain; i++)
		memcpy(k->sha[i], ev->served.certs[i].sha1, 20);
	k->verify_error = ev->verify_error;
	k->kind = ev->kind;
	k->decision = ev->decision;
	snprintf(k->net, sizeof(k->net), "%s", net);
	h = fnv(h, k->host, strlen(k->host));
	h = fnv(h, k->sha, sizeof(k->sha[0]) * k->nchain);
	h = fnv(h, &k->verify_error, sizeof(k->verify_error));
	h = fnv(h, &k->kind, sizeof(k->kind));
	k->hash = fnv(h, &k->decision, sizeof(k->decision));
}

/* The network is read by the sender thread, so the first failures of a
 * process may see none yet: an entry opened then takes the first network
 * read as its own (a process does not change networks in its first
 * second, and one record too many for it would be noise). */
static bool key_equal(struct ckey *entry, const struct ckey *k)
{
	if (entry->hash != k->hash || entry->nchain != k->nchain ||
	    entry->verify_error != k->verify_error || entry->kind != k->kind ||
	    entry->decision != k->decision || strcmp(entry->host, k->host) != 0 ||
	    memcmp(entry->sha, k->sha, sizeof(k->sha[0]) * k->nchain) != 0)
		return false;
	if (entry->net[0] == '\0')
		memcpy(entry->net, k->net, sizeof(entry->net));
	return k->net[0] == '\0' || strcmp(entry->net, k->net) == 0;
}

static bool ring_room(const struct event *ev)
{
	return ring_n < QUEUE_MAX &&
	       ring_bytes + event_bytes(ev) <= QUEUE_MAX_BYTES;
}

static void ring_push(struct event *ev, unsigned dest)
{
	ring[(ring_head + ring_n) % QUEUE_MAX] = (struct qitem){ ev, dest };
	ring_n++;
	ring_bytes += event_bytes(ev);
}

/* Records of closed windows are not bounded by the ring (their number is
 * bounded by the tables): a count must never wait for room. */
static void ready_push(struct event *ev, unsigned dest)
{
	if (ready_n == ready_cap) {
		size_t cap = ready_cap ? 2 * ready_cap : 64;
		struct qitem *n = realloc(ready, cap * sizeof(*n));

		if (n == NULL) {
			atomic_fetch_or(&overflows, OVF_OOM);
			event_free(ev);
			return;
		}
		ready = n;
		ready_cap = cap;
	}
	ready[ready_n++] = (struct qitem){ ev, dest };
}

/* A copy for the other destination: no DER, a fresh id. */
static struct event *record_copy(const struct event *ev)
{
	struct event *r = event_repeat(ev, ev->count, &ev->time,
				       &ev->last_time);

	if (r != NULL) {
		r->is_repeat = ev->is_repeat;
		memcpy(r->repeat_of, ev->repeat_of, sizeof(r->repeat_of));
	}
	return r;
}

/* Queues rec standing for wire failures to the collector and file
 * failures to the events file (one record when the counts agree). */
static void emit_split(struct event *rec, unsigned wire, unsigned file)
{
	unsigned want = wanted();
	struct event *copy;

	if (!(want & DEST_WIRE))
		wire = 0;
	if (!(want & DEST_FILE))
		file = 0;
	if (wire == file && wire > 0) {
		rec->count = wire;
		ready_push(rec, DEST_WIRE | DEST_FILE);
		return;
	}
	if (wire > 0 && file > 0) {
		copy = record_copy(rec);
		if (copy != NULL) {
			copy->count = file;
			ready_push(copy, DEST_FILE);
		}
	} else if (file > 0) {
		rec->count = file;
		ready_push(rec, DEST_FILE);
		return;
	}
	if (wire == 0) {
		event_free(rec);
		return;
	}
	rec->count = wire;
	ready_push(rec, DEST_WIRE);
}

/* ---- coalescing ---- */

static struct coal *coal_find(const struct ckey *k)
{
	for (size_t i = 0; i < COAL_MAX; i++)
		if (coals[i].used && key_equal(&coals[i].key, k))
			return &coals[i];
	return NULL;
}

static struct coal *coal_open(const struct ckey *k, const struct event *ev,
			      bool queued)
{
	for (size_t i = 0; i < COAL_MAX; i++) {
		struct coal *c = &coals[i];

		if (c->used)
			continue;
		memset(c, 0, sizeof(*c));
		c->used = true;
		c->key = *k;
		c->opened = mono_s();
		memcpy(c->first_id, ev->id, sizeof(c->first_id));
		c->first_queued = queued;
		c->last = ev->time;
		return c;
	}
	return NULL;
}

/* A failure identical to c's first, within the window. */
static void coal_repeat(struct coal *c, struct event *ev, unsigned want)
{
	c->tally++;
	c->last = ev->time;
	c->last_ms = mono_ms();
	if (c->tally - c->handed == 1) {
		c->first_unhanded = ev->time;
		c->unhanded_ms = c->last_ms;
	}
	if (c->tmpl == NULL) {
		/* The first repeat keeps the details for the closing record:
		 * its chain as references, completed on the sender thread
		 * when the record is written (a copy holds its own). */
		if ((want & DEST_FILE) && ring_room(ev)) {
			c->tmpl = event_repeat(ev, 0, &ev->time, &ev->time);
			if (c->tmpl != NULL) {
				ring_push(ev, DEST_FILE);
				c->file_written++;
				return;
			}
		}
		c->tmpl = ev;
		return;
	}
	if ((want & DEST_FILE) && ring_room(ev)) {
		ring_push(ev, DEST_FILE);
		c->file_written++;
		return;
	}
	event_free(ev);
}

/* The repeats since the last handover, as a record of their own (repeat_of
 * the first: the collector sums them), while the window stays open. */
static void coal_hand_over(struct coal *c)
{
	struct event *r = event_repeat(c->tmpl, c->tally - c->handed,
				       &c->first_unhanded, &c->last);

	if (r == NULL) {
		atomic_fetch_or(&overflows, OVF_OOM);
		return;
	}
	memcpy(r->repeat_of, c->first_id, sizeof(r->repeat_of));
	emit_split(r, c->tally - c->handed, 0);
	c->handed = c->tally;
}

static void coal_close(struct coal *c)
{
	struct event *rec = c->tmpl;

	c->used = false;
	c->tmpl = NULL;
	if (rec == NULL)
		return;
	if (c->first_queued) {
		struct event *r = event_repeat(rec, c->tally, c->handed > 0
					       ? &c->first_unhanded : &rec->time,
					       &c->last);

		event_free(rec);
		if (r == NULL) {
			atomic_fetch_or(&overflows, OVF_OOM);
			return;
		}
		memcpy(r->repeat_of, c->first_id, sizeof(r->repeat_of));
		rec = r;
	} else {
		rec->last_time = c->last;  /* the first itself, never queued */
	}
	emit_split(rec, c->tally - c->handed, c->tally - c->file_written);
}

/* ---- catch-all tallies ---- */

static struct fold *fold_slot(const char *host, enum event_kind kind,
			      enum event_decision decision, bool from_sender)
{
	struct fold *f;

	for (size_t i = 0; i < FOLD_HOSTS; i++) {
		f = &folds[i];
		if (f->used && f->kind == kind && f->decision == decision &&
		    f->from_sender == from_sender && strcmp(f->host, host) == 0)
			return f;
	}
	for (size_t i = 0; i < FOLD_HOSTS; i++) {
		f = &folds[i];
		if (!f->used) {
			snprintf(f->host, sizeof(f->host), "%s", host);
			goto fresh;
		}
	}
	/* Too many hosts at once: one tally per kind and decision. */
	f = &folds[FOLD_HOSTS + (size_t)kind * 3 + (size_t)decision];
	if (f->used)
		return f;
	snprintf(f->host, sizeof(f->host), "*");
fresh:
	f->used = true;
	f->port = 0;
	f->kind = kind;
	f->decision = decision;
	f->from_sender = from_sender;
	f->opened = mono_s();
	f->wire = f->file = 0;
	f->tmpl = NULL;
	f->first.tv_sec = 0;
	return f;
}

static void fold_add(struct fold *f, int port, unsigned wire, unsigned file,
		     const struct timespec *first, const struct timespec *last)
{
	if (f->first.tv_sec == 0) {
		f->first = *first;
		f->port = port;
	}
	f->last = *last;
	f->wire = f->wire > UINT_MAX - wire ? UINT_MAX : f->wire + wire;
	f->file = f->file > UINT_MAX - file ? UINT_MAX : f->file + file;
}

static void fold_event(struct event *ev, unsigned want)
{
	struct fold *f = fold_slot(ev->peer.host, ev->kind, ev->decision, false);

	fold_add(f, ev->peer.port, want & DEST_WIRE ? 1 : 0,
		 want & DEST_FILE ? 1 : 0, &ev->time, &ev->time);
	if (f->tmpl == NULL && strcmp(f->host, "*") != 0) {
		f->tmpl = ev;
	} else {
		event_free(ev);
	}
}

static void fold_close(struct fold *f)
{
	struct event *rec = f->tmpl;
	char msg[sizeof(rec->message)];

	f->used = false;
	f->tmpl = NULL;
	if (rec == NULL) {
		rec = event_new(f->kind, f->decision);
		if (rec == NULL) {
			atomic_fetch_or(&overflows, OVF_OOM);
			return;
		}
		snprintf(rec->peer.host, sizeof(rec->peer.host), "%s", f->host);
		rec->peer.port = f->port;
	}
	snprintf(msg, sizeof(msg), "%u failure(s) of %.200s folded into one "
		 "record: %s%s%.200s", f->wire > f->file ? f->wire : f->file,
		 f->host,
		 f->from_sender ? "they could be neither delivered nor spooled"
				: "pinshim's delivery queue was full",
		 rec->message[0] != '\0' ? "; the first one: " : "",
		 rec->message);
	memcpy(rec->message, msg, sizeof(msg));
	rec->time = f->first;
	rec->last_time = f->last;
	emit_split(rec, f->wire, f->file);
}

/* ---- the handshake path ---- */

void queue_event(struct event *ev)
{
	unsigned want = wanted();
	struct ckey key;
	struct coal *c;

	if (want == 0) {                   /* nowhere to deliver */
		event_free(ev);
		return;
	}
	key_of(&key, ev);
	pthread_mutex_lock(&qlock);
	c = coal_find(&key);
	if (c != NULL) {
		coal_repeat(c, ev, want);
	} else if (ring_room(ev)) {
		ring_push(ev, want);
		coal_open(&key, ev, true);
	} else {
		atomic_fetch_or(&overflows, OVF_QUEUE);
		c = coal_open(&key, ev, false);
		if (c != NULL) {           /* the first, held back */
			c->tally = 1;
			c->tmpl = ev;
		} else {
			atomic_fetch_or(&overflows, OVF_FOLD);
			fold_event(ev, want);
		}
	}
	pthread_mutex_unlock(&qlock);
	sender_wake();
}

/* ---- the sender's side ---- */

size_t queue_take(struct qitem *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&qlock);
	if (ready_n > 0) {
		n = ready_n < max ? ready_n : max;
		memcpy(out, ready, n * sizeof(*out));
		memmove(ready, ready + n, (ready_n - n) * sizeof(*ready));
		ready_n -= n;
	}
	while (n < max && ring_n > 0) {
		out[n] = ring[ring_head];
		ring_bytes -= event_bytes(out[n].ev);
		ring_head = (ring_head + 1) % QUEUE_MAX;
		ring_n--;
		n++;
	}
	pthread_mutex_unlock(&qlock);
	return n;
}

size_t queue_depth(void)
{
	size_t n;

	pthread_mutex_lock(&qlock);
	n = ring_n + ready_n;
	pthread_mutex_unlock(&qlock);
	return n;
}

void queue_close_windows(bool all, long long now_ms)
{
	long long now = mono_s();

	pthread_mutex_lock(&qlock);
	for (size_t i = 0; i < COAL_MAX; i++) {
		struct coal *c = &coals[i];

		if (!c->used)
			continue;
		if (all || now - c->opened >= COALESCE_WINDOW_S)
			coal_close(c);
		else if (c->first_queued && c->tmpl != NULL &&
			 c->tally > c->handed &&
			 handover_due(c->unhanded_ms, c->last_ms, now_ms))
			coal_hand_over(c);
	}
	for (size_t i = 0; i < FOLD_HOSTS + FOLD_KD; i++)
		if (folds[i].used &&
		    (all || now - folds[i].opened >= COALESCE_WINDOW_S))
			fold_close(&folds[i]);
	pthread_mutex_unlock(&qlock);
}

void queue_fold(const char *host, int port, enum event_kind kind,
		enum event_decision decision, unsigned count,
		const struct timespec *first, const struct timespec *last)
{
	pthread_mutex_lock(&qlock);
	fold_add(fold_slot(host, kind, decision, true), port, count, 0, first,
		 last);
	pthread_mutex_unlock(&qlock);
}

void queue_report(void)
{
	unsigned now = atomic_load(&overflows) & ~overflows_logged;

	overflows_logged |= now;
	if (now & OVF_QUEUE)
		shim_log(LOG_ERROR, "delivery queue full (%d events or %u MiB): "
			 "failures are counted in summary records until it "
			 "drains; no count is lost", QUEUE_MAX,
			 QUEUE_MAX_BYTES >> 20);
	if (now & OVF_FOLD)
		shim_log(LOG_ERROR, "more than %d distinct failures waiting: "
			 "folded per host, kind and decision", COAL_MAX);
	if (now & OVF_COUNTERS)
		shim_log(LOG_ERROR, "handshake counter table full: some "
			 "handshakes counted per host or per hour only");
	if (now & OVF_OOM)
		shim_log(LOG_ERROR, "out of memory in the delivery queue: "
			 "some failures were not recorded");
}

/* ---- hourly counters ---- */

struct cslot {
	bool used;
	uint64_t hash;
	struct counter_rec r;
};

struct ctable {
	struct cslot s[COUNTER_SLOTS];
	size_t used;
};

static pthread_mutex_t clk = PTHREAD_MUTEX_INITIALIZER;
static struct ctable *ctables;         /* two, swapped by the sender */
static int cactive;
static long long counted_first_ms, counted_last_ms;  /* since the take */

static uint64_t counter_hash(const struct counter_rec *k)
{
	uint64_t h = FNV_INIT;

	h = fnv(h, &k->hour, sizeof(k->hour));
	h = fnv(h, k->host, strlen(k->host));
	h = fnv(h, &k->port, sizeof(k->port));
	h = fnv(h, k->addr, strlen(k->addr));
	h = fnv(h, k->chain_fp, sizeof(k->chain_fp));
	return fnv(h, &k->net, sizeof(k->net));
}

static bool counter_equal(const struct counter_rec *a,
			  const struct counter_rec *b)
{
	return a->hour == b->hour && a->port == b->port && a->net == b->net &&
	       memcmp(a->chain_fp, b->chain_fp, sizeof(a->chain_fp)) == 0 &&
	       strcmp(a->host, b->host) == 0 && strcmp(a->addr, b->addr) == 0;
}

/* The slot of key k, inserted when the table holds fewer than limit. */
static struct cslot *counter_slot(struct ctable *t, const struct counter_rec *k,
				  size_t limit)
{
	uint64_t h = counter_hash(k);
	size_t i = (size_t)h & (COUNTER_SLOTS - 1);

	for (size_t n = 0; n < COUNTER_SLOTS; n++, i = (i + 1) & (COUNTER_SLOTS - 1)) {
		struct cslot *s = &t->s[i];

		if (!s->used) {
			if (t->used >= limit)
				return NULL;
			s->used = true;
			s->hash = h;
			s->r = *k;
			memset(&s->r.n, 0, sizeof(s->r.n));
			t->used++;
			return s;
		}
		if (s->hash == h && counter_equal(&s->r, k))
			return s;
	}
	return NULL;
}

/* The full key while there is room, then coarser ones: a count is never
 * dropped for want of a slot. */
static void counter_add(const struct counter_rec *k, const struct counts *d)
{
	struct ctable *t = &ctables[cactive];
	struct counter_rec coarse;
	struct cslot *s = counter_slot(t, k, COUNTER_FULL_KEYS);

	if (s == NULL) {
		atomic_fetch_or(&overflows, OVF_COUNTERS);
		coarse = *k;
		coarse.port = 0;
		coarse.addr[0] = '\0';
		memset(coarse.chain_fp, 0, sizeof(coarse.chain_fp));
		s = counter_slot(t, &coarse, COUNTER_HOST_KEYS);
		if (s == NULL) {
			snprintf(coarse.host, sizeof(coarse.host), "*");
			coarse.net = NULL;
			s = counter_slot(t, &coarse, COUNTER_SLOTS);
		}
		for (size_t i = 0; s == NULL && i < COUNTER_SLOTS; i++)
			if (t->s[i].used && strcmp(t->s[i].r.host, "*") == 0)
				s = &t->s[i];
		if (s == NULL)
			return;            /* unreachable: slots are reserved */
	}
	s->r.n.ok += d->ok;
	s->r.n.failed += d->failed;
	s->r.n.resumed += d->resumed;
	s->r.n.resumed_failed += d->resumed_failed;
}

static bool counters_ready(void)
{
	if (ctables == NULL)
		ctables = calloc(2, sizeof(*ctables));
	if (ctables == NULL)
		atomic_fetch_or(&overflows, OVF_OOM);
	return ctables != NULL;
}

/* ---- chains seen ----
 * The fingerprints of the served chains this process has counted (and
 * sent, or is sending, a ChainSeen for): an open-addressing set of whole
 * fingerprints, under the counters' lock.  Full, it forgets everything: a
 * chain is then sent once more, which the collector dedupes. */

static unsigned char (*seen)[32];      /* SEEN_SLOTS, all-zero: empty */
static size_t seen_n;
static struct chain_seen *chains_head, *chains_tail;
static size_t chains_n;

static bool fp_zero(const unsigned char fp[32])
{
	static const unsigned char zero[32];

	return memcmp(fp, zero, 32) == 0;
}

static size_t seen_home(const unsigned char fp[32])
{
	size_t h;

	memcpy(&h, fp, sizeof(h));         /* a SHA-256: already spread */
	return h & (SEEN_SLOTS - 1);
}

/* The slot holding fp, or the empty slot where it would go. */
static size_t seen_slot(const unsigned char fp[32])
{
	size_t i = seen_home(fp);

	while (!fp_zero(seen[i]) && memcmp(seen[i], fp, 32) != 0)
		i = (i + 1) & (SEEN_SLOTS - 1);
	return i;
}

/* True when fp was not in the set and now is. */
static bool seen_add(const unsigned char fp[32])
{
	size_t i;

	if (seen == NULL && (seen = calloc(SEEN_SLOTS, 32)) == NULL)
		return false;
	i = seen_slot(fp);
	if (!fp_zero(seen[i]))
		return false;
	if (seen_n >= SEEN_MAX) {
		memset(seen, 0, (size_t)SEEN_SLOTS * 32);
		seen_n = 0;
		i = seen_slot(fp);
	}
	memcpy(seen[i], fp, 32);
	seen_n++;
	return true;
}

/* Linear probing's deletion: the entries after the hole that could have
 * sat in it move up, so every entry stays reachable from its home. */
static void seen_remove(const unsigned char fp[32])
{
	size_t hole, i;

	if (seen == NULL || fp_zero(fp))
		return;
	hole = seen_slot(fp);
	if (fp_zero(seen[hole]))
		return;
	memset(seen[hole], 0, 32);
	seen_n--;
	for (i = (hole + 1) & (SEEN_SLOTS - 1); !fp_zero(seen[i]);
	     i = (i + 1) & (SEEN_SLOTS - 1)) {
		size_t home = seen_home(seen[i]);

		/* i's home lies cyclically in (hole, i]: it stays */
		if (hole < i ? (home > hole && home <= i)
			     : (home > hole || home <= i))
			continue;
		memcpy(seen[hole], seen[i], 32);
		memset(seen[i], 0, 32);
		hole = i;
	}
}

void queue_chain_seen(struct chain_seen *cs)
{
	bool queued = false;

	pthread_mutex_lock(&clk);
	if (chains_n < CHAINS_PENDING) {
		cs->next = NULL;
		if (chains_tail != NULL)
			chains_tail->next = cs;
		else
			chains_head = cs;
		chains_tail = cs;
		chains_n++;
		queued = true;
	} else {
		seen_remove(cs->fp);       /* again on a later handshake */
	}
	pthread_mutex_unlock(&clk);
	if (!queued) {
		chain_release(&cs->chain);
		free(cs);
		return;
	}
	sender_wake();
}

void queue_chain_forget(const unsigned char fp[32])
{
	pthread_mutex_lock(&clk);
	seen_remove(fp);
	pthread_mutex_unlock(&clk);
}

size_t queue_chains_take(struct chain_seen **out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&clk);
	while (n < max && chains_head != NULL) {
		out[n++] = chains_head;
		chains_head = chains_head->next;
		chains_n--;
	}
	if (chains_head == NULL)
		chains_tail = NULL;
	pthread_mutex_unlock(&clk);
	return n;
}

/* One handshake of kind k as a counter delta. */
static struct counts one(enum count_kind kind)
{
	struct counts d = { 0 };

	if (kind == COUNT_OK)
		d.ok = 1;
	else if (kind == COUNT_FAILED)
		d.failed = 1;
	else
		d.resumed = 1;
	d.resumed_failed = kind == COUNT_RESUMED_FAILED;
	return d;
}

bool queue_count(const struct peer *p, const unsigned char chain_fp[32],
		 enum count_kind kind)
{
	struct counts d = one(kind);
	struct counter_rec k;
	bool fresh = false;
	long long now;

	if (config_settings()->collector == NULL)   /* counters go nowhere else */
		return false;
	k.hour = (long long)time(NULL) / 3600 * 3600;
	snprintf(k.host, sizeof(k.host), "%s", p->host);
	k.port = p->port;
	snprintf(k.addr, sizeof(k.addr), "%s", p->addr);
	memcpy(k.chain_fp, chain_fp, sizeof(k.chain_fp));
	k.net = context_network();
	now = mono_ms();
	pthread_mutex_lock(&clk);
	if (counters_ready())
		counter_add(&k, &d);
	if (counted_first_ms == 0)
		counted_first_ms = now;
	counted_last_ms = now;
	/* the one lookup a handshake pays for ChainSeen */
	if (chains_n < CHAINS_PENDING && !fp_zero(chain_fp))
		fresh = seen_add(chain_fp);
	pthread_mutex_unlock(&clk);
	sender_kick();
	return fresh;
}

struct counter_rec *queue_counters_take(size_t *n)
{
	struct ctable *t;
	struct counter_rec *out;

	*n = 0;
	pthread_mutex_lock(&clk);
	if (ctables == NULL || ctables[cactive].used == 0) {
		pthread_mutex_unlock(&clk);
		return NULL;
	}
	t = &ctables[cactive];
	cactive ^= 1;
	counted_first_ms = 0;
	pthread_mutex_unlock(&clk);
	/* Only this thread touches the table it swapped out. */
	out = malloc(t->used * sizeof(*out));
	if (out == NULL)                  /* back into the live table */
		pthread_mutex_lock(&clk);
	for (size_t i = 0; i < COUNTER_SLOTS; i++) {
		if (!t->s[i].used)
			continue;
		if (out != NULL)
			out[(*n)++] = t->s[i].r;
		else
			counter_add(&t->s[i].r, &t->s[i].r.n);
		t->s[i].used = false;
	}
	t->used = 0;
	if (out == NULL)
		pthread_mutex_unlock(&clk);
	return out;
}

bool queue_counters_waiting(void)
{
	bool any;

	pthread_mutex_lock(&clk);
	any = ctables != NULL && ctables[cactive].used > 0;
	pthread_mutex_unlock(&clk);
	return any;
}

bool queue_counters_due(long long now_ms)
{
	bool due;

	pthread_mutex_lock(&clk);
	due = ctables != NULL && ctables[cactive].used > 0 &&
	      handover_due(counted_first_ms, counted_last_ms, now_ms);
	pthread_mutex_unlock(&clk);
	return due;
}

void queue_counters_put(const struct counter_rec *r, size_t n)
{
	pthread_mutex_lock(&clk);
	for (size_t i = 0; i < n && counters_ready(); i++)
		counter_add(&r[i], &r[i].n);
	pthread_mutex_unlock(&clk);
}

/* ---- fork ---- */

void queue_atfork_prepare(void)
{
	pthread_mutex_lock(&qlock);
	pthread_mutex_lock(&clk);
}

void queue_atfork_parent(void)
{
	pthread_mutex_unlock(&clk);
	pthread_mutex_unlock(&qlock);
}

/* The parent delivers what it had: the child starts empty. */
void queue_atfork_child(void)
{
	pthread_mutex_init(&qlock, NULL);
	pthread_mutex_init(&clk, NULL);
	for (; ring_n > 0; ring_n--, ring_head = (ring_head + 1) % QUEUE_MAX)
		event_free(ring[ring_head].ev);
	ring_head = ring_bytes = 0;
	for (size_t i = 0; i < ready_n; i++)
		event_free(ready[i].ev);
	ready_n = 0;
	for (size_t i = 0; i < COAL_MAX; i++) {
		if (coals[i].used)
			event_free(coals[i].tmpl);
		coals[i].used = false;
		coals[i].tmpl = NULL;
	}
	for (size_t i = 0; i < FOLD_HOSTS + FOLD_KD; i++) {
		if (folds[i].used)
			event_free(folds[i].tmpl);
		folds[i].used = false;
		folds[i].tmpl = NULL;
	}
	if (ctables != NULL)
		memset(ctables, 0, 2 * sizeof(*ctables));
	counted_first_ms = counted_last_ms = 0;
	/* the child sends the chains it counts itself */
	while (chains_head != NULL) {
		struct chain_seen *cs = chains_head;

		chains_head = cs->next;
		chain_release(&cs->chain);
		free(cs);
	}
	chains_tail = NULL;
	chains_n = 0;
	if (seen != NULL)
		memset(seen, 0, (size_t)SEEN_SLOTS * 32);
	seen_n = 0;
	atomic_store(&overflows, 0);
	overflows_logged = 0;
}
