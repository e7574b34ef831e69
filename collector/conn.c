/* One connection's bytes, on the loop thread (collector.h).
 *
 * In: a 4-byte length, checked against the limit of the connection's state
 * before anything is spent on it (WIRE_MAX_HELLO before the token is
 * checked, WIRE_MAX_FRAME after); then the body, read as the socket gives
 * it.  After the hello the bytes read are taken from the shared budget as
 * they come, BODY_STEP at a time, within the connection's share: a length
 * announced is not memory taken, and a connection that finds no room
 * waits, not reading, under its frame deadline.  Then the whole frame goes
 * to hello.c or session.c.
 *
 * Out: answers are queued and written as the socket takes them, under a
 * deadline and a cap (a sender that does not read is cut off).
 *
 * The end: a refused connection gets its Error, then its side is shut and
 * what it still sends is read and dropped for a moment, so the Error is
 * not lost to a reset; a connection is freed only once no batch of its own
 * is with the writer. */
#include "collector.h"
#include "listen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define OUT_CAP (256u << 10)     /* answers queued: acks are small */
#define LINGER_MS 1000           /* reading after our last bytes */
#define FRAMES_PER_TURN 4        /* then the other connections' turn */
#define STOP_MS 1000             /* for the last acks when stopping */
#define BODY_STEP (1u << 20)     /* budget taken as a body comes in */

struct conn *conn_new(int fd, const struct sockaddr *sa, struct source *src)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->state = CONN_HELLO;
	c->source = src;
	source_hold(src);
	c->born_ms = loop_now_ms();
	listen_format_address(sa, c->address, sizeof(c->address));
	return c;
}

void conn_say(const struct conn *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->name[0] != '\0')
		log_limited("%s (%s): %s", c->address, c->name, msg);
	else
		log_limited("%s: %s", c->address, msg);
}

/* ---- the end ------------------------------------------------------------ */

static bool reading(const struct conn *c)
{
	return c->state != CONN_CLOSING;
}

/* The body being read goes, with its part of the budget. */
static void body_release(struct conn *c)
{
	if (c->body != NULL)
		frame_body_put(c->body, c->body_cap);
	if (c->body_taken > 0) {
		budget_give(c->body_taken);
		c->held -= c->body_taken;
	}
	c->body = NULL;
	c->body_taken = 0;
	c->hdr_got = 0;
	c->frame_deadline = 0;
	c->parked = false;
}

void conn_close(struct conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	body_release(c);
}

void conn_abort(struct conn *c)
{
	conn_close(c);
	c->silent = true;
	c->eof = true;
	c->out_len = c->out_sent = 0;
	c->write_deadline = 0;
}

void conn_refuse(struct conn *c, const char *msg, bool transient)
{
	Pinshim__Error e = PINSHIM__ERROR__INIT;
	Pinshim__Frame f;

	e.message = (char *)msg;
	e.transient = transient;
	wire_frame_error(&f, &e);
	conn_close(c);
	conn_send(c, &f);
	c->silent = true;
}

bool conn_finished(const struct conn *c)
{
	return c->state == CONN_CLOSING && c->inflight == 0 &&
	       c->out_sent == c->out_len && !c->refusal_pending &&
	       (c->eof || loop_stopping());
}

void conn_free(struct conn *c)
{
	body_release(c);
	close(c->fd);
	free(c->out);
	store_parts_free(c->parts);
	source_drop(c->source);
	free(c);
}

/* ---- out ---------------------------------------------------------------- */

/* Shuts our side once everything is out; what the peer still sends is
 * read and dropped until it closes or LINGER_MS pass. */
static void maybe_shut(struct conn *c)
{
	if (c->state != CONN_CLOSING || c->shut || c->eof || c->inflight > 0 ||
	    c->refusal_pending || c->out_sent != c->out_len)
		return;
	shutdown(c->fd, SHUT_WR);
	c->shut = true;
	c->close_deadline = loop_now_ms() + LINGER_MS;
}

void conn_writable(struct conn *c)
{
	while (c->out_sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_sent,
				 c->out_len - c->out_sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			conn_abort(c);     /* the peer is gone: nothing to say */
			return;
		}
		c->out_sent += (size_t)n;
	}
	c->out_sent = c->out_len = 0;
	c->write_deadline = 0;
	maybe_shut(c);
}

