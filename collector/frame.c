/* One frame body decoded: the protobuf unpack with store/batchview.proto
 * into an arena whose size is bounded (by the frame's length, and by the
 * shared budget once the sender is authenticated); and the buffers bodies
 * are read into (conn.c reads them without blocking). */
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

uint8_t *frame_body_get(size_t len, size_t *cap)
{
	uint8_t *b = NULL;

	/* small bodies (a hello, most batches) are allocated as they are */
	*cap = len > 0 ? len : 1;
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
void frame_body_put(uint8_t *b, size_t cap)
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
 * a hard stop for a frame of millions of empty sub-messages.  A Hello
 * (at most WIRE_MAX_HELLO bytes) gets a fixed small arena. */
#define HELLO_ARENA (64u << 10)

static size_t decode_limit(size_t len)
{
	return 16 * len + (size_t)WIRE_MAX_RECORDS * 1024;
}

/* The first chunk: about what the frame will take, so that small frames
 * take little of the budget. */
static size_t first_chunk(size_t len)
{
	size_t c = 16u << 10;

	while (c < 4 * len && c < ARENA_CHUNK)
		c *= 2;
	return c;
}

/* The bounds of wire.h on a hello (a batch's are store_prepare's). */
static bool hello_ok(Pinshim__Hello *h, char *err, size_t errlen)
{
	Pinshim__Frame f;

	wire_frame_hello(&f, h);
	return wire_validate(&f, err, errlen);
}

static int unpacked(struct frame_in *in, size_t len, char *err,
		    size_t errlen)
{
	if (in->msg != NULL)
		return 0;
	if (in->arena.starved) {
		snprintf(err, errlen, "the collector is out of memory for "
			 "frames now: try again later");
		return -2;
	}
	if (in->arena.over)
		snprintf(err, errlen, "frame of %zu bytes decodes to more than "
			 "%zu bytes", len, in->arena.limit);
	else
		snprintf(err, errlen, "frame of %zu bytes is not a valid "
			 "protobuf Frame", len);
	return -1;
}

int frame_decode(const uint8_t *body, size_t len, enum frame_kind kind,
		 struct frame_in *in, char *err, size_t errlen)
{
	int rc;

	memset(in, 0, sizeof(*in));
	if (kind == FRAME_HELLO)
		arena_init(&in->arena, HELLO_ARENA, 16u << 10, false);
	else
		arena_init(&in->arena, decode_limit(len), first_chunk(len),
			   true);
	in->msg = pinshim__view__frame__unpack(&in->arena.alloc, len, body);
	rc = unpacked(in, len, err, errlen);
	if (rc == 0 && in->msg->body_case == PINSHIM__VIEW__FRAME__BODY_HELLO &&
	    !hello_ok(in->msg->hello, err, errlen))
		rc = -1;
	if (rc == 0 &&
	    in->msg->body_case == PINSHIM__VIEW__FRAME__BODY__NOT_SET) {
		snprintf(err, errlen, "frame with no known body");
		rc = -1;
	}
	in->bytes = kind == FRAME_ANY ? in->arena.total : 0;
	if (rc < 0)
		frame_release(in);
	return rc;
}

void frame_release(struct frame_in *in)
{
	arena_release(&in->arena);
	in->msg = NULL;
	in->bytes = 0;
}
