/* The overview's causes, computed in the background.
 *
 * The overview shows each host's top cause and the timeline of failures by
 * cause; both need a diagnosis of every failing host, as long as
 * `diagnose` itself (around a second at ten million events): too slow for
 * the page an operator opens first.  So they are kept per filter (the
 * query string's since, until, host, network, version, kind) and a request
 * takes the last result, whose time the page shows.  A refresher thread
 * recomputes every result older than CAUSES_TTL_S that someone asked for
 * in the last CAUSES_IDLE_S, so the causes are at most that old while
 * someone watches, and nothing runs while nobody does.  Only the first
 * request for a filter computes in the request (or waits for the
 * refresher, already at it: the unfiltered overview is computed at start).
 *
 * A result is immutable once made and counted: a request keeps using the
 * one it took while the refresher puts a newer one in its slot. */
#include "web.h"
#include "viewer.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAUSES_TTL_S 30
#define CAUSES_IDLE_S 600
#define CAUSES_SLOTS 8                  /* filters kept, least used out */

enum { F_SINCE, F_UNTIL, F_HOST, F_NETWORK, F_VERSION, F_KIND, F_COUNT };

struct result {
	struct causes c;
	int refs;                       /* under cache.mu */
};

struct slot {
	char *key;                      /* the filter's texts, joined */
	char *text[F_COUNT];            /* NULL: not filtered on */
	struct result *res;             /* NULL until first computed */
	int64_t used_us;                /* last asked for */
	int64_t tried_us;               /* last computation started */
	bool busy;                      /* being computed */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot slots[CAUSES_SLOTS];
	const char *db;
	pthread_t thread;
	bool running, stop;
} cache = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static int64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* ---- results ----------------------------------------------------------- */

static void release(struct result *r)       /* under cache.mu */
{
	if (r == NULL || --r->refs > 0)
		return;
	report_diagnoses_free(&r->c.dg);
	report_timeline_free(&r->c.tl);
	free(r);
}

/* Computes the causes for a filter's texts, its relative times read from
 * now; NULL with err set. */
static struct result *compute(const char *db, char *const *text, char *err,
			      size_t errlen)
{
	struct report_filter f = { .host = text[F_HOST],
		.network = text[F_NETWORK], .version = text[F_VERSION],
		.kind = text[F_KIND] };
	struct result *r = calloc(1, sizeof(*r));
	struct store *s = NULL;

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->refs = 1;
	r->c.computed_us = now_us();
	if (report_filter_parse(&f, text[F_SINCE], text[F_UNTIL],
				r->c.computed_us, err, errlen) < 0 ||
	    (s = store_open(db, STORE_READ, STORE_SYNC_NORMAL, err,
			    errlen)) == NULL ||
	    report_diagnose(s, &f, &r->c.dg, err, errlen) < 0 ||
	    report_timeline(s, &f, &r->c.tl, err, errlen) < 0) {
		store_close(s);
		report_diagnoses_free(&r->c.dg);
		report_timeline_free(&r->c.tl);
		free(r);
		return NULL;
	}
	store_close(s);
	return r;
}

/* ---- slots ------------------------------------------------------------- */

static void slot_clear(struct slot *s)      /* under cache.mu */
{
	release(s->res);
	free(s->key);
	for (int i = 0; i < F_COUNT; i++)
		free(s->text[i]);
	*s = (struct slot){ 0 };
}

/* "\x01since\x1f..." : each field present or not, then its text. */
static char *key_of(char *const *text)
{
	size_t n = 1;
	char *k, *p;

	for (int i = 0; i < F_COUNT; i++)
		n += 2 + (text[i] ? strlen(text[i]) : 0);
	if ((k = p = malloc(n)) == NULL)
		return NULL;
	for (int i = 0; i < F_COUNT; i++) {
		*p++ = text[i] ? '\x01' : '\x02';
		if (text[i])
			p = stpcpy(p, text[i]);
		*p++ = '\x1f';
	}
	*p = '\0';
	return k;
}

static struct slot *find(const char *key)   /* under cache.mu */
{
	for (int i = 0; i < CAUSES_SLOTS; i++)
		if (cache.slots[i].key && strcmp(cache.slots[i].key, key) == 0)
			return &cache.slots[i];
	return NULL;
}

/* A slot for key: an empty one, or the least recently used that is not
 * being computed; NULL when all are busy or out of memory. */
static struct slot *claim(char *key, char *const *text)
{
	struct slot *s = NULL;

	for (int i = 0; i < CAUSES_SLOTS; i++) {
		struct slot *c = &cache.slots[i];

		if (c->busy)
			continue;
		if (c->key == NULL) {
			s = c;
			break;
		}
		if (s == NULL || c->used_us < s->used_us)
			s = c;
	}
	if (s == NULL)
		return NULL;
	slot_clear(s);
	for (int i = 0; i < F_COUNT; i++)
		if (text[i] != NULL && (s->text[i] = strdup(text[i])) == NULL) {
			slot_clear(s);
			return NULL;
		}
	s->key = key;
	return s;
}

/* Computes key's slot s (marked busy, its texts copied) without the lock
 * held, and puts the result in: the result (a reference) or NULL. */
