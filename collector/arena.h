/* One frame's memory: see arena.c. */
#ifndef PINSHIM_COLLECTOR_ARENA_H
#define PINSHIM_COLLECTOR_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

struct chunk;

struct arena {
	ProtobufCAllocator alloc;   /* pass &arena->alloc to unpack */
	struct chunk *head;
	size_t total;               /* bytes of chunks held */
	size_t limit;               /* total never exceeds it */
	bool over;                  /* an allocation was refused for it */
};

void arena_init(struct arena *a, size_t limit);
/* Frees every chunk: every pointer handed out is gone. */
void arena_release(struct arena *a);

#endif
