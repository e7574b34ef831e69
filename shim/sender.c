/* The sender thread: takes records from the queue, appends them to
 * PINSHIM_EVENTS_FILE, packs them into Batch frames and delivers those to
 * the collector, or to the spool while the collector cannot take them.
 *
 * One thread per process, started by the first event (or counted handshake
 * with a collector configured), never in a constructor, never in a process
 * with no telemetry configured.  It owns every socket and file the shim
 * opens and is the only place that waits: the handshake path never waits
 * for it.  Every network step has a deadline, so a collector that is down,
 * slow or blackholing costs batches a detour through the spool, nothing
 * else.  No OpenSSL call of its own: at exit only context.c's network
 * refresh hashes with it, from the atexit handler below, which runs before
 * libcrypto's OPENSSL_cleanup (registered earlier, so run later).
 *
 * The connection (plain TCP: the shim's own traffic must not enter its
 * hooks) follows proto/pinshim.proto: Hello with the shared token, wait for
 * Welcome, then batches pipelined (up to WINDOW unacknowledged), one Ack per
 * batch after the collector committed it.  A batch is freed on its Ack; a
 * batch in flight when the connection drops goes out again on the next one;
 * while the collector is unreachable batches go to the spool, which is
 * replayed after each (re)connection.  Reconnection backs off from 100 ms to
 * 30 s, with jitter.  One info line per outage, none per retry.
 *
 * fork: the child starts empty, closes the parent's descriptors and starts
 * its own sender on its first record.  exit: an atexit handler (registered
 * after libcrypto's, so it runs before OPENSSL_cleanup) has the thread flush
 * for at most EXIT_FLUSH_MS and spool what is left. */
#include "delivery.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 1000                  /* windows, network, overflow logs */
#define COUNTERS_DOWN_MS 10000        /* while down: fewer spool files */
#define NETWORK_MAX_AGE_S 30
#define LINGER_MS 1000                /* while down: fewer, larger files */
#define WINDOW 4                      /* batches awaiting their Ack */
#define OUTBOX_MAX 8                  /* sealed batches kept in memory */
#define CONNECT_TIMEOUT_MS 3000
#define WELCOME_TIMEOUT_MS 3000
#define ACK_TIMEOUT_MS 10000          /* also: a stalled write */
#define IDLE_CLOSE_MS 20000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define EXIT_FLUSH_MS 200             /* the network part of exit */
#define EXIT_WAIT_MS 3000             /* exit's cap on flush + spool */
#define TAKE_MAX 256
#define RBUF_MAX 65536                /* Welcome, Ack, Error: small */

struct list {
	struct batch *head, *tail;
	size_t n;
};

enum conn_state { C_DOWN, C_CONNECTING, C_HELLO, C_READY };

struct sender {
	struct sender *orphan_next;       /* fork: the parent's, kept reachable */
	struct batch *transit;            /* on its way to disk (see fork) */
	pthread_t thread;
	bool thread_ok;
	pid_t pid;                        /* the process it delivers for */
	struct qitem items[TAKE_MAX];
	struct builder b;
	struct list out;                  /* sealed, not yet sent */
	struct list fly;                  /* sent or being sent, not acked */
	struct batch *wnext;              /* first of fly not fully written */
	size_t woff;
	/* the connection */
	int fd;
	enum conn_state st;
	long long deadline;               /* connect / Welcome */
	long long progress;               /* last write progress or Ack */
	long long idle_since;
	uint8_t *hello;
	size_t hello_len, hello_off;
	uint8_t rbuf[RBUF_MAX];
	size_t rlen;
	size_t max_frame;
	struct addrinfo *ai;
	/* reconnection */
	long long next_attempt;
	int backoff_ms;
	bool down;                        /* the last attempt failed */
	bool outage_logged, refused_logged;
	unsigned char refused_id[16];     /* the batch an Error answered last */
	long long down_since;
	unsigned spooled;                 /* batches spooled this outage */
	/* timers and flags */
	long long next_tick, next_counters;
	bool exiting;
	bool lost_logged, file_logged;
};

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static atomic_bool started;
static atomic_bool stopping;
static bool done;
static struct sender *S;
static struct sender *orphans;
static atomic_int wake_fd = -1;
static atomic_bool sleeping;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static bool atexit_done;              /* inherited by children: once */
static atomic_int owned[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };
/* Held by the sender thread while it works (not while it waits in poll or
 * fsync): fork takes it, so a child never inherits the sender's state half
 * changed, nor memory only the vanished thread's stack pointed to. */
static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int forking;            /* threads waiting in fork_prepare */
static __thread bool on_sender __attribute__((tls_model("initial-exec")));

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void sender_own_fd(int fd)
{
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		int none = -1;

		if (atomic_compare_exchange_strong(&owned[i], &none, fd))
			return;
	}
}

