/* link: what every bench sender does with a collector — dial it, say
 * Hello, and the byte-level helpers for hand-built frames (ingest.c and
 * gen.c build batches without protobuf-c, for speed). */
#ifndef PINSHIM_BENCH_LINK_H
#define PINSHIM_BENCH_LINK_H

#include <stddef.h>
#include <stdint.h>

/* A connected TCP socket to "host:port", or -1. */
int link_dial(const char *collector);

/* Hello (token may be NULL) and the collector's Welcome: 0, or -1 after a
 * message on stderr prefixed with prog. */
int link_hello(int fd, const char *prog, const char *collector,
	       const char *token, const char *name);

/* A protobuf varint of v at p: its length (at most 10). */
size_t link_varint(uint8_t *p, uint64_t v);

/* A UUIDv7 of time ms (Unix milliseconds) and the random words r1, r2,
 * as the shim makes event ids. */
void link_uuid7(uint8_t id[16], int64_t ms, uint64_t r1, uint64_t r2);

#endif
