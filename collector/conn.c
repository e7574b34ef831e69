/* One thread per sender.  It reads the Hello and checks the token, then
 * reads batch frames and queues them for the writer (up to
 * COLLECTOR_MAX_INFLIGHT unacked), and sends each Ack, in order, once the
 * writer has committed that batch.  Anything wrong (garbage, a frame over
 * the cap, a bound broken, a batch before the hello, a sender too slow
 * inside a frame or idle too long) ends the connection with an Error frame
 * and one log line; other connections never notice.  A thread never exits
 * with a batch of its own still queued: the writer may touch it. */
#include "collector.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define ERROR_SEND_MS 1000   /* for the parting Error frame */

struct conn {
	int fd;
	int wake;                   /* eventfd: the writer finished a job */
	char address[64];
	char name[128];             /* Hello.sender, printable */
	const struct config *cfg;
	pthread_mutex_t lock;
	struct job *head, *tail;    /* queued batches, oldest first */
	unsigned inflight;
	bool closing;               /* no more reads, no more acks */
	/* a frame refused while earlier batches were in flight: their acks
	 * go first, then this Error (acks and errors answer in order) */
	char refusal[300];
	uint64_t *refusal_counter;
	struct store_parts *parts;  /* parts this sender sent, checked */
	size_t slot;                /* in the registry */
	atomic_int refs;            /* the thread's, and one per queued job */
};

/* Live connections, so shutdown can reach them. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t empty;
	struct conn **live;
	size_t cap, count;
	atomic_bool stopping;       /* read by connection threads unlocked */
	int stop_fd;                /* eventfd, readable once stopping */
} reg = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.empty = PTHREAD_COND_INITIALIZER,
	.stop_fd = -1,
};

const char *conn_address(const struct conn *c)
{
	return c->address;
}

const char *conn_name(const struct conn *c)
{
	return c->name;
}

static void say(const struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One log line naming the connection. */
static void say(const struct conn *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->name[0] != '\0')
		log_line("%s (%s): %s", c->address, c->name, msg);
	else
		log_line("%s: %s", c->address, msg);
}

static int send_error(struct conn *c, const char *msg)
{
	Pinshim__Error e = PINSHIM__ERROR__INIT;
	Pinshim__Frame f;

	e.message = (char *)msg;
	wire_frame_error(&f, &e);
	return wire_send(c->fd, &f, ERROR_SEND_MS);
}

/* Ends the conversation: Error frame, one log line, counted. */
static void reject(struct conn *c, uint64_t *counter, const char *msg)
{
	stats_add(counter, 1);
	say(c, "%s", msg);
	send_error(c, msg);
	c->closing = true;
}