void sender_disown_fd(int fd)
{
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		int was = fd;

		if (atomic_compare_exchange_strong(&owned[i], &was, -1))
			return;
	}
}

/* Lets a fork in between two pieces of work. */
static void yield_point(void)
{
	if (atomic_load(&forking) == 0)
		return;
	pthread_mutex_unlock(&work_lock);
	while (atomic_load(&forking) > 0)
		sched_yield();
	pthread_mutex_lock(&work_lock);
}

/* Around a wait on the disk (spool.c): a fork need not wait for it. */
void sender_io_begin(void)
{
	if (on_sender)
		pthread_mutex_unlock(&work_lock);
}

void sender_io_end(void)
{
	if (on_sender)
		pthread_mutex_lock(&work_lock);
}

static void close_owned(int fd)
{
	if (fd < 0)
		return;
	sender_disown_fd(fd);
	close(fd);
}

void sender_wake(void)
{
	int fd;
	uint64_t one = 1;

	if (!atomic_exchange(&sleeping, false))
		return;
	fd = atomic_load(&wake_fd);
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		return;                    /* full counter: it is awake anyway */
}

static void list_push(struct list *l, struct batch *b)
{
	b->next = NULL;
	if (l->tail != NULL)
		l->tail->next = b;
	else
		l->head = b;
	l->tail = b;
	l->n++;
}

static struct batch *list_pop(struct list *l)
{
	struct batch *b = l->head;

	if (b == NULL)
		return NULL;
	l->head = b->next;
	if (l->head == NULL)
		l->tail = NULL;
	l->n--;
	b->next = NULL;
	return b;
}

/* Counts that can go nowhere come back as records later (queue.c); at
 * exit there is no later. */
static void fold_back(struct sender *s, struct batch *b)
{
	batch_fold_back(b);
	if (s->exiting && (b->nsums > 0 || b->nctrs > 0) && !s->lost_logged &&
	    !spool_refused()) {
		shim_log(LOG_ERROR, "exit: %zu record(s) could be neither "
			 "delivered nor spooled and are lost", b->nsums + b->nctrs);
		s->lost_logged = true;
	}
}

/* Writes b to the spool, or folds its counts back: it leaves memory. */
static void spool_batch(struct sender *s, struct batch *b)
{
	s->transit = b;
	if (b->claim != NULL) {
		spool_release(b->claim);   /* still on disk */
		b->claim = NULL;
	} else if (spool_write(b->id, b->frame, b->len) == 0) {
		s->spooled++;
	} else {
		fold_back(s, b);
	}
	s->transit = NULL;
	batch_free(b);
	yield_point();
}

static void spool_all(struct sender *s)
{
	struct batch *b;

	while ((b = list_pop(&s->fly)) != NULL)
		spool_batch(s, b);
	s->wnext = NULL;
	while ((b = list_pop(&s->out)) != NULL)
		spool_batch(s, b);
}

/* ---- batches ---- */

static void seal(struct sender *s);

static const char *collector(void);

static void add_event(struct sender *s, const struct event *ev)
{
	if (collector() == NULL)
		return;                    /* no wire libraries (see run) */
	batch_add_event(&s->b, ev);
	if (batch_full(&s->b, s->max_frame))
		seal(s);
}

static void take_counters(struct sender *s)
{
	size_t n;
	struct counter_rec *r = queue_counters_take(&n);

	for (size_t i = 0; i < n; i++) {
		batch_add_counter(&s->b, &r[i]);
		if (batch_full(&s->b, s->max_frame))
			seal(s);
	}
	free(r);
}

/* The builder's batch onto the outbox, or the spool while the collector
 * is down. */
static void seal(struct sender *s)
{
	struct batch *bt = batch_seal(&s->b);

	if (bt == NULL)
		return;
	if (bt->len - 4 > WIRE_MAX_FRAME ||
	    (s->max_frame != 0 && bt->len - 4 > s->max_frame)) {
		shim_log(LOG_ERROR, "batch of %zu bytes exceeds the collector's "
			 "frame limit: its records are summarised", bt->len - 4);
		fold_back(s, bt);
		batch_free(bt);
		return;
	}
	if (s->down || s->out.n >= OUTBOX_MAX)
		spool_batch(s, bt);
	else
		list_push(&s->out, bt);
}

/* ---- the queue ---- */

/* Opened without blocking (a FIFO nobody reads would hold every exit)
 * and kept only when it is a regular file. */
