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
	size_t first;               /* size of the first chunk */
	bool budget;                /* chunks are taken from budget.c */
	bool over;                  /* an allocation was refused: limit */
	bool starved;               /* ... the budget was spent */
};

/* An empty arena of at most limit bytes, whose first chunk holds first
 * bytes (later ones ARENA_CHUNK); with budget, every chunk is taken from
 * the collector's shared budget and given back on release. */
#define ARENA_CHUNK (1u << 20)
void arena_init(struct arena *a, size_t limit, size_t first, bool budget);
/* Frees every chunk: every pointer handed out is gone. */
void arena_release(struct arena *a);

#endif
