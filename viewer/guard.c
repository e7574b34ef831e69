/* What keeps the web page serving when clients misbehave (web.h):
 *
 * - an absolute deadline on the request line and headers: libmicrohttpd's
 *   own timeout restarts with every byte, so a client that trickles a
 *   header line every few seconds would hold its connection for ever (64
 *   of them locked an address out).  Each connection is noted when it
 *   opens; a watchdog shuts down those whose headers are not complete by
 *   the deadline.
 * - NUL bytes: a "%00" in the path or the query would cut the value short
 *   ("/host/nul%00x" served host "nul"): the request is refused instead.
 * - the expensive work (reports) runs a few at a time; a request that
 *   finds every slot taken waits a little, then gets 503 and Retry-After,
 *   so a burst of new filters cannot starve the cheap pages. */
#include "web.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct guard_conn {
	struct guard_conn *prev, *next;
	int fd;
	long long born_ms;
	bool headers;           /* the request reached the handler */
	bool cut;
	bool nul;               /* a %00 was decoded in its URL */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;              /* stop; a slot given back */
	struct guard_conn *head;
	int header_ms;
	pthread_t watchdog;
	bool running, stopping;
	unsigned busy, busy_max;
	int queue_ms;
} g = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

static long long mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static struct guard_conn *conn_guard(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i != NULL ? i->socket_context : NULL;
}

void guard_notify(void *cls, struct MHD_Connection *c, void **ctx,
		  enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *i;
	struct guard_conn *gc;

	(void)cls;
	pthread_mutex_lock(&g.lock);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		gc = calloc(1, sizeof(*gc));
		if (gc != NULL && i != NULL) {
			gc->fd = i->connect_fd;
			gc->born_ms = mono_ms();
			gc->next = g.head;
			if (g.head != NULL)
				g.head->prev = gc;
			g.head = gc;
		}
		*ctx = gc;
	} else if ((gc = *ctx) != NULL) {
		if (gc->prev != NULL)
			gc->prev->next = gc->next;
		else
			g.head = gc->next;
		if (gc->next != NULL)
			gc->next->prev = gc->prev;
		free(gc);
		*ctx = NULL;
	}
	pthread_mutex_unlock(&g.lock);
}

size_t guard_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	struct guard_conn *gc = conn_guard(c);
	size_t n;

	(void)cls;
	n = MHD_http_unescape(s);
	if (memchr(s, '\0', n) != NULL && gc != NULL) {
		pthread_mutex_lock(&g.lock);
		gc->nul = true;
		pthread_mutex_unlock(&g.lock);
	}
	return n;
}

bool guard_request(struct MHD_Connection *c)
{
	struct guard_conn *gc = conn_guard(c);
	bool nul = false;

	pthread_mutex_lock(&g.lock);
	if (gc != NULL) {
		gc->headers = true;
		nul = gc->nul;
	}
	pthread_mutex_unlock(&g.lock);
	return !nul;
}

/* Connections past the header deadline are shut down; libmicrohttpd then
 * sees them end and closes them (the descriptor stays its own). */
static void *watchdog(void *arg)
{
	struct timespec t;

	(void)arg;
	pthread_mutex_lock(&g.lock);
	while (!g.stopping) {
		long long now = mono_ms();

		for (struct guard_conn *c = g.head; c != NULL; c = c->next) {
			if (!c->headers && !c->cut &&
			    now - c->born_ms >= g.header_ms) {
				shutdown(c->fd, SHUT_RDWR);
				c->cut = true;
			}
		}
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += 250 * 1000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g.cv, &g.lock, &t);
	}
	pthread_mutex_unlock(&g.lock);
	return NULL;
}

int guard_start(int header_ms, unsigned busy_max, int queue_ms)
{
	g.header_ms = header_ms;
	g.busy_max = busy_max;
	g.queue_ms = queue_ms;
	g.running = pthread_create(&g.watchdog, NULL, watchdog, NULL) == 0;
	return g.running ? 0 : -1;
}

void guard_stop(void)
{
	if (!g.running)
		return;
	pthread_mutex_lock(&g.lock);
	g.stopping = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.lock);
	pthread_join(g.watchdog, NULL);
	g.running = false;
}

bool guard_busy_enter(void)
{
	struct timespec t;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += g.queue_ms / 1000;
	t.tv_nsec += (long)(g.queue_ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g.lock);
	while (g.busy >= g.busy_max && !g.stopping &&
	       pthread_cond_timedwait(&g.cv, &g.lock, &t) == 0)
		;
	ok = g.busy < g.busy_max;
	if (ok)
		g.busy++;
	pthread_mutex_unlock(&g.lock);
	return ok;
}

void guard_busy_leave(void)
{
	pthread_mutex_lock(&g.lock);
	g.busy--;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.lock);
}
