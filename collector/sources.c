/* Per sending address (IPv4, or an IPv6 /64: one host can hold a whole
 * /64): what it did before authenticating.  The loop thread only.
 *
 * - Unauthenticated connections are counted per source, so that one
 *   address cannot hold every pre-authentication slot (loop.c evicts its
 *   own oldest first).
 * - Wrong tokens: after AUTH_FAIL_BURST in one window the source is
 *   blocked for BLOCK_MS; its connections are closed as they are accepted.
 * - The log: the first problem of each kind in a window is one line,
 *   naming the connection; the rest of the window is one line at its end
 *   ("12,000 more: ..."), so a flood costs a line per source per window.
 *
 * The table is bounded: past SOURCES_MAX addresses, the rest share one
 * record ("other addresses"). */
#include "collector.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOURCES_MAX 65536
#define BUCKETS 4096
#define WINDOW_MS 10000
#define AUTH_FAIL_BURST 20
#define BLOCK_MS 10000

struct source {
	struct source *next;        /* hash chain */
	unsigned char key[17];      /* family, then the address (or /64) */
	char label[64];
	unsigned conns;             /* connections that point here */
	struct conn_list unauth;
	long long window_start;
	unsigned counts[SRC_REASONS];
	long long blocked_until;
};

static struct source *buckets[BUCKETS];
static size_t nsources;
static struct source other = { .label = "other addresses" };

static const char *const reason_text[SRC_REASONS] = {
	[SRC_AUTH_FAILED] = "authentication failed",
	[SRC_BLOCKED] = "refused while blocked for failed tokens",
	[SRC_QUOTA] = "closed for too many unauthenticated connections",
	[SRC_NO_HELLO] = "no hello in time",
	[SRC_BAD_HELLO] = "bad frame before the hello",
};

/* The key and label of sa: IPv4 (also v4-mapped IPv6), or an IPv6 /64. */
static void key_of(const struct sockaddr *sa, unsigned char key[17],
		   char *label, size_t len)
{
	struct in6_addr a6 = { 0 };

	memset(key, 0, 17);
	if (sa->sa_family == AF_INET6) {
		memcpy(&a6, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		if (!IN6_IS_ADDR_V4MAPPED(&a6)) {
			key[0] = AF_INET6;
			memset(a6.s6_addr + 8, 0, 8);
			memcpy(key + 1, a6.s6_addr, 8);
			inet_ntop(AF_INET6, &a6, label, (socklen_t)len);
			strncat(label, "/64", len - strlen(label) - 1);
			return;
		}
		memcpy(key + 1, a6.s6_addr + 12, 4);
	} else if (sa->sa_family == AF_INET) {
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	}
	key[0] = AF_INET;
	inet_ntop(AF_INET, key + 1, label, (socklen_t)len);
}

static unsigned bucket_of(const unsigned char key[17])
{
	unsigned h = 2166136261u;

	for (int i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % BUCKETS;
}

struct source *source_of(const struct sockaddr *sa)
{
	unsigned char key[17];
	char label[64];
	struct source *s;
	unsigned b;

	key_of(sa, key, label, sizeof(label));
	b = bucket_of(key);
	for (s = buckets[b]; s != NULL; s = s->next)
		if (memcmp(s->key, key, sizeof(key)) == 0)
			return s;
	if (nsources >= SOURCES_MAX || (s = calloc(1, sizeof(*s))) == NULL)
		return &other;
	memcpy(s->key, key, sizeof(key));
	snprintf(s->label, sizeof(s->label), "%s", label);
	s->next = buckets[b];
	buckets[b] = s;
	nsources++;
	return s;
}

void source_hold(struct source *s)
{
	s->conns++;
}

void source_drop(struct source *s)
{
	s->conns--;
}

struct conn_list *source_unauth(struct source *s)
{
	return &s->unauth;
}

const char *source_label(const struct source *s)
{
	return s->label;
}

bool source_blocked(const struct source *s, long long now_ms)
{
	return now_ms < s->blocked_until;
}

/* One line for what the window held beyond the first of each kind. */
static void window_end(struct source *s)
{
	char line[512];
	size_t o = 0;

	for (int i = 0; i < SRC_REASONS; i++) {
		if (s->counts[i] <= 1)
			continue;
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%u %s",
				      o ? ", " : "", s->counts[i] - 1,
				      reason_text[i]);
		if (o >= sizeof(line))
			break;
	}
	if (o > 0)
		log_limited("%s: in the last %d s, %s", s->label,
			    WINDOW_MS / 1000, line);
	memset(s->counts, 0, sizeof(s->counts));
	s->window_start = 0;
}

void source_problem(struct source *s, enum source_reason why,
		    long long now_ms, const char *msg)
{
	if (s->window_start != 0 && now_ms - s->window_start >= WINDOW_MS)
		window_end(s);
	if (s->window_start == 0)
		s->window_start = now_ms;
	if (s->counts[why]++ == 0)
		log_limited("%s", msg);
}

/* After source_problem(SRC_AUTH_FAILED) has counted it. */
void source_auth_failed(struct source *s, long long now_ms)
{
	if (s->counts[SRC_AUTH_FAILED] >= AUTH_FAIL_BURST &&
	    !source_blocked(s, now_ms)) {
		s->blocked_until = now_ms + BLOCK_MS;
		log_limited("%s: blocked for %d s after %d failed tokens",
			    s->label, BLOCK_MS / 1000, AUTH_FAIL_BURST);
	}
}

/* Ends s's window if it is over; true when s is no longer needed. */
static bool tick_one(struct source *s, long long now_ms)
{
	if (s->window_start != 0 && now_ms - s->window_start >= WINDOW_MS)
		window_end(s);
	return s->conns == 0 && s->window_start == 0 &&
	       !source_blocked(s, now_ms);
}

void sources_tick(long long now_ms)
{
	for (unsigned b = 0; b < BUCKETS; b++) {
		struct source **p = &buckets[b];

		while (*p != NULL) {
			struct source *s = *p;

			if (tick_one(s, now_ms)) {
				*p = s->next;
				free(s);
				nsources--;
			} else {
				p = &s->next;
			}
		}
	}
	tick_one(&other, now_ms);
}