/* Room for n more bytes of output. */
static int out_reserve(struct conn *c, size_t n)
{
	size_t cap;
	uint8_t *out;

	if (c->out_sent > 0) {
		memmove(c->out, c->out + c->out_sent, c->out_len - c->out_sent);
		c->out_len -= c->out_sent;
		c->out_sent = 0;
	}
	if (c->out_len + n <= c->out_cap)
		return 0;
	if (c->out_len + n > OUT_CAP)
		return -1;
	cap = c->out_cap ? c->out_cap : 256;
	while (cap < c->out_len + n)
		cap *= 2;
	out = realloc(c->out, cap);
	if (out == NULL)
		return -1;
	c->out = out;
	c->out_cap = cap;
	return 0;
}

int conn_send(struct conn *c, const Pinshim__Frame *f)
{
	size_t n = pinshim__frame__get_packed_size(f);

	if (c->silent)
		return -1;
	if (out_reserve(c, n + 4) < 0) {
		conn_say(c, "does not read its answers: %zu bytes queued",
			 c->out_len);
		conn_abort(c);
		return -1;
	}
	c->out[c->out_len] = (uint8_t)(n >> 24);
	c->out[c->out_len + 1] = (uint8_t)(n >> 16);
	c->out[c->out_len + 2] = (uint8_t)(n >> 8);
	c->out[c->out_len + 3] = (uint8_t)n;
	pinshim__frame__pack(f, c->out + c->out_len + 4);
	c->out_len += n + 4;
	if (c->write_deadline == 0)
		c->write_deadline = loop_now_ms() + (loop_stopping() ? STOP_MS
				    : loop_config()->frame_timeout_ms);
	conn_writable(c);
	return 0;
}

/* ---- in ----------------------------------------------------------------- */

static void refuse_read(struct conn *c, const char *msg)
{
	if (c->state == CONN_HELLO)
		hello_refuse(c, msg);
	else
		session_refuse(c, &stats.frames_rejected, msg, false);
}

/* Budget for the next bytes of the body (after the hello only; a hello's
 * few bytes are the connection's own): 1 there is room, 0 wait (parked). */
static int body_room(struct conn *c)
{
	size_t grow;

	if (c->state != CONN_READY || c->body_got < c->body_taken ||
	    c->body_taken == c->body_len)
		return 1;
	grow = c->body_len - c->body_taken;
	if (grow > BODY_STEP)
		grow = BODY_STEP;
	if ((c->held > 0 && c->held + grow > COLLECTOR_CONN_SHARE) ||
	    !budget_try(grow)) {
		c->parked = true;
		return 0;
	}
	c->body_taken += grow;
	c->held += grow;
	c->parked = false;
	return 1;
}

/* A buffer for the body announced (untouched pages cost nothing: the
 * budget counts what is read into it).  0, or -1 refused. */
static int body_alloc(struct conn *c)
{
	c->body = frame_body_get(c->body_len, &c->body_cap);
	if (c->body != NULL)
		return 0;
	session_refuse(c, NULL, "the collector is out of memory: try again "
		       "later", true);
	return -1;
}

static size_t frame_limit(const struct conn *c)
{
	return c->state == CONN_HELLO ? WIRE_MAX_HELLO : WIRE_MAX_FRAME;
}

/* The length is in: checked, then room for the body. */
static int header_done(struct conn *c)
{
	size_t len = (size_t)c->hdr[0] << 24 | (size_t)c->hdr[1] << 16 |
		     (size_t)c->hdr[2] << 8 | c->hdr[3];
	char msg[160];

	if (len > frame_limit(c)) {
		snprintf(msg, sizeof(msg), "frame of %zu bytes exceeds the "
			 "limit of %zu%s", len, frame_limit(c),
			 c->state == CONN_HELLO ? " before the hello" : "");
		refuse_read(c, msg);
		return -1;
	}
	c->body_len = len;
	c->body_got = 0;
	return body_alloc(c) < 0 ? -1 : 1;
}

/* The whole body is in: decoded and handed on. */
static void frame_done(struct conn *c)
{
	enum frame_kind kind = c->state == CONN_HELLO ? FRAME_HELLO : FRAME_ANY;
	struct frame_in in;
	char err[256];
	int r = frame_decode(c->body, c->body_len, kind, &in, err,
			     sizeof(err));

	body_release(c);
	if (r == -2) {
		session_refuse(c, NULL, err, true);
	} else if (r < 0) {
		refuse_read(c, err);
	} else if (kind == FRAME_HELLO) {
		hello_frame(c, &in);
	} else {
		c->held += in.bytes;
		session_frame(c, &in);
	}
}

/* The peer closed its side: between frames it is done (its answers still
 * go out), inside one the frame is refused. */
static void peer_closed(struct conn *c)
{
	char msg[128];

	c->eof = true;
	if (c->hdr_got == 0) {
		conn_close(c);
		return;
	}
	snprintf(msg, sizeof(msg), "connection closed inside a frame (%zu of "
		 "%zu bytes)", c->hdr_got < 4 ? c->hdr_got : c->body_got + 4,
		 c->hdr_got < 4 ? (size_t)4 : c->body_len + 4);
	refuse_read(c, msg);
}

