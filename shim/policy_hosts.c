/* The policy's host table (policy.h): an array of sections grown
 * geometrically, and an open-addressing hash index of their names, so that
 * both parsing (the duplicate check) and the handshake's lookup stay
 * constant-time per name whatever the number of hosts. */
#include "policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ASCII only: in a Turkish locale tolower('I') is not 'i'. */
static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int policy_name_normalize(const char *name, char out[POLICY_HOST_MAX + 1])
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n > POLICY_HOST_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = ascii_lower(name[i]);
	out[n] = '\0';
	return 0;
}

/* FNV-1a: names are short, and an attacker who writes the policy can slow
 * only their own lookups. */
static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t slot_of(const struct policy *p, const char *name)
{
	size_t i = (size_t)name_hash(name) & p->index_mask;

	while (p->index[i] != 0 &&
	       strcmp(p->hosts[p->index[i] - 1].name, name) != 0)
		i = (i + 1) & p->index_mask;
	return i;
}

/* Doubles the index (at most half full, so probes stay short). */
static int index_grow(struct policy *p)
{
	size_t cap = p->index != NULL ? (p->index_mask + 1) * 2 : 64;
	uint32_t *old = p->index;
	size_t old_cap = old != NULL ? p->index_mask + 1 : 0;

	p->index = calloc(cap, sizeof(*p->index));
	if (p->index == NULL) {
		p->index = old;
		return -1;
	}
	p->index_mask = cap - 1;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i] != 0)
			p->index[slot_of(p, p->hosts[old[i] - 1].name)] =
				old[i];
	free(old);
	return 0;
}

static int hosts_grow(struct policy *p)
{
	size_t cap = p->hosts_cap ? p->hosts_cap * 2 : 16;
	struct policy_host *h = realloc(p->hosts, cap * sizeof(*h));

	if (h == NULL)
		return -1;
	p->hosts = h;
	p->hosts_cap = cap;
	return 0;
}

struct policy_host *policy_add_host(struct policy *p, const char *name)
{
	struct policy_host *h;

	if ((p->nhosts + 1) * 2 > (p->index ? p->index_mask + 1 : 0) &&
	    index_grow(p) < 0)
		return NULL;
	if (p->nhosts == p->hosts_cap && hosts_grow(p) < 0)
		return NULL;
	h = &p->hosts[p->nhosts];
	memset(h, 0, sizeof(*h));
	h->name = strdup(name);
	if (h->name == NULL)
		return NULL;
	h->mode = -1;
	p->nhosts++;
	p->index[slot_of(p, name)] = (uint32_t)p->nhosts;
	return h;
}

const struct policy_host *policy_find(const struct policy *p,
				      const char *name)
{
	size_t i;

	if (p->index == NULL)
		return NULL;
	i = slot_of(p, name);
	return p->index[i] != 0 ? &p->hosts[p->index[i] - 1] : NULL;
}

/* The entry named exactly name that may stand for its subdomains. */
static const struct policy_host *find_parent(const struct policy *p,
					     const char *name)
{
	const struct policy_host *h = policy_find(p, name);

	return h != NULL && h->include_subdomains && h->name[0] != '*' ? h
									: NULL;
}

const struct policy_host *policy_match(const struct policy *p,
				       const char *host)
{
	char name[POLICY_HOST_MAX + 1], wild[POLICY_HOST_MAX + 2];
	const struct policy_host *h;
	const char *dot;

	if (p == NULL || host == NULL ||
	    policy_name_normalize(host, name) < 0 || name[0] == '\0')
		return NULL;
	h = policy_find(p, name);
	if (h != NULL)
		return h;
	dot = strchr(name, '.');
	if (dot == NULL)
		return NULL;
	/* "*.example.com" stands for one label: a.example.com only */
	snprintf(wild, sizeof(wild), "*%s", dot);
	h = policy_find(p, wild);
	if (h != NULL)
		return h;
	/* parents from the longest: a.b.example.com, then b.example.com... */
	for (; dot != NULL; dot = strchr(dot + 1, '.')) {
		h = find_parent(p, dot + 1);
		if (h != NULL)
			return h;
	}
	return NULL;
}

enum policy_mode policy_host_mode(const struct policy *p,
				  const struct policy_host *h)
{
	return h->mode >= 0 ? (enum policy_mode)h->mode : p->mode;
}

bool policy_host_expired(const struct policy_host *h, time_t now)
{
	return h->expires != 0 && now >= h->expires;
}