static int open_events_file(struct sender *s)
{
	const char *path = config_settings()->events_file;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
		      O_NONBLOCK | O_NOCTTY, 0600);
	const char *why = fd < 0 ? strerror(errno) : NULL;
	struct stat st;

	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		why = "not a regular file";
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		if (!s->file_logged)
			shim_log(LOG_ERROR, "cannot open PINSHIM_EVENTS_FILE %s: %s",
				 path, why);
		s->file_logged = true;
		return -1;
	}
	sender_own_fd(fd);
	return fd;
}

/* One write per line: concurrent writers never interleave within one. */
static void write_line(struct sender *s, int fd, const struct event *ev)
{
	char *line = record_json(ev);
	size_t len;

	if (line == NULL || fd < 0) {
		free(line);
		return;
	}
	len = strlen(line);
	if (write(fd, line, len) != (ssize_t)len && !s->file_logged) {
		shim_log(LOG_ERROR, "short write to PINSHIM_EVENTS_FILE %s",
			 config_settings()->events_file);
		s->file_logged = true;
	}
	free(line);
}

/* The chains counted for the first time: completed here (pins, subjects,
 * sha256; no DER: the counters only need to name the certificates), into
 * the batch.  One at a time: a fork (at a yield point, in seal) finds
 * none of them held here. */
static void take_chains(struct sender *s)
{
	struct chain_seen *cs;

	while (queue_chains_take(&cs, 1) == 1) {
		size_t no_der = 0;
		bool whole = true;

		chain_complete(&cs->chain, NULL, &no_der);
		/* after OPENSSL_cleanup nothing could be read */
		for (size_t i = 0; i < cs->chain.n; i++)
			whole = whole && cs->chain.certs[i].held == NULL;
		if (whole && collector() != NULL)
			batch_add_chain(&s->b, cs);
		chain_release(&cs->chain);
		free(cs);
		if (batch_full(&s->b, s->max_frame))
			seal(s);
		yield_point();
	}
}

/* Takes what is queued: lines to the events file, records to batches.
 * Bounded per pass, so the connection is served under a flood too. */
static void drain(struct sender *s, bool all)
{
	for (int pass = 0; all || pass < 8; pass++) {
		size_t n = queue_take(s->items, TAKE_MAX);
		int fd = -1;

		for (size_t i = 0; i < n && fd < 0; i++)
			if (s->items[i].dest & DEST_FILE)
				fd = open_events_file(s);
		for (size_t i = 0; i < n; i++) {
			struct qitem *it = &s->items[i];

			/* Pins and details, derived here, off the handshake. */
			event_complete(it->ev);
			if (it->dest & DEST_FILE)
				write_line(s, fd, it->ev);
			if (it->dest & DEST_WIRE)
				add_event(s, it->ev);
			event_free(it->ev);
			it->ev = NULL;
			yield_point();
		}
		close_owned(fd);
		if (n < TAKE_MAX)
			break;
	}
	take_chains(s);
}

/* ---- the connection ---- */

/* The wire needs protobuf-c and zlib (the spool's CRC), opened by the
 * sender thread when it starts (lazy.c): without them, no collector. */
static atomic_bool wire_libs;

static const char *collector(void)
{
	return atomic_load_explicit(&wire_libs, memory_order_relaxed)
		? config_settings()->collector : NULL;
}

static void open_wire_libs(void)
{
	const char *c = config_settings()->collector;

	if (c == NULL)
		return;
	if (lazy_need(LAZY_PROTOBUFC) && lazy_need(LAZY_ZLIB))
		atomic_store(&wire_libs, true);
	else
		shim_log(LOG_ERROR, "events and counters for %s are not "
			 "delivered: a library they need is missing", c);
}

/* "host:port", "[v6]:port": the first address, resolved once per
 * sender (numeric hosts need no lookup, and none happens at exit). */
static struct addrinfo *resolve(struct sender *s, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	char host[256];
	const char *c = collector(), *colon = strrchr(c, ':');
	size_t hl;
	int r;

	if (s->ai != NULL)
		return s->ai;
	if (colon == NULL || colon == c || colon[1] == '\0') {
		snprintf(err, errlen, "not host:port");
		return NULL;
	}
	hl = (size_t)(colon - c);
	if (c[0] == '[' && colon[-1] == ']') {
		c++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		snprintf(err, errlen, "host name too long");
		return NULL;
	}
	memcpy(host, c, hl);
	host[hl] = '\0';
	hints.ai_flags |= AI_NUMERICHOST;
	r = getaddrinfo(host, colon + 1, &hints, &s->ai);
	if (r == EAI_NONAME && !s->exiting) {
		hints.ai_flags &= ~AI_NUMERICHOST;
		r = getaddrinfo(host, colon + 1, &hints, &s->ai);
	}
	if (r != 0) {
		s->ai = NULL;
		snprintf(err, errlen, "resolve: %s", gai_strerror(r));
	}
	return s->ai;
}