/* Bytes read in, counted: the frame's clock starts with its first. */
static void got(struct conn *c, size_t n)
{
	if (c->frame_deadline == 0)
		c->frame_deadline = loop_now_ms() +
				    loop_config()->frame_timeout_ms;
	if (c->hdr_got < 4)
		c->hdr_got += n;
	else
		c->body_got += n;
}

/* Where the next bytes go, and how many fit now; 0 when parked. */
static size_t next_room(struct conn *c, uint8_t **dst)
{
	if (c->hdr_got < 4) {
		*dst = c->hdr + c->hdr_got;
		return 4 - c->hdr_got;
	}
	if (body_room(c) == 0)
		return 0;
	*dst = c->body + c->body_got;
	if (c->state == CONN_READY)
		return c->body_taken - c->body_got;
	return c->body_len - c->body_got;
}

/* One recv: 1 progress, 0 nothing now (or parked), -1 reading ended. */
static int read_step(struct conn *c)
{
	bool in_hdr = c->hdr_got < 4;
	uint8_t *dst = NULL;
	size_t want = next_room(c, &dst);
	ssize_t n;

	if (want == 0 && !in_hdr && c->body_got < c->body_len)
		return 0;                       /* parked for budget */
	n = want > 0 ? recv(c->fd, dst, want, 0) : 0;
	if (want > 0 && n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		conn_abort(c);
		return -1;
	}
	if (want > 0 && n == 0) {
		peer_closed(c);
		return -1;
	}
	got(c, (size_t)n);
	if (in_hdr && c->hdr_got == 4 && header_done(c) < 0)
		return -1;
	if (c->hdr_got == 4 && c->body != NULL && c->body_got == c->body_len)
		frame_done(c);
	return 1;
}

/* A closing connection: what the peer still sends is dropped. */
static void drain_input(struct conn *c)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		       errno != EINTR))
		c->eof = true;
}

void conn_readable(struct conn *c)
{
	unsigned frames = 0;

	if (!reading(c)) {
		drain_input(c);
		return;
	}
	while (reading(c) && !c->parked && frames < FRAMES_PER_TURN &&
	       (c->state == CONN_HELLO || c->inflight < COLLECTOR_MAX_INFLIGHT)) {
		bool was_body = c->hdr_got == 4;
		int r = read_step(c);

		if (r <= 0)
			return;
		if (was_body && c->hdr_got == 0)
			frames++;
	}
}

void conn_unpark(struct conn *c)
{
	if (c->parked && reading(c))
		body_room(c);
}

unsigned conn_wanted_events(const struct conn *c)
{
	unsigned ev = 0;

	if (reading(c) && !c->parked &&
	    (c->state == CONN_HELLO || c->inflight < COLLECTOR_MAX_INFLIGHT))
		ev |= EPOLLIN;
	if (!reading(c) && c->shut && !c->eof)
		ev |= EPOLLIN;
	if (c->out_sent < c->out_len)
		ev |= EPOLLOUT;
	return ev;
}

/* ---- deadlines ---------------------------------------------------------- */

void conn_check_deadlines(struct conn *c, long long now)
{
	char msg[128];

	if (c->write_deadline != 0 && now >= c->write_deadline) {
		conn_say(c, "timed out sending (the sender does not read)");
		stats_add(&stats.timeouts, 1);
		conn_abort(c);
		return;
	}
	if (c->state == CONN_CLOSING) {
		if (c->shut && now >= c->close_deadline)
			c->eof = true;
		return;
	}
	if (c->state == CONN_HELLO) {
		if (now >= c->born_ms + loop_config()->hello_timeout_ms)
			hello_timed_out(c);
		return;
	}
	if (c->frame_deadline != 0 && now >= c->frame_deadline) {
		if (c->parked) {
			session_refuse(c, NULL, "the collector is out of memory "
				       "for frames: try again later", true);
			return;
		}
		snprintf(msg, sizeof(msg), "timed out inside a frame (%zu of "
			 "%zu bytes)", c->hdr_got < 4 ? c->hdr_got
			 : c->body_got + 4, c->hdr_got < 4 ? (size_t)4
			 : c->body_len + 4);
		session_refuse(c, &stats.timeouts, msg, false);
	} else if (c->frame_deadline == 0 && c->inflight == 0 &&
		   c->idle_deadline != 0 && now >= c->idle_deadline) {
		session_refuse(c, &stats.timeouts, "idle too long", false);
	}
}