static struct result *fill(struct slot *s, const char *key, char *err,
			   size_t errlen)
{
	char *text[F_COUNT] = { 0 };
	struct result *r = NULL;
	bool oom = false;

	s->busy = true;
	s->tried_us = now_us();
	for (int i = 0; i < F_COUNT; i++)
		if (s->text[i] && (text[i] = strdup(s->text[i])) == NULL)
			oom = true;
	pthread_mutex_unlock(&cache.mu);
	if (oom)
		snprintf(err, errlen, "out of memory");
	else
		r = compute(cache.db, text, err, errlen);
	for (int i = 0; i < F_COUNT; i++)
		free(text[i]);
	pthread_mutex_lock(&cache.mu);
	s = find(key);                  /* busy slots stay where they are */
	s->busy = false;
	if (r != NULL) {
		release(s->res);
		s->res = r;
		r->refs++;
	}
	pthread_cond_broadcast(&cache.cv);
	return r;
}

/* ---- the request's side ------------------------------------------------ */

/* A time filter as a key: reports read hourly rollups, so "since 2h" and
 * "since 119m", or two instants within one hour, ask the same question and
 * share one computation (each new key costs a whole diagnosis).  Relative
 * texts become whole hours ("2h"), instants their hour (since: its start,
 * until: the next one).  NULL stays NULL. */
static const char *hour_text(const char *text, bool since, char out[40])
{
	int64_t now = now_us(), t;

	if (text == NULL || time_parse_since(text, now, &t) < 0)
		return text;
	if (text[0] >= '0' && text[0] <= '9' && strchr(text, 'T') == NULL) {
		int64_t h = (now - t + 3599999999LL) / 3600000000LL;

		snprintf(out, 40, "%lldh", (long long)h);
		return out;
	}
	t = t / 3600000000LL * 3600LL + (since || t % 3600000000LL == 0 ? 0
								: 3600);
	time_rfc3339_s(t, out, 40);
	return out;
}

const struct causes *causes_get(const struct web_query *q, char *err,
				size_t errlen)
{
	char since[40], until[40];
	char *text[F_COUNT] = {
		(char *)hour_text(q->since_text, true, since),
		(char *)hour_text(q->until_text, false, until),
		(char *)q->f.host, (char *)q->f.network, (char *)q->f.version,
		(char *)q->f.kind };
	char *key = key_of(text);
	struct result *r = NULL;
	struct slot *s;

	if (key == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&cache.mu);
	while ((s = find(key)) != NULL && s->res == NULL && s->busy)
		pthread_cond_wait(&cache.cv, &cache.mu);
	if (s == NULL && (s = claim(key, text)) != NULL)
		key = NULL;             /* the slot's now */
	if (s != NULL) {
		s->used_us = now_us();
		if (s->res != NULL) {
			r = s->res;
			r->refs++;
		} else {
			r = fill(s, s->key, err, errlen);
		}
	}
	pthread_mutex_unlock(&cache.mu);
	if (s == NULL)                  /* every slot busy: not kept */
		r = compute(cache.db, text, err, errlen);
	free(key);
	return r != NULL ? &r->c : NULL;
}

void causes_put(const struct causes *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&cache.mu);
	release((struct result *)((char *)c - offsetof(struct result, c)));
	pthread_mutex_unlock(&cache.mu);
}

/* ---- the refresher ----------------------------------------------------- */

/* A slot due: asked for lately, not tried within the TTL (a failure is
 * not retried at once), and never computed or computed before the TTL. */
static struct slot *due(int64_t now)
{
	const int64_t ttl = CAUSES_TTL_S * 1000000LL;

	for (int i = 0; i < CAUSES_SLOTS; i++) {
		struct slot *s = &cache.slots[i];

		if (s->key == NULL || s->busy ||
		    now - s->used_us >= CAUSES_IDLE_S * 1000000LL ||
		    now - s->tried_us < ttl)
			continue;
		if (s->res == NULL || now - s->res->c.computed_us >= ttl)
			return s;
	}
	return NULL;
}

static void *refresher(void *arg)
{
	char err[512];

	pthread_mutex_lock(&cache.mu);
	while (!cache.stop) {
		struct slot *s = due(now_us());
		struct result *r;
		struct timespec t;

		if (s != NULL) {
			char *key = strdup(s->key);

			if (key == NULL)
				s->tried_us = now_us();
			else if ((r = fill(s, key, err, sizeof(err))) != NULL)
				release(r);
			else
				fprintf(stderr, "pinshim-view: serve: causes: "
					"%s\n", err);
			free(key);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += 1;
		pthread_cond_timedwait(&cache.cv, &cache.mu, &t);
	}
	pthread_mutex_unlock(&cache.mu);
	return arg;
}

int causes_start(const char *db)
{
	char *none[F_COUNT] = { 0 };
	char *key = key_of(none);
	struct slot *s;

	cache.db = db;
	pthread_mutex_lock(&cache.mu);
	/* the unfiltered overview, computed before anyone asks */
	if (key != NULL && (s = claim(key, none)) != NULL)
		s->used_us = now_us();
	else
		free(key);
	pthread_mutex_unlock(&cache.mu);
	if (pthread_create(&cache.thread, NULL, refresher, NULL) != 0)
		return -1;
	cache.running = true;
	return 0;
}

void causes_stop(void)
{
	if (cache.running) {
		pthread_mutex_lock(&cache.mu);
		cache.stop = true;
		pthread_cond_broadcast(&cache.cv);
		pthread_mutex_unlock(&cache.mu);
		pthread_join(cache.thread, NULL);
		cache.running = false;
	}
	pthread_mutex_lock(&cache.mu);
	for (int i = 0; i < CAUSES_SLOTS; i++)
		slot_clear(&cache.slots[i]);
	pthread_mutex_unlock(&cache.mu);
}