/* The shared token: the policy's token file, read at each connection,
 * trailing whitespace (the file's newline) dropped. */
static size_t read_token(uint8_t *out, size_t max)
{
	const char *path = config_settings()->token_path;
	ssize_t n;
	int fd;

	if (path == NULL)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	sender_own_fd(fd);
	n = read(fd, out, max);
	close_owned(fd);
	if (n < 0)
		n = 0;
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' ||
			 out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	return (size_t)n;
}

static bool make_hello(struct sender *s)
{
	Pinshim__Hello h = PINSHIM__HELLO__INIT;
	Pinshim__Frame f;
	uint8_t token[WIRE_MAX_TOKEN];
	char who[512];
	const char *exe = context_process()->exe, *slash = strrchr(exe, '/');

	snprintf(who, sizeof(who), "%.200s[%d]@%.200s", slash ? slash + 1 : exe,
		 (int)getpid(), context_platform()->hostname);
	h.protocol = WIRE_PROTOCOL;
	h.token.data = token;
	h.token.len = read_token(token, sizeof(token));
	h.sender = who;
	wire_frame_hello(&f, &h);
	free(s->hello);
	s->hello = wire_pack(&f, &s->hello_len);
	s->hello_off = 0;
	return s->hello != NULL;
}

static void conn_close(struct sender *s)
{
	struct batch *b;
	struct list back = { 0 };

	close_owned(s->fd);
	s->fd = -1;
	s->st = C_DOWN;
	s->rlen = 0;
	free(s->hello);
	s->hello = NULL;
	/* Unacknowledged: again on the next connection, in order; replayed
	 * spool files simply go back to the spool. */
	while ((b = list_pop(&s->fly)) != NULL) {
		b->written_at = 0;
		if (b->claim != NULL) {
			spool_release(b->claim);
			b->claim = NULL;
			batch_free(b);
		} else {
			list_push(&back, b);
		}
	}
	while ((b = list_pop(&s->out)) != NULL)
		list_push(&back, b);
	s->out = back;
	s->wnext = NULL;
	s->woff = 0;
}

static int jitter(int ms)
{
	unsigned r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (unsigned)now_ms();
	return ms * 3 / 4 + (int)(r % (unsigned)(ms / 2 + 1));
}

/* The collector cannot be reached (or refused us): spool, back off. */
static void conn_fail(struct sender *s, enum log_level level, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));

static void conn_fail(struct sender *s, enum log_level level, const char *fmt,
		      ...)
{
	bool was_ready = s->st == C_READY;
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	conn_close(s);
	s->next_attempt = now_ms() + jitter(s->backoff_ms);
	s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
							   : s->backoff_ms * 2;
	if (was_ready) {
		/* Lost a working connection: one quick retry before the
		 * batches go to disk. */
		shim_log(LOG_DEBUG, "collector %s: %s; reconnecting",
			 collector(), why);
		return;
	}
	if (!s->down) {
		s->down = true;
		s->down_since = now_ms();
		s->spooled = 0;
		spool_new_outage();
	}
	if (!s->outage_logged)
		shim_log(level, "collector %s: %s; batches are spooled to %s "
			 "until it is back", collector(), why,
			 config_settings()->spool_dir);  /* never NULL */
	s->outage_logged = true;
	if (s->ai != NULL && !s->exiting) {   /* look the name up again */
		freeaddrinfo(s->ai);
		s->ai = NULL;
	}
	spool_all(s);
}

static void conn_start(struct sender *s)
{
	char err[200];
	struct addrinfo *ai = resolve(s, err, sizeof(err));
	int fd, one = 1;

	if (ai == NULL) {
		s->st = C_CONNECTING;      /* so that conn_fail counts it */
		/* A malformed address is a configuration error; a name that
		 * does not resolve now is an outage like any other. */
		conn_fail(s, strncmp(err, "resolve", 7) == 0 ? LOG_INFO
							      : LOG_ERROR,
			  "%s", err);
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		s->st = C_CONNECTING;
		conn_fail(s, LOG_INFO, "socket: %s", strerror(errno));
		return;
	}
	sender_own_fd(fd);
	s->fd = fd;
	s->st = C_CONNECTING;
	s->deadline = now_ms() + CONNECT_TIMEOUT_MS;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Through the shim's own connect() wrapper, which only notes the
	 * descriptor for this (never handshaking) thread: harmless. */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
	    errno != EINPROGRESS)
		conn_fail(s, LOG_INFO, "connect: %s", strerror(errno));
}

