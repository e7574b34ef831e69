/* DER already proven to be one X.509 certificate, by its SHA-256.
 *
 * prepare.c parses every certificate a sender sends the first time its
 * connection's memo sees the chain; parsing (d2i_X509, then the key
 * through OpenSSL 3's decoders) costs far more than hashing, and a fleet
 * sends the same few thousand certificates over and over, while the memo
 * forgets whole chains when its bytes run out.  A process-wide,
 * direct-mapped set: a slot holds a whole hash, so a sender can only evict
 * entries (costing a parse again), never make bytes pass unparsed. */
#include "internal.h"

#include <pthread.h>
#include <string.h>

#define CERTSEEN_SLOTS 16384    /* power of two: 512 KiB */

static struct {
	pthread_mutex_t mu;
	uint8_t sha[CERTSEEN_SLOTS][32];
	bool used[CERTSEEN_SLOTS];
} seen = { .mu = PTHREAD_MUTEX_INITIALIZER };

static size_t slot_of(const uint8_t sha[32])
{
	uint32_t v;

	memcpy(&v, sha, sizeof(v));     /* uniform: a SHA-256 */
	return v & (CERTSEEN_SLOTS - 1);
}

bool certseen_known(const uint8_t sha[32])
{
	size_t i = slot_of(sha);
	bool hit;

	pthread_mutex_lock(&seen.mu);
	hit = seen.used[i] && memcmp(seen.sha[i], sha, 32) == 0;
	pthread_mutex_unlock(&seen.mu);
	return hit;
}

void certseen_add(const uint8_t sha[32])
{
	size_t i = slot_of(sha);

	pthread_mutex_lock(&seen.mu);
	memcpy(seen.sha[i], sha, 32);
	seen.used[i] = true;
	pthread_mutex_unlock(&seen.mu);
}
