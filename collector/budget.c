/* The memory budget: bytes that frames in flight hold (bodies being read,
 * decoded trees waiting for the writer), across every connection.  Taking
 * never waits: a connection that does not get its bytes stops reading and
 * waits in the loop, under its frame deadline, while the others go on.
 * Before the token is checked nothing is taken from it (hello.c). */
#include "collector.h"

#include <stdatomic.h>

static atomic_size_t used;
static atomic_uint generation;

bool budget_try(size_t bytes)
{
	size_t now = atomic_load_explicit(&used, memory_order_relaxed);

	do {
		if (bytes > COLLECTOR_BUDGET - now)
			return false;
	} while (!atomic_compare_exchange_weak(&used, &now, now + bytes));
	return true;
}

void budget_give(size_t bytes)
{
	atomic_fetch_sub(&used, bytes);
	atomic_fetch_add_explicit(&generation, 1, memory_order_release);
}

unsigned budget_generation(void)
{
	return atomic_load_explicit(&generation, memory_order_acquire);
}