static void connected(struct sender *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		conn_fail(s, LOG_INFO, "connect: %s", strerror(err));
		return;
	}
	if (!make_hello(s)) {
		conn_fail(s, LOG_ERROR, "out of memory for the Hello");
		return;
	}
	s->st = C_HELLO;
	s->deadline = now_ms() + WELCOME_TIMEOUT_MS;
}

static void welcomed(struct sender *s, const Pinshim__Welcome *w)
{
	s->st = C_READY;
	s->max_frame = w->max_frame;
	s->backoff_ms = BACKOFF_MIN_MS;
	s->progress = s->idle_since = now_ms();
	if (s->down && s->outage_logged)
		shim_log(LOG_INFO, "collector %s is reachable again after %lld s "
			 "(%u batch(es) spooled meanwhile)", collector(),
			 (now_ms() - s->down_since) / 1000, s->spooled);
	s->down = false;
	s->outage_logged = false;
	spool_rescan();                    /* replay what waits */
}

static void acked(struct sender *s, const Pinshim__Ack *a)
{
	struct batch *b = s->fly.head;

	if (b == NULL || b == s->wnext || a->batch_id.len != WIRE_ID_LEN ||
	    memcmp(a->batch_id.data, b->id, WIRE_ID_LEN) != 0) {
		conn_fail(s, LOG_INFO, "protocol: an Ack for another batch");
		return;
	}
	list_pop(&s->fly);
	if (b->claim != NULL) {
		spool_done(b->claim);
		b->claim = NULL;
	}
	batch_free(b);
	s->progress = s->idle_since = now_ms();
	spool_note_delivery();
}

/* The collector answered a batch with an Error (it answers in order: the
 * oldest one not acknowledged).  Its message does not say whether trying
 * again can help (a database error) or not (a batch it refuses), so the
 * batch gets a second chance on a new connection; refused twice in a row,
 * it would hold up every batch behind it forever: a replayed file is moved
 * aside, a batch in memory is summarised (its counts come back as
 * records). */
static void refused(struct sender *s, const char *message)
{
	struct batch *b = s->fly.head;
	char why[300];

	snprintf(why, sizeof(why), "refused by the collector: %.200s", message);
	if (b != NULL && b != s->wnext &&
	    memcmp(s->refused_id, b->id, sizeof(b->id)) != 0) {
		memcpy(s->refused_id, b->id, sizeof(b->id));
		b = NULL;                  /* once: perhaps transient */
	}
	if (b != NULL && b != s->wnext) {
		list_pop(&s->fly);
		if (b->claim != NULL) {
			spool_reject(b->claim, why);
			b->claim = NULL;
		} else {
			shim_log(LOG_ERROR, "batch %s; its records are "
				 "summarised", why);
			fold_back(s, b);
		}
		batch_free(b);
	}
	conn_fail(s, LOG_INFO, "%s", why);
}

/* One complete frame from the collector. */
static void frame_in(struct sender *s, const uint8_t *body, size_t len)
{
	char err[200];
	Pinshim__Frame *f = wire_unpack(body, len, err, sizeof(err));

	if (f == NULL) {
		conn_fail(s, LOG_INFO, "protocol: %s", err);
		return;
	}
	if (f->body_case == PINSHIM__FRAME__BODY_ERROR && f->error->transient) {
		/* busy, full or stopping: every batch is kept for later */
		conn_fail(s, LOG_INFO, "the collector cannot take batches now: "
			  "%.200s", f->error->message);
	} else if (f->body_case == PINSHIM__FRAME__BODY_WELCOME &&
		   s->st == C_HELLO) {
		welcomed(s, f->welcome);
	} else if (f->body_case == PINSHIM__FRAME__BODY_ACK &&
		   s->st == C_READY) {
		acked(s, f->ack);
	} else if (f->body_case == PINSHIM__FRAME__BODY_ERROR &&
		   s->st == C_READY) {
		refused(s, f->error->message);
	} else if (f->body_case == PINSHIM__FRAME__BODY_ERROR) {
		/* A wrong token is a configuration error worth one line. */
		conn_fail(s, s->refused_logged ? LOG_INFO : LOG_ERROR,
			  "refused this sender: %.200s", f->error->message);
		s->refused_logged = true;
	} else {
		conn_fail(s, LOG_INFO, "protocol: unexpected frame %d",
			  (int)f->body_case);
	}
	wire_free(f);
}

