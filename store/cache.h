/* A bounded in-memory map from a 32-byte content hash to the rowid of the
 * row that holds that content, so the writer finds a known chain, stack or
 * platform without asking SQLite.  Only the writer thread uses it.  When
 * full it forgets everything (a miss only costs a lookup in the table), so
 * hostile senders inventing new content cannot grow it without bound. */
#ifndef PINSHIM_STORE_CACHE_H
#define PINSHIM_STORE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_KEY_LEN 32

struct cache_slot {
	uint8_t key[CACHE_KEY_LEN];
	int64_t rowid;          /* 0: empty slot */
	uint32_t flags;         /* the owner's (cert: has DER) */
};

struct cache {
	struct cache_slot *slots;
	size_t cap;             /* power of two */
	size_t used;
};

/* 0, or -1 when out of memory.  cap is rounded up to a power of two. */
int cache_init(struct cache *c, size_t cap);
void cache_free(struct cache *c);

/* The slot holding key, or NULL. */
struct cache_slot *cache_find(struct cache *c, const uint8_t *key);

/* Remembers key → rowid (replacing an entry of the same key). */
void cache_put(struct cache *c, const uint8_t *key, int64_t rowid,
	       uint32_t flags);

/* Forgets everything: after a rollback the rowids may not exist. */
void cache_clear(struct cache *c);

#endif
