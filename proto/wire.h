/* The collector protocol's framing, shared by the shim's sender, the
 * collector and the tools that speak to it (bench, tests).  Every message is
 * a Pinshim__Frame (proto/pinshim.proto) preceded by its length as a 4-byte
 * big-endian integer.  Nothing here knows about sockets beyond an fd and a
 * deadline; nothing here calls OpenSSL (the shim flushes at exit, after
 * which OpenSSL may be gone). */
#ifndef PINSHIM_WIRE_H
#define PINSHIM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinshim.pb-c.h"

#define WIRE_PROTOCOL 1
#define WIRE_MAX_FRAME (8u << 20)  /* bytes after the length prefix */
/* Before its token is checked a sender may send one frame of at most
 * this many bytes: its Hello (a token of up to WIRE_MAX_TOKEN bytes and a
 * name of up to WIRE_MAX_NAME). */
#define WIRE_MAX_HELLO 2048
#define WIRE_MAX_NAME 512
#define WIRE_ID_LEN 16

/* Field bounds a valid frame keeps (wire_validate); a sender cuts its
 * records to fit them, the collector refuses a frame that does not. */
#define WIRE_MAX_RECORDS 20000     /* events + counters + chains, a batch */
#define WIRE_MAX_STRING 4096       /* any string field */
#define WIRE_MAX_CHAIN 10          /* certificates per chain (ChainSeen: 1..10,
                                      fingerprint 32 bytes) */
#define WIRE_MAX_DER 16384         /* one certificate's DER */
#define WIRE_MAX_STACK 64          /* stack frames */
#define WIRE_MAX_LIST 64           /* pins, resolvers, proxy variables */
#define WIRE_MAX_TOKEN 1024

/* The frame as length prefix + protobuf, in one malloc'd buffer (free()),
 * or NULL when out of memory or over WIRE_MAX_FRAME. */
uint8_t *wire_pack(const Pinshim__Frame *f, size_t *len);

/* Unpacks a frame body of len bytes (no prefix), which the caller has
 * already checked against its limit.  NULL with err set when the bytes are
 * not a Frame or the frame breaks a bound (wire_validate).  Free with
 * wire_free. */
Pinshim__Frame *wire_unpack(const uint8_t *body, size_t len, char *err,
			    size_t errlen);
void wire_free(Pinshim__Frame *f);

/* The length of the well-formed UTF-8 character at s (at most n bytes):
 * 1 for ASCII, 0 when the bytes are not one (overlong, surrogate, beyond
 * U+10FFFF, cut short).  Every string of a frame must be made of them. */
size_t wire_utf8_char(const unsigned char *s, size_t n);

/* Checks every bound above on a decoded frame; false with err set. */
bool wire_validate(const Pinshim__Frame *f, char *err, size_t errlen);

/* Writes all of buf within timeout_ms (poll on a non-blocking or blocking
 * fd).  0, or -1 with errno (ETIMEDOUT when the deadline passed). */
int wire_write_all(int fd, const void *buf, size_t len, int timeout_ms);

/* CLOCK_MONOTONIC in milliseconds: the clock of the deadlines below. */
long long wire_now_ms(void);

/* Reads exactly len bytes by the deadline (wire_now_ms() + a timeout):
 * 1 done, 0 end of stream before the first byte, -1 error, -2 timed out
 * (err set: "connection closed inside a frame (N of M bytes)", "timed out
 * inside a frame (N of M bytes)", "read: ..."). */
int wire_read_exact(int fd, void *buf, size_t len, long long deadline,
		    char *err, size_t errlen);

/* Reads one frame within timeout_ms: 1 and *out set, 0 on a clean end of
 * stream before any byte, -1 with err set ("frame of N bytes exceeds the
 * limit of M", "connection closed inside a frame", "timed out", ...). */
int wire_read(int fd, size_t max_frame, int timeout_ms, Pinshim__Frame **out,
	      char *err, size_t errlen);

/* Convenience constructors for the small frames; send with wire_send. */
int wire_send(int fd, const Pinshim__Frame *f, int timeout_ms);

/* Sets up a Frame around one body (the body stays the caller's). */
void wire_frame_hello(Pinshim__Frame *f, Pinshim__Hello *h);
void wire_frame_welcome(Pinshim__Frame *f, Pinshim__Welcome *w);
void wire_frame_batch(Pinshim__Frame *f, Pinshim__Batch *b);
void wire_frame_ack(Pinshim__Frame *f, Pinshim__Ack *a);
void wire_frame_error(Pinshim__Frame *f, Pinshim__Error *e);

#endif