static void read_in(struct sender *s)
{
	for (;;) {
		ssize_t n = recv(s->fd, s->rbuf + s->rlen,
				 sizeof(s->rbuf) - s->rlen, MSG_DONTWAIT);
		size_t off = 0;

		if (n == 0) {
			if (s->st == C_READY && s->fly.n == 0 && s->out.n == 0) {
				conn_close(s);     /* closed an idle connection */
				return;
			}
			conn_fail(s, LOG_INFO, "connection closed by the collector");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_fail(s, LOG_INFO, "read: %s", strerror(errno));
			return;
		}
		s->rlen += (size_t)n;
		while (s->fd >= 0 && s->rlen - off >= 4) {
			const uint8_t *p = s->rbuf + off;
			size_t fl = (size_t)p[0] << 24 | (size_t)p[1] << 16 |
				    (size_t)p[2] << 8 | p[3];

			if (fl > sizeof(s->rbuf) - 4) {
				conn_fail(s, LOG_INFO, "protocol: a frame of %zu "
					  "bytes from the collector", fl);
				return;
			}
			if (s->rlen - off < 4 + fl)
				break;
			frame_in(s, p + 4, fl);
			off += 4 + fl;
		}
		if (s->fd < 0)
			return;
		memmove(s->rbuf, s->rbuf + off, s->rlen - off);
		s->rlen -= off;
	}
}

/* Writes what is pending: the Hello, then the batches in flight. */
static void write_out(struct sender *s)
{
	while (s->fd >= 0) {
		const uint8_t *p;
		size_t left;
		ssize_t n;

		if (s->hello != NULL && s->hello_off < s->hello_len) {
			p = s->hello + s->hello_off;
			left = s->hello_len - s->hello_off;
		} else if (s->st == C_READY && s->wnext != NULL) {
			p = s->wnext->frame + s->woff;
			left = s->wnext->len - s->woff;
		} else {
			return;
		}
		n = send(s->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_fail(s, LOG_INFO, "write: %s", strerror(errno));
			return;
		}
		s->progress = now_ms();
		if (s->hello != NULL && s->hello_off < s->hello_len) {
			s->hello_off += (size_t)n;
			continue;
		}
		s->woff += (size_t)n;
		if (s->woff == s->wnext->len) {
			s->wnext->written_at = now_ms();
			s->wnext = s->wnext->next;
			s->woff = 0;
		}
	}
}

/* Moves batches into flight while the window has room: the outbox first,
 * then the spool (not at exit: that is for later processes). */
static void fill_window(struct sender *s)
{
	while (s->fly.n < WINDOW) {
		struct batch *b = list_pop(&s->out);

		if (b == NULL && !s->exiting && spool_pending()) {
			b = calloc(1, sizeof(*b));
			if (b != NULL &&
			    spool_claim(&b->buf, &b->len, b->id, &b->claim) != 1) {
				free(b);
				b = NULL;
			}
			if (b != NULL)
				b->frame = b->buf;
		}
		if (b == NULL)
			return;
		list_push(&s->fly, b);
		if (s->wnext == NULL) {
			s->wnext = b;
			s->woff = 0;
		}
		s->idle_since = now_ms();
	}
}

static bool has_work(const struct sender *s)
{
	if (collector() == NULL)           /* an events file only */
		return false;
	return s->out.n > 0 || s->fly.n > 0 ||
	       (!s->exiting && spool_pending()) ||
	       (s->down && queue_counters_waiting());
}

/* Deadlines of the connection. */
static void check_timers(struct sender *s, long long now)
{
	if ((s->st == C_CONNECTING || s->st == C_HELLO) && now >= s->deadline) {
		conn_fail(s, LOG_INFO, s->st == C_CONNECTING
			  ? "connect: timed out after %d ms"
			  : "no Welcome within %d ms", s->st == C_CONNECTING
			  ? CONNECT_TIMEOUT_MS : WELCOME_TIMEOUT_MS);
		return;
	}
	if (s->st != C_READY)
		return;
	if (s->fly.n > 0 && now - s->progress >= ACK_TIMEOUT_MS)
		conn_fail(s, LOG_INFO, "no progress for %d ms (no Ack, or "
			  "the collector stopped reading)", ACK_TIMEOUT_MS);
	else if (s->fly.n == 0 && s->out.n == 0 &&
		 now - s->idle_since >= IDLE_CLOSE_MS)
		conn_close(s);
}

/* Seal when the batch can leave now, or is full, or (while the collector
 * is down) has waited LINGER_MS to grow before it goes to disk. */
static void maybe_seal(struct sender *s, long long now)
{
	if (s->b.nrec == 0)
		return;
	if (s->exiting || batch_full(&s->b, s->max_frame) ||
	    (s->st == C_READY && s->out.n == 0 && s->fly.n < WINDOW) ||
	    (s->st != C_READY && !s->down) ||
	    (s->down && now - s->b.opened >= LINGER_MS))
		seal(s);
}

/* ---- the loop ---- */

