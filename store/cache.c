/* Open addressing with linear probing over the key's first 8 bytes (the
 * keys are SHA-256 digests: already uniformly spread). */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

int cache_init(struct cache *c, size_t cap)
{
	size_t n = 16;

	while (n < cap)
		n <<= 1;
	c->slots = calloc(n, sizeof(*c->slots));
	c->cap = c->slots != NULL ? n : 0;
	c->used = 0;
	return c->slots != NULL ? 0 : -1;
}

void cache_free(struct cache *c)
{
	free(c->slots);
	c->slots = NULL;
	c->cap = c->used = 0;
}

static size_t home(const struct cache *c, const uint8_t *key)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return (size_t)h & (c->cap - 1);
}

struct cache_slot *cache_find(struct cache *c, const uint8_t *key)
{
	if (c->cap == 0)
		return NULL;
	for (size_t i = home(c, key);; i = (i + 1) & (c->cap - 1)) {
		struct cache_slot *s = &c->slots[i];

		if (s->rowid == 0)
			return NULL;
		if (memcmp(s->key, key, CACHE_KEY_LEN) == 0)
			return s;
	}
}

void cache_put(struct cache *c, const uint8_t *key, int64_t rowid,
	       uint32_t flags)
{
	struct cache_slot *s;

	if (c->cap == 0 || rowid == 0)
		return;
	/* at most half full, so probes stay short and a free slot exists */
	if ((c->used + 1) * 2 > c->cap)
		cache_clear(c);
	for (size_t i = home(c, key);; i = (i + 1) & (c->cap - 1)) {
		s = &c->slots[i];
		if (s->rowid == 0)
			c->used++;
		else if (memcmp(s->key, key, CACHE_KEY_LEN) != 0)
			continue;
		break;
	}
	memcpy(s->key, key, CACHE_KEY_LEN);
	s->rowid = rowid;
	s->flags = flags;
}

void cache_clear(struct cache *c)
{
	if (c->slots != NULL)
		memset(c->slots, 0, c->cap * sizeof(*c->slots));
	c->used = 0;
}
