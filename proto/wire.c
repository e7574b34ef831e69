/* Length-prefixed protobuf frames over a stream socket, with deadlines. */
#include "wire.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

long long wire_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes: 1 ready, 0
 * timed out, -1 error. */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		long long left = deadline - wire_now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

uint8_t *wire_pack(const Pinshim__Frame *f, size_t *len)
{
	size_t n = pinshim__frame__get_packed_size(f);
	uint8_t *buf;

	if (n > WIRE_MAX_FRAME)
		return NULL;
	buf = malloc(n + 4);
	if (buf == NULL)
		return NULL;
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	pinshim__frame__pack(f, buf + 4);
	*len = n + 4;
	return buf;
}

Pinshim__Frame *wire_unpack(const uint8_t *body, size_t len, char *err,
			    size_t errlen)
{
	Pinshim__Frame *f = pinshim__frame__unpack(NULL, len, body);

	if (f == NULL) {
		fail(err, errlen, "frame of %zu bytes is not a valid protobuf Frame",
		     len);
		return NULL;
	}
	if (!wire_validate(f, err, errlen)) {
		pinshim__frame__free_unpacked(f, NULL);
		return NULL;
	}
	return f;
}

void wire_free(Pinshim__Frame *f)
{
	if (f != NULL)
		pinshim__frame__free_unpacked(f, NULL);
}

int wire_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	const uint8_t *p = buf;
	long long deadline = wire_now_ms() + timeout_ms;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		int r = wait_fd(fd, POLLOUT, deadline);
		if (r <= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			return -1;
		}
	}
	return 0;
}

int wire_read_exact(int fd, void *dst, size_t len, long long deadline,
		    char *err, size_t errlen)
{
	uint8_t *buf = dst;
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			if (got == 0)
				return 0;
			fail(err, errlen, "connection closed inside a frame "
			     "(%zu of %zu bytes)", got, len);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			fail(err, errlen, "read: %s", strerror(errno));
			return -1;
		}
		int r = wait_fd(fd, POLLIN, deadline);
		if (r == 0) {
			fail(err, errlen, "timed out inside a frame (%zu of %zu "
			     "bytes)", got, len);
			return -2;
		}
		if (r < 0) {
			fail(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
	}
	return 1;
}

int wire_read(int fd, size_t max_frame, int timeout_ms, Pinshim__Frame **out,
	      char *err, size_t errlen)
{
	long long deadline = wire_now_ms() + timeout_ms;
	uint8_t hdr[4], *body;
	size_t len;
	int r;

	*out = NULL;
	r = wire_read_exact(fd, hdr, 4, deadline, err, errlen);
	if (r <= 0)
		return r < 0 ? -1 : 0;
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
	      (size_t)hdr[2] << 8 | hdr[3];
	if (len > max_frame || len > WIRE_MAX_FRAME) {
		fail(err, errlen, "frame of %zu bytes exceeds the limit of %zu",
		     len, max_frame < WIRE_MAX_FRAME ? max_frame : WIRE_MAX_FRAME);
		return -1;
	}
	body = malloc(len ? len : 1);
	if (body == NULL) {
		fail(err, errlen, "out of memory for a frame of %zu bytes", len);
		return -1;
	}
	r = wire_read_exact(fd, body, len, deadline, err, errlen);
	if (r == 0)
		fail(err, errlen, "connection closed after a frame header");
	if (r > 0)
		*out = wire_unpack(body, len, err, errlen);
	free(body);
	return *out != NULL ? 1 : -1;
}

int wire_send(int fd, const Pinshim__Frame *f, int timeout_ms)
{
	size_t len;
	uint8_t *buf = wire_pack(f, &len);
	int r;

	if (buf == NULL) {
		errno = EMSGSIZE;
		return -1;
	}
	r = wire_write_all(fd, buf, len, timeout_ms);
	free(buf);
	return r;
}

void wire_frame_hello(Pinshim__Frame *f, Pinshim__Hello *h)
{
	pinshim__frame__init(f);
	f->body_case = PINSHIM__FRAME__BODY_HELLO;
	f->hello = h;
}

void wire_frame_welcome(Pinshim__Frame *f, Pinshim__Welcome *w)
{
	pinshim__frame__init(f);
	f->body_case = PINSHIM__FRAME__BODY_WELCOME;
	f->welcome = w;
}

void wire_frame_batch(Pinshim__Frame *f, Pinshim__Batch *b)
{
	pinshim__frame__init(f);
	f->body_case = PINSHIM__FRAME__BODY_BATCH;
	f->batch = b;
}

void wire_frame_ack(Pinshim__Frame *f, Pinshim__Ack *a)
{
	pinshim__frame__init(f);
	f->body_case = PINSHIM__FRAME__BODY_ACK;
	f->ack = a;
}

void wire_frame_error(Pinshim__Frame *f, Pinshim__Error *e)
{
	pinshim__frame__init(f);
	f->body_case = PINSHIM__FRAME__BODY_ERROR;
	f->error = e;
}
