/* Batches: records packed into one pinshim.Frame{batch}, as it goes on the
 * wire and into the spool.  Sender thread only.
 *
 * The Batch is written by hand, field by field, straight into one buffer
 * (id, then each packed Event or Counter as a length-delimited field), with
 * room kept in front for the Frame's tag, length and the 4-byte prefix:
 * sealing a batch copies nothing.  Each batch also remembers what its
 * records counted (host, kind, decision, count; the counters' keys; the
 * fingerprints of its ChainSeen records), so that a batch that can be
 * neither delivered nor spooled gives its counts back to the queue instead
 * of losing them, and its chains are sent again later. */
#include "delivery.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEAD_ROOM 10                  /* prefix + Frame tag + varint */

static size_t varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return n;
}

static bool reserve(struct builder *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 64 * 1024;
	uint8_t *n;

	if (b->len + more <= b->cap)
		return true;
	while (cap < b->len + more)
		cap *= 2;
	n = realloc(b->buf, cap);
	if (n == NULL)
		return false;
	b->buf = n;
	b->cap = cap;
	return true;
}

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Starts a batch: room for the frame header, then Batch.id. */
static bool builder_open(struct builder *b)
{
	struct timespec t;

	if (b->nrec > 0)
		return true;
	b->len = 0;
	if (!reserve(b, HEAD_ROOM + 2 + WIRE_ID_LEN))
		return false;
	clock_gettime(CLOCK_REALTIME, &t);
	b->len = HEAD_ROOM;
	b->buf[b->len++] = 0x0a;           /* field 1, bytes */
	b->buf[b->len++] = WIRE_ID_LEN;
	event_make_id(b->buf + b->len, &t);
	b->len += WIRE_ID_LEN;
	b->opened = now_ms();
	return true;
}

/* Appends one length-delimited field (2: an Event, 3: a Counter, 4: a
 * ChainSeen). */
static bool builder_field(struct builder *b, unsigned field,
			  const uint8_t *data, size_t len)
{
	if (!builder_open(b) || !reserve(b, 1 + 10 + len))
		return false;
	b->buf[b->len++] = (uint8_t)(field << 3 | 2);
	b->len += varint(b->buf + b->len, len);
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->nrec++;
	return true;
}

bool batch_full(const struct builder *b, size_t max_frame)
{
	size_t limit = BATCH_MAX_BYTES;

	if (max_frame != 0 && max_frame / 2 < limit)
		limit = max_frame / 2;
	return b->nrec >= BATCH_MAX_RECORDS || b->len >= limit;
}

/* The least an Event can say, when record_pack cannot say more. */
static uint8_t *pack_minimal(const struct event *ev, size_t *len)
{
	Pinshim__Event e = PINSHIM__EVENT__INIT;
	uint8_t *out;

	e.id.data = (uint8_t *)ev->id;
	e.id.len = sizeof(ev->id);
	e.time_us = (int64_t)ev->time.tv_sec * 1000000 + ev->time.tv_nsec / 1000;
	e.kind = (Pinshim__Kind)(ev->kind + 1);
	e.decision = (Pinshim__Decision)(ev->decision + 1);
	e.host = (char *)ev->peer.host;
	e.port = (uint32_t)ev->peer.port;
	e.peer = (char *)ev->peer.addr;
	e.policy_version = (char *)ev->policy_version;
	e.mode = ev->mode == POLICY_ENFORCE ? PINSHIM__MODE__ENFORCE
					    : PINSHIM__MODE__OBSERVE;
	e.verify_error = ev->verify_error;
	e.message = (char *)ev->message;
	e.count = ev->count;
	e.last_time_us = (int64_t)ev->last_time.tv_sec * 1000000 +
			 ev->last_time.tv_nsec / 1000;
	if (ev->is_repeat) {
		e.repeat_of.data = (uint8_t *)ev->repeat_of;
		e.repeat_of.len = sizeof(ev->repeat_of);
	}
	*len = pinshim__event__get_packed_size(&e);
	out = malloc(*len ? *len : 1);
	if (out != NULL)
		pinshim__event__pack(&e, out);
	return out;
}

static bool add_sum(struct builder *b, const struct event *ev)
{
	struct sum *m;

	if (b->nsums == b->sums_cap) {
		size_t cap = b->sums_cap ? 2 * b->sums_cap : 64;
		struct sum *n = realloc(b->sums, cap * sizeof(*n));

		if (n == NULL)
			return false;
		b->sums = n;
		b->sums_cap = cap;
	}
	m = &b->sums[b->nsums];
	m->host = strdup(ev->peer.host);
	if (m->host == NULL)
		return false;
	m->port = ev->peer.port;
	m->kind = ev->kind;
	m->decision = ev->decision;
	m->count = ev->count;
	m->first = ev->time;
	m->last = ev->last_time;
	b->nsums++;
	return true;
}

void batch_add_event(struct builder *b, const struct event *ev)
{
	size_t len = 0;
	uint8_t *rec = record_pack(ev, &len);

	if (rec == NULL)
		rec = pack_minimal(ev, &len);
	if (rec != NULL && add_sum(b, ev)) {
		if (builder_field(b, 2, rec, len)) {
			free(rec);
			return;
		}
		b->nsums--;
		free(b->sums[b->nsums].host);
	}
	free(rec);
	/* Out of memory: the count survives as a summary record. */
	queue_fold(ev->peer.host, ev->peer.port, ev->kind, ev->decision,
		   ev->count, &ev->time, &ev->last_time);
}

/* Network, versions and host id are the sender's context: the same for
 * every counter of the process. */
