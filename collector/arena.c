/* A bump allocator for protobuf-c's unpack: one frame's whole decoded
 * tree lives in a few chunks, freed at once when the batch is stored.
 *
 * Why: unpacking a batch with malloc costs one malloc and one free per
 * field (they were most of the collector's time), and fresh large blocks
 * cost a page fault per 4 KiB on first touch.  So chunks have one size and
 * are recycled through a small pool, already faulted in.
 *
 * The arena's limit also bounds how much memory a small hostile frame can
 * make protobuf-c allocate (thousands of empty sub-messages, or unknown
 * fields, which protobuf-c always keeps, decode to far more bytes than
 * they take on the wire): over the limit, unpack fails as on garbage.
 * And its chunks come out of the collector's shared budget as it grows
 * (budget.c), so many such frames at once fail too, rather than take the
 * machine's memory. */
#include "arena.h"

#include <pthread.h>
#include <stdlib.h>

#include "collector.h"

#define CHUNK_SIZE ARENA_CHUNK
#define POOL_MAX 64             /* idle chunks kept: 64 MiB */

struct chunk {
	struct chunk *next;
	size_t size, used;
	max_align_t data[];
};

static struct {
	pthread_mutex_t lock;
	struct chunk *free;
	unsigned n;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct chunk *chunk_get(size_t size)
{
	struct chunk *c = NULL;

	if (size == CHUNK_SIZE) {
		pthread_mutex_lock(&pool.lock);
		c = pool.free;
		if (c != NULL) {
			pool.free = c->next;
			pool.n--;
		}
		pthread_mutex_unlock(&pool.lock);
	}
	if (c == NULL) {
		c = malloc(sizeof(*c) + size);
		if (c == NULL)
			return NULL;
		c->size = size;
	}
	c->used = 0;
	return c;
}

static void chunk_put(struct chunk *c)
{
	if (c->size == CHUNK_SIZE) {
		pthread_mutex_lock(&pool.lock);
		if (pool.n < POOL_MAX) {
			c->next = pool.free;
			pool.free = c;
			pool.n++;
			c = NULL;
		}
		pthread_mutex_unlock(&pool.lock);
	}
	free(c);
}

static void *arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	struct chunk *c = a->head;
	size_t need = (size + sizeof(max_align_t) - 1) &
		      ~(sizeof(max_align_t) - 1);

	if (c == NULL || c->size - c->used < need) {
		size_t csize = c == NULL ? a->first : CHUNK_SIZE;

		if (csize < need)
			csize = need;
		if (need < size || a->total + csize > a->limit) {
			a->over = true;
			return NULL;
		}
		if (a->budget && !budget_try(csize)) {
			a->starved = true;
			return NULL;
		}
		c = chunk_get(csize);
		if (c == NULL) {
			if (a->budget)
				budget_give(csize);
			return NULL;
		}
		c->next = a->head;
		a->head = c;
		a->total += csize;
	}
	c->used += need;
	return (char *)c->data + c->used - need;
}

static void arena_noop_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

void arena_init(struct arena *a, size_t limit, size_t first, bool budget)
{
	a->head = NULL;
	a->total = 0;
	a->over = false;
	a->starved = false;
	a->limit = limit;
	a->first = first;
	a->budget = budget;
	a->alloc.alloc = arena_alloc;
	a->alloc.free = arena_noop_free;
	a->alloc.allocator_data = a;
}

void arena_release(struct arena *a)
{
	struct chunk *c = a->head, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		chunk_put(c);
	}
	if (a->budget && a->total > 0)
		budget_give(a->total);
	a->head = NULL;
	a->total = 0;
}
