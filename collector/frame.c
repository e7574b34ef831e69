/* Reading one frame: the 4-byte length, checked against the cap before any
 * memory is spent on it; then room in the memory budget; then the body,
 * all within one deadline, so a sender that trickles bytes holds only its
 * own connection, and only for timeout_ms; then the protobuf unpack with
 * store/batchview.proto into an arena whose size is bounded too. */
#include "collector.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Large frame bodies are read into recycled buffers: a fresh
 * multi-megabyte malloc is an mmap whose every page faults on first
 * touch.  At most BODY_POOL idle buffers (of at most WIRE_MAX_FRAME). */
#define BODY_POOL 4
#define BODY_SMALL 65536

static struct {
	pthread_mutex_t lock;
	uint8_t *buf[BODY_POOL];
	size_t cap[BODY_POOL];
} bodies = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint8_t *body_get(size_t len, size_t *cap)
{
	uint8_t *b = NULL;

	*cap = len > BODY_SMALL ? len : BODY_SMALL;
	if (len > BODY_SMALL) {
		pthread_mutex_lock(&bodies.lock);
		for (int i = 0; i < BODY_POOL && b == NULL; i++) {
			if (bodies.buf[i] != NULL && bodies.cap[i] >= len) {
				b = bodies.buf[i];
				*cap = bodies.cap[i];
				bodies.buf[i] = NULL;
			}
		}
		pthread_mutex_unlock(&bodies.lock);
	}
	return b != NULL ? b : malloc(*cap);
}

/* Keeps b in the pool in place of an empty or a smaller buffer. */
static void body_put(uint8_t *b, size_t cap)
{
	int slot = -1;

	if (cap > BODY_SMALL) {
		pthread_mutex_lock(&bodies.lock);
		for (int i = 0; i < BODY_POOL; i++)
			if (bodies.buf[i] == NULL ||
			    (bodies.cap[i] < cap && (slot < 0 ||
			     bodies.buf[slot] != NULL)))
				slot = i;
		if (slot >= 0) {
			uint8_t *old = bodies.buf[slot];

			bodies.buf[slot] = b;
			bodies.cap[slot] = cap;
			b = old;
		}
		pthread_mutex_unlock(&bodies.lock);
	}
	free(b);
}

/* Decoded bytes a frame may take: generous for real batches (about
 * their wire size, plus the structs of up to WIRE_MAX_RECORDS records),
 * a hard stop for a frame of millions of empty sub-messages. */
static size_t decode_limit(size_t len)
{
	return 16 * len + (size_t)WIRE_MAX_RECORDS * 1024;
}

/* The bounds of wire.h on a hello (a batch's are store_prepare's). */
static bool hello_ok(Pinshim__Hello *h, char *err, size_t errlen)
{
	Pinshim__Frame f;

	wire_frame_hello(&f, h);
	return wire_validate(&f, err, errlen);
}

/* protobuf unpack (batchview.proto: the parts of events stay encoded)
 * into the frame's arena. */
static int unpack(struct frame_in *in, const uint8_t *body, size_t len,
		  char *err, size_t errlen)
{
	arena_init(&in->arena, decode_limit(len));
	in->msg = pinshim__view__frame__unpack(&in->arena.alloc, len, body);
	if (in->msg == NULL) {
		if (in->arena.over)
			snprintf(err, errlen, "frame of %zu bytes decodes to "
				 "more than %zu bytes", len, decode_limit(len));
		else
			snprintf(err, errlen, "frame of %zu bytes is not a "
				 "valid protobuf Frame", len);
		return -1;
	}
	switch (in->msg->body_case) {
	case PINSHIM__VIEW__FRAME__BODY_HELLO:
		if (!hello_ok(in->msg->hello, err, errlen)) {
			in->msg = NULL;
			return -1;
		}
		return 0;
	case PINSHIM__VIEW__FRAME__BODY__NOT_SET:
		snprintf(err, errlen, "frame with no known body");
		in->msg = NULL;
		return -1;
	default:
		return 0;
	}
}

/* in may be copied once read (into a job): the arena's allocator is not
 * used after the unpack. */
int frame_read(int fd, int timeout_ms, struct frame_in *in, char *err,
	       size_t errlen)
{
	long long deadline = wire_now_ms() + timeout_ms;
	uint8_t hdr[4], *body;
	size_t len, cap;
	int r;

	memset(in, 0, sizeof(*in));
	r = wire_read_exact(fd, hdr, 4, deadline, err, errlen);
	if (r <= 0)
		return r;
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
	      (size_t)hdr[2] << 8 | hdr[3];
	if (len > WIRE_MAX_FRAME) {
		snprintf(err, errlen, "frame of %zu bytes exceeds the limit of "
			 "%u", len, WIRE_MAX_FRAME);
		return -1;
	}
	budget_take(len);
	in->bytes = len;
	body = body_get(len, &cap);
	if (body == NULL) {
		snprintf(err, errlen, "out of memory for a frame of %zu bytes",
			 len);
		goto fail;
	}
	r = wire_read_exact(fd, body, len, deadline, err, errlen);
	if (r == 0) {
		snprintf(err, errlen, "connection closed after a frame header");
		r = -1;
	}
	if (r > 0)
		r = unpack(in, body, len, err, errlen) == 0 ? 1 : -1;
	body_put(body, cap);
	if (r < 0)
		goto fail;
	/* the budget holds what the frame takes now: its decoded tree */
	if (in->arena.total > len) {
		budget_take_over(in->arena.total - len);
		in->bytes = in->arena.total;
	}
	return 1;
fail:
	frame_release(in);
	return r < 0 ? r : -1;
}

void frame_release(struct frame_in *in)
{
	arena_release(&in->arena);
	in->msg = NULL;
	if (in->bytes > 0)
		budget_give(in->bytes);
	in->bytes = 0;
}