static void periodic(struct sender *s, long long now)
{
	if (now >= s->next_tick) {
		context_network_refresh(NETWORK_MAX_AGE_S);
		queue_close_windows(false, now);
		queue_report();
		s->next_tick = now + TICK_MS;
	}
	/* Counts are handed over as they come (delivery.h, HANDOVER); while
	 * the collector is down they go to the spool less often, in fewer
	 * and larger files. */
	if (s->down ? now >= s->next_counters && queue_counters_waiting()
		    : queue_counters_due(now)) {
		take_counters(s);
		s->next_counters = now + COUNTERS_DOWN_MS;
	}
}

/* One round of work, then one wait of at most cap_ms. */
static void step(struct sender *s, int cap_ms)
{
	struct pollfd p[2];
	long long now = now_ms(), wake = now + cap_ms;
	int n = 1, timeout;

	if (collector() != NULL) {
		if (s->st == C_DOWN && has_work(s) && now >= s->next_attempt)
			conn_start(s);
		if (s->st == C_READY)
			fill_window(s);
		if (s->fd >= 0)
			write_out(s);
		check_timers(s, now);
	}
	maybe_seal(s, now);
	if (s->st == C_READY && s->out.n > 0 && s->fly.n < WINDOW)
		wake = now;                /* more to send at once */
	if (!s->exiting && s->next_tick < wake)
		wake = s->next_tick;
	if (s->st == C_DOWN && has_work(s) && s->next_attempt < wake)
		wake = s->next_attempt;
	if ((s->st == C_CONNECTING || s->st == C_HELLO) && s->deadline < wake)
		wake = s->deadline;
	if (s->b.nrec > 0 && s->down && s->b.opened + LINGER_MS < wake)
		wake = s->b.opened + LINGER_MS;
	p[0] = (struct pollfd){ .fd = atomic_load(&wake_fd), .events = POLLIN };
	if (s->fd >= 0) {
		p[1] = (struct pollfd){ .fd = s->fd, .events = POLLIN };
		if (s->st == C_CONNECTING ||
		    (s->hello != NULL && s->hello_off < s->hello_len) ||
		    (s->st == C_READY && s->wnext != NULL))
			p[1].events = POLLOUT;
		if (s->st != C_CONNECTING)
			p[1].events |= POLLIN;
		n = 2;
	}
	atomic_store(&sleeping, true);
	timeout = wake > now ? (int)(wake - now) : 0;
	if (queue_depth() > 0 || atomic_load(&stopping) != s->exiting)
		timeout = 0;
	pthread_mutex_unlock(&work_lock);
	n = poll(p, (nfds_t)n, timeout) > 0 ? n : 0;
	pthread_mutex_lock(&work_lock);
	if (n > 0) {
		uint64_t v;

		if (p[0].revents & POLLIN)
			(void)!read(p[0].fd, &v, sizeof(v));
		if (n == 2 && p[1].revents != 0) {
			if (s->st == C_CONNECTING)
				connected(s);
			if (s->fd >= 0 && (p[1].revents & (POLLIN | POLLHUP |
							   POLLERR)))
				read_in(s);
			if (s->fd >= 0)
				write_out(s);
		}
	}
	atomic_store(&sleeping, false);
	now = now_ms();
	periodic(s, now);
	drain(s, false);
}

/* At exit: everything out of the queue, EXIT_FLUSH_MS for the network,
 * then the spool for what is still in memory. */
static void finish(struct sender *s)
{
	long long deadline = now_ms() + EXIT_FLUSH_MS;
	/* Known down and not due for another attempt: straight to disk. */
	bool retry = !(s->down && now_ms() < s->next_attempt);

	s->exiting = true;
	/* A process that fails and exits at once: the thread may not have
	 * looked at the network yet (OpenSSL is still alive here: this runs
	 * before OPENSSL_cleanup). */
	context_network_refresh(NETWORK_MAX_AGE_S);
	if (retry) {
		s->down = false;
		s->next_attempt = 0;
	}
	queue_close_windows(true, now_ms());
	queue_report();
	if (collector() != NULL)
		take_counters(s);
	drain(s, true);
	seal(s);
	while (retry && (s->out.n > 0 || s->fly.n > 0) && now_ms() < deadline)
		step(s, (int)(deadline - now_ms()));
	conn_close(s);
	spool_all(s);
	batch_builder_free(&s->b);
	if (s->ai != NULL)
		freeaddrinfo(s->ai);
	s->ai = NULL;
}