static void printable(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src != NULL && src[i] != '\0' && i + 1 < cap; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

/* Refuses the frame just read: at once when nothing is in flight, else
 * once every earlier batch is answered (drain), so the sender can tell
 * which batch the Error is about: the oldest it has not seen acked. */
static void refuse_frame(struct conn *c, uint64_t *counter, const char *msg)
{
	if (c->inflight == 0) {
		reject(c, counter, msg);
		return;
	}
	snprintf(c->refusal, sizeof(c->refusal), "%s", msg);
	c->refusal_counter = counter;
}

/* A frame that could not be read: refused (-1) or too slow (-2).  When
 * the collector is stopping, conn_stop_all cut the read short: the
 * sender sends that batch again, nothing to report. */
static void read_failed(struct conn *c, int r, const char *err)
{
	if (atomic_load(&reg.stopping)) {
		c->closing = true;
		return;
	}
	refuse_frame(c, r == -2 ? &stats.timeouts : &stats.frames_rejected,
		     err);
}

/* ---- the hello -------------------------------------------------------- */

static int welcome(struct conn *c)
{
	Pinshim__Welcome wl = PINSHIM__WELCOME__INIT;
	Pinshim__Frame f;

	wl.protocol = WIRE_PROTOCOL;
	wl.max_frame = WIRE_MAX_FRAME;
	wire_frame_welcome(&f, &wl);
	if (wire_send(c->fd, &f, c->cfg->frame_timeout_ms) < 0) {
		say(c, "sending welcome: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int check_hello(struct conn *c, const Pinshim__Hello *h)
{
	char msg[128];

	if (h->protocol != WIRE_PROTOCOL) {
		snprintf(msg, sizeof(msg), "protocol %u not supported (this "
			 "collector speaks %d)", h->protocol, WIRE_PROTOCOL);
		reject(c, &stats.frames_rejected, msg);
		return -1;
	}
	printable(c->name, sizeof(c->name), h->sender);
	if (!auth_check(&h->token)) {
		reject(c, &stats.auth_failures, "authentication failed");
		return -1;
	}
	return welcome(c);
}

static int wait_readable(struct conn *c, int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = c->fd, .events = POLLIN },
		{ .fd = reg.stop_fd, .events = POLLIN },
	};
	int r;

	do
		r = poll(p, 2, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
		return 1;
	return 0;
}

/* 0 when the sender is welcome, -1 when the connection ends. */
static int hello(struct conn *c)
{
	struct frame_in in;
	char err[256];
	int r, rc = -1;

	if (!wait_readable(c, c->cfg->frame_timeout_ms)) {
		if (!atomic_load(&reg.stopping))
			reject(c, &stats.timeouts, "no hello in time");
		return -1;
	}
	r = frame_read(c->fd, c->cfg->frame_timeout_ms, &in, err,
		       sizeof(err));
	if (r == 0)
		return -1;      /* connected and left: nothing to say */
	if (r < 0) {
		read_failed(c, r, err);
		return -1;
	}
	if (in.msg->body_case != PINSHIM__VIEW__FRAME__BODY_HELLO)
		reject(c, &stats.frames_rejected, "expected a hello first");
	else
		rc = check_hello(c, in.msg->hello);
	frame_release(&in);
	return rc;
}

/* ---- batches in, acks out --------------------------------------------- */

/* Drops one reference; the last one frees the connection.  The thread
 * may finish while the writer is still waking it about the last job. */
static void conn_put(struct conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	close(c->wake);
	pthread_mutex_destroy(&c->lock);
	store_parts_free(c->parts);
	free(c);
}

void conn_job_done(struct job *job)
{
	struct conn *c = job->conn;
	uint64_t one = 1;

	/* job is the connection's from here on: do not touch it again */
	pthread_mutex_lock(&c->lock);
	job->done = true;
	pthread_mutex_unlock(&c->lock);
	if (write(c->wake, &one, sizeof(one)) < 0)
		log_line("%s: eventfd: %s", c->address, strerror(errno));
	conn_put(c);
}

static int send_ack(struct conn *c, const struct job *j)
{
	Pinshim__Ack a = PINSHIM__ACK__INIT;
	Pinshim__Frame f;

	a.batch_id.data = (uint8_t *)j->batch_id;
	a.batch_id.len = WIRE_ID_LEN;
	a.stored = j->result.events_stored + j->result.counters_stored;
	a.duplicates = j->result.events_duplicate +
		       j->result.counters_duplicate;
	wire_frame_ack(&f, &a);
	if (wire_send(c->fd, &f, c->cfg->frame_timeout_ms) < 0) {
		say(c, "sending ack: %s", errno == ETIMEDOUT ?
		    "timed out (the sender does not read)" : strerror(errno));
		c->closing = true;
		return -1;
	}
	return 0;
}

/* Answers one finished job (unless closing), then frees it. */
static void answer(struct conn *c, struct job *j)
{
	char msg[300];

	if (!c->closing) {
		switch (j->state) {
		case JOB_STORED:
			send_ack(c, j);
			break;
		case JOB_REFUSED:
			snprintf(msg, sizeof(msg), "batch refused: %s", j->err);
			reject(c, &stats.frames_rejected, msg);
			break;
		default:
			say(c, "batch not stored: database error");
			send_error(c, "the collector could not store the batch");
			c->closing = true;
			break;
		}
	}
	free(j);
}

/* Answers every finished job at the head of the queue, in order. */
static void answer_done(struct conn *c)
{
	uint64_t n;

	if (read(c->wake, &n, sizeof(n)) < 0 && errno != EAGAIN)
		say(c, "eventfd: %s", strerror(errno));
	for (;;) {
		struct job *j = NULL;

		pthread_mutex_lock(&c->lock);
		if (c->head != NULL && c->head->done) {
			j = c->head;
			c->head = j->fifo;
			if (c->head == NULL)
				c->tail = NULL;
			c->inflight--;
		}
		pthread_mutex_unlock(&c->lock);
		if (j == NULL)
			return;
		answer(c, j);
	}
}

/* Checks the batch against every bound and computes its events' keys,
 * here, so the writer need not.  NULL with err set: refuse the frame. */
static struct store_event_keys *prepare(struct conn *c,
					const Pinshim__View__Batch *b,
					char *err, size_t errlen)
{
	size_t n = b->n_events + b->n_chains;
	struct store_event_keys *k = malloc((n ? n : 1) * sizeof(*k));

	if (k == NULL || c->parts == NULL) {
		snprintf(err, errlen, "out of memory");
		free(k);
		return NULL;
	}
	if (store_prepare(c->parts, b, k, err, errlen) < 0) {
		free(k);
		return NULL;
	}
	return k;
}

static void queue_batch(struct conn *c, struct frame_in *in)
{
	struct store_event_keys *keys;
	struct job *j;
	char err[256];

	keys = prepare(c, in->msg->batch, err, sizeof(err));
	j = keys != NULL ? calloc(1, sizeof(*j)) : NULL;
	if (j == NULL) {
		frame_release(in);
		free(keys);
		refuse_frame(c, &stats.frames_rejected, keys == NULL ? err
			     : "out of memory");
		return;
	}
	j->conn = c;
	j->frame = *in;
	j->keys = keys;
	j->received_us = now_us();
	memcpy(j->batch_id, in->msg->batch->id.data, WIRE_ID_LEN);
	pthread_mutex_lock(&c->lock);
	if (c->tail != NULL)
		c->tail->fifo = j;
	else
		c->head = j;
	c->tail = j;
	c->inflight++;
	pthread_mutex_unlock(&c->lock);
	atomic_fetch_add(&c->refs, 1);     /* dropped by conn_job_done */
	writer_submit(j);
}

static const char *body_name(const Pinshim__View__Frame *f)
{
	switch (f->body_case) {
	case PINSHIM__VIEW__FRAME__BODY_HELLO: return "hello";
	case PINSHIM__VIEW__FRAME__BODY_WELCOME: return "welcome";
	case PINSHIM__VIEW__FRAME__BODY_ACK: return "ack";
	case PINSHIM__VIEW__FRAME__BODY_ERROR: return "error";
	default: return "unknown";
	}
}

/* Reads one frame: 1 go on, 0 the sender finished, -1 rejected. */
static int read_one(struct conn *c)
{
	struct frame_in in;
	Pinshim__View__Frame *f;
	char err[256];
	int r;

	r = frame_read(c->fd, c->cfg->frame_timeout_ms, &in, err, sizeof(err));
	if (r <= 0) {
		if (r < 0)
			read_failed(c, r, err);
		return r < 0 ? -1 : 0;
	}
	f = in.msg;
	if (f->body_case == PINSHIM__VIEW__FRAME__BODY_BATCH) {
		queue_batch(c, &in);
		return c->closing || c->refusal_counter != NULL ? -1 : 1;
	}
	if (f->body_case == PINSHIM__VIEW__FRAME__BODY_ERROR) {
		printable(err, sizeof(err), f->error->message);
		say(c, "the sender gave up: %s", err);
		c->closing = true;
	} else {
		snprintf(err, sizeof(err), "unexpected %s frame",
			 body_name(f));
		refuse_frame(c, &stats.frames_rejected, err);
	}
	frame_release(&in);
	return -1;
}

/* The conversation after the hello, until the sender leaves, breaks a
 * rule, idles too long, or the collector stops. */
static void serve(struct conn *c)
{
	while (!c->closing && c->refusal_counter == NULL) {
		struct pollfd p[3] = {
			{ .fd = c->wake, .events = POLLIN },
			{ .fd = reg.stop_fd, .events = POLLIN },
			{ .fd = c->fd, .events = POLLIN },
		};
		bool room = c->inflight < COLLECTOR_MAX_INFLIGHT;
		int r = poll(p, room ? 3 : 2,
			     c->inflight > 0 ? -1 : c->cfg->idle_timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			reject(c, &stats.timeouts, "idle too long");
			return;
		}
		if (p[0].revents & POLLIN)
			answer_done(c);
		if (p[1].revents & POLLIN)
			return;
		if (room && p[2].revents != 0 && read_one(c) <= 0)
			return;
	}
}

/* Waits for every queued batch; acks them unless closing. */
static void drain(struct conn *c)
{
	while (c->inflight > 0) {
		struct pollfd p = { .fd = c->wake, .events = POLLIN };

		if (poll(&p, 1, -1) > 0)
			answer_done(c);
	}
}

static void finish(struct conn *c)
{
	pthread_mutex_lock(&reg.lock);
	reg.live[c->slot] = NULL;
	reg.count--;
	if (reg.count == 0)
		pthread_cond_broadcast(&reg.empty);
	close(c->fd);             /* under the lock: shutdown never hits a
				     reused descriptor */
	pthread_mutex_unlock(&reg.lock);
	conn_put(c);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;

	pthread_setname_np(pthread_self(), "pinshim-conn");
	if (hello(c) == 0)
		serve(c);
	drain(c);
	if (c->refusal_counter != NULL && !c->closing)
		reject(c, c->refusal_counter, c->refusal);
	finish(c);
	return NULL;
}

/* ---- the registry ----------------------------------------------------- */

static int reg_init(unsigned cap)
{
	if (reg.live != NULL)
		return 0;
	reg.live = calloc(cap, sizeof(*reg.live));
	reg.stop_fd = eventfd(0, EFD_CLOEXEC);
	reg.cap = cap;
	return reg.live != NULL && reg.stop_fd >= 0 ? 0 : -1;
}

/* A free slot for c, or -1 when the collector is full or stopping. */
static int reg_add(struct conn *c)
{
	int rc = -1;

	pthread_mutex_lock(&reg.lock);
	for (size_t i = 0; !atomic_load(&reg.stopping) && i < reg.cap; i++) {
		if (reg.live[i] == NULL) {
			reg.live[i] = c;
			c->slot = i;
			reg.count++;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&reg.lock);
	return rc;
}

static struct conn *conn_new(int fd, const char *address,
			     const struct config *cfg)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->cfg = cfg;
	snprintf(c->address, sizeof(c->address), "%s", address);
	c->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake < 0) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->refs, 1);
	c->parts = store_parts_new();
	return c;
}

static void refuse_fd(int fd, const char *address, const char *why)
{
	struct conn tmp = { .fd = fd };

	snprintf(tmp.address, sizeof(tmp.address), "%s", address);
	say(&tmp, "%s", why);
	send_error(&tmp, why);
	close(fd);
}

int conn_start(int fd, const char *address, const struct config *cfg)
{
	struct conn *c;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	stats_add(&stats.connections, 1);
	if (reg_init(cfg->max_connections) < 0 ||
	    (c = conn_new(fd, address, cfg)) == NULL) {
		refuse_fd(fd, address, "out of memory");
		return -1;
	}
	if (reg_add(c) < 0) {
		conn_put(c);
		refuse_fd(fd, address, "too many connections");
		return -1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	rc = pthread_create(&t, &attr, conn_main, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		say(c, "cannot start a thread: %s", strerror(rc));
		finish(c);
		return -1;
	}
	return 0;
}

unsigned conn_count(void)
{
	unsigned n;

	pthread_mutex_lock(&reg.lock);
	n = (unsigned)reg.count;
	pthread_mutex_unlock(&reg.lock);
	return n;
}

/* Every thread sees stop_fd readable; reads in progress see the end of
 * their stream at once instead of waiting for a slow sender. */
void conn_stop_all(void)
{
	uint64_t one = 1;

	pthread_mutex_lock(&reg.lock);
	atomic_store(&reg.stopping, true);
	if (reg.stop_fd >= 0 && write(reg.stop_fd, &one, sizeof(one)) < 0)
		log_line("stop: eventfd: %s", strerror(errno));
	for (size_t i = 0; i < reg.cap; i++)
		if (reg.live[i] != NULL)
			shutdown(reg.live[i]->fd, SHUT_RD);
	pthread_mutex_unlock(&reg.lock);
}

void conn_wait_all(void)
{
	pthread_mutex_lock(&reg.lock);
	while (reg.count > 0)
		pthread_cond_wait(&reg.empty, &reg.lock);
	pthread_mutex_unlock(&reg.lock);
}