static size_t pack_counter(const struct counter_rec *r, uint8_t *buf,
			   size_t size)
{
	Pinshim__Counter c = PINSHIM__COUNTER__INIT;
	const struct platform_info *pl = context_platform();
	const struct process_info *pr = context_process();
	const struct network_info *net = r->net;
	unsigned char id[16];
	char os[200];
	struct timespec t;
	size_t len;

	/* Counted before the network was first read: the first reading. */
	if (net == NULL || net->fingerprint[0] == '\0')
		net = context_network();
	clock_gettime(CLOCK_REALTIME, &t);
	event_make_id(id, &t);
	snprintf(os, sizeof(os), "%s%s%s", pl->os_id,
		 pl->os_version[0] != '\0' ? " " : "", pl->os_version);
	c.id.data = id;
	c.id.len = sizeof(id);
	c.hour = r->hour;
	c.host = (char *)r->host;
	c.port = (uint32_t)r->port;
	c.peer = (char *)r->addr;
	c.network = (char *)net->label;
	c.network_fingerprint = (char *)net->fingerprint;
	c.app_version = (char *)pr->app_version;
	c.libssl_version = (char *)pl->libssl_version;
	c.os = os;
	c.chain_fingerprint.data = (uint8_t *)r->chain_fp;
	c.chain_fingerprint.len = sizeof(r->chain_fp);
	c.successes = r->n.ok;
	c.failures = r->n.failed;
	c.resumed = r->n.resumed;
	c.resumed_failed = r->n.resumed_failed;
	c.host_id = (char *)pl->host_id;
	len = pinshim__counter__get_packed_size(&c);
	if (len > size)
		return 0;
	pinshim__counter__pack(&c, buf);
	return len;
}

void batch_add_counter(struct builder *b, const struct counter_rec *r)
{
	uint8_t buf[2048];
	size_t len = pack_counter(r, buf, sizeof(buf));

	if (len > 0 && b->nctrs == b->ctrs_cap) {
		size_t cap = b->ctrs_cap ? 2 * b->ctrs_cap : 64;
		struct counter_rec *n = realloc(b->ctrs, cap * sizeof(*n));

		if (n == NULL)
			len = 0;
		else {
			b->ctrs = n;
			b->ctrs_cap = cap;
		}
	}
	if (len == 0 || !builder_field(b, 3, buf, len)) {
		queue_counters_put(r, 1);      /* counted again later */
		return;
	}
	b->ctrs[b->nctrs++] = *r;
}

void batch_add_chain(struct builder *b, const struct chain_seen *cs)
{
	size_t len = 0;
	uint8_t *rec = NULL;

	if (b->nchains == b->chains_cap) {
		size_t cap = b->chains_cap ? 2 * b->chains_cap : 16;
		unsigned char (*n)[32] = realloc(b->chains, cap * sizeof(*n));

		if (n == NULL)
			goto fail;
		b->chains = n;
		b->chains_cap = cap;
	}
	rec = record_pack_chain(cs, &len);
	if (rec == NULL || !builder_field(b, 4, rec, len))
		goto fail;
	free(rec);
	memcpy(b->chains[b->nchains++], cs->fp, 32);
	return;
fail:
	free(rec);
	queue_chain_forget(cs->fp);
}

struct batch *batch_seal(struct builder *b)
{
	struct batch *bt;
	uint8_t hdr[HEAD_ROOM];
	size_t body = b->len - HEAD_ROOM, k = 0, frame_len;

	if (b->nrec == 0)
		return NULL;
	bt = calloc(1, sizeof(*bt));
	if (bt == NULL)
		return NULL;                   /* sealed on a later pass */
	/* Frame{batch = 3: body}, behind its 4-byte length. */
	hdr[k++] = 0x1a;
	k += varint(hdr + k, body);
	frame_len = k + body;
	bt->frame = b->buf + HEAD_ROOM - k - 4;
	bt->frame[0] = (uint8_t)(frame_len >> 24);
	bt->frame[1] = (uint8_t)(frame_len >> 16);
	bt->frame[2] = (uint8_t)(frame_len >> 8);
	bt->frame[3] = (uint8_t)frame_len;
	memcpy(bt->frame + 4, hdr, k);
	bt->len = frame_len + 4;
	bt->buf = b->buf;
	memcpy(bt->id, b->buf + HEAD_ROOM + 2, WIRE_ID_LEN);
	bt->sums = b->sums;
	bt->nsums = b->nsums;
	bt->ctrs = b->ctrs;
	bt->nctrs = b->nctrs;
	bt->chains = b->chains;
	bt->nchains = b->nchains;
	memset(b, 0, sizeof(*b));
	return bt;
}

void batch_fold_back(const struct batch *b)
{
	for (size_t i = 0; i < b->nsums; i++) {
		const struct sum *m = &b->sums[i];

		queue_fold(m->host != NULL ? m->host : "", m->port, m->kind,
			   m->decision, m->count, &m->first, &m->last);
	}
	queue_counters_put(b->ctrs, b->nctrs);
	for (size_t i = 0; i < b->nchains; i++)
		queue_chain_forget(b->chains[i]);
}

void batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->nsums; i++)
		free(b->sums[i].host);
	free(b->sums);
	free(b->ctrs);
	free(b->chains);
	free(b->claim);
	free(b->buf);
	free(b);
}

void batch_builder_free(struct builder *b)
{
	for (size_t i = 0; i < b->nsums; i++)
		free(b->sums[i].host);
	free(b->sums);
	free(b->ctrs);
	free(b->chains);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}