static void *run(void *arg)
{
	struct sender *s = arg;

	pthread_setname_np(pthread_self(), "pinshim-send");
	on_sender = true;
	/* Everything this thread does, dlopen's allocations included, is
	 * under work_lock, which fork takes: a child never inherits an
	 * allocator lock the thread held (AddressSanitizer's allocator has no
	 * fork handlers of its own). */
	pthread_mutex_lock(&work_lock);
	open_wire_libs();
	while (!atomic_load(&stopping))
		step(s, TICK_MS);
	finish(s);
	pthread_mutex_unlock(&work_lock);
	pthread_mutex_lock(&done_lock);
	done = true;
	pthread_cond_broadcast(&done_cond);
	pthread_mutex_unlock(&done_lock);
	return NULL;
}

/* ---- exit and fork ---- */

static void at_exit(void)
{
	struct sender *s = S;
	struct timespec until;
	int fd = atomic_load(&wake_fd);
	uint64_t one = 1;
	bool ok;

	if (!atomic_load(&started) || s == NULL)
		return;                    /* a child that never sent */
	if (atomic_exchange(&stopping, true))
		return;                    /* _exit inside exit, or twice */
	if (!s->thread_ok) {
		pthread_mutex_lock(&work_lock);
		open_wire_libs();
		finish(s);                 /* no thread could start: here */
		pthread_mutex_unlock(&work_lock);
		return;
	}
	if (fd >= 0)
		(void)!write(fd, &one, sizeof(one));
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += EXIT_WAIT_MS / 1000;
	until.tv_nsec += (EXIT_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&done_lock);
	while (!done)
		if (pthread_cond_timedwait(&done_cond, &done_lock, &until) != 0)
			break;
	ok = done;
	pthread_mutex_unlock(&done_lock);
	if (ok)
		pthread_join(s->thread, NULL);
	else
		shim_log(LOG_ERROR, "exit: delivery did not finish within %d ms; "
			 "records still in memory are lost", EXIT_WAIT_MS);
}

void sender_before_exit(void)
{
	struct sender *s = S;

	if (s != NULL && s->pid == getpid())
		at_exit();
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&start_lock);
	atomic_fetch_add(&forking, 1);
	pthread_mutex_lock(&work_lock);    /* the sender at a yield point */
	queue_atfork_prepare();
}

static void fork_parent(void)
{
	queue_atfork_parent();
	pthread_mutex_unlock(&work_lock);
	atomic_fetch_sub(&forking, 1);
	pthread_mutex_unlock(&start_lock);
}

/* The child: no sender (the parent's thread does not exist here), none of
 * its descriptors, an empty queue; a sender of its own on its first
 * record.  The parent's state stays reachable, unfreed: its thread may
 * have been changing it. */
static void fork_child(void)
{
	pthread_mutex_init(&start_lock, NULL);
	pthread_mutex_init(&work_lock, NULL);
	atomic_store(&forking, 0);
	pthread_mutex_init(&done_lock, NULL);
	pthread_cond_init(&done_cond, NULL);
	queue_atfork_child();
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		int fd = atomic_exchange(&owned[i], -1);

		if (fd >= 0)
			close(fd);
	}
	if (S != NULL) {
		S->orphan_next = orphans;
		orphans = S;
		S = NULL;
	}
	atomic_store(&wake_fd, -1);
	atomic_store(&sleeping, false);
	atomic_store(&stopping, false);
	atomic_store(&started, false);
	done = false;
}

static void register_atfork(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Called with start_lock held. */
static void start(void)
{
	struct sender *s = calloc(1, sizeof(*s));
	sigset_t all, old;
	int fd;

	atomic_store(&started, true);      /* once, even when it fails */
	if (s == NULL) {
		shim_log(LOG_ERROR, "out of memory: no sender thread, events "
			 "are not delivered");
		return;
	}
	s->fd = -1;
	s->pid = getpid();
	s->backoff_ms = BACKOFF_MIN_MS;
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd >= 0)
		sender_own_fd(fd);
	atomic_store(&wake_fd, fd);
	S = s;
	pthread_once(&atfork_once, register_atfork);
	if (!atexit_done)
		atexit_done = atexit(at_exit) == 0;
	/* The program's signals are for its own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	s->thread_ok = fd >= 0 && pthread_create(&s->thread, NULL, run, s) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!s->thread_ok)
		shim_log(LOG_ERROR, "cannot start the sender thread: events are "
			 "delivered at exit only");
}

void sender_kick(void)
{
	const struct shim_settings *c;

	if (atomic_load_explicit(&started, memory_order_acquire))
		return;
	c = config_settings();
	if (c->collector == NULL && c->events_file == NULL)
		return;                    /* nothing configured: stay inert */
	pthread_mutex_lock(&start_lock);
	if (!atomic_load(&started))
		start();
	pthread_mutex_unlock(&start_lock);
}
