/* The collector's statistics: one row per number in the stats table,
 * rewritten inside every commit so they match the data beside them. */
#include "internal.h"

#include <string.h>

static const char *const names[] = {
#define STORE_STATS_NAME(name) #name,
	STORE_STATS(STORE_STATS_NAME)
#undef STORE_STATS_NAME
};

#define NSTATS (sizeof(names) / sizeof(names[0]))

static uint64_t *field(struct store_stats *st, size_t i)
{
	return (uint64_t *)st + i;
}

_Static_assert(sizeof(struct store_stats) == NSTATS * sizeof(uint64_t),
	       "struct store_stats is only the STORE_STATS numbers");

void store_stats_each(const struct store_stats *st,
		      void (*fn)(void *arg, const char *name, uint64_t value),
		      void *arg)
{
	for (size_t i = 0; i < NSTATS; i++)
		fn(arg, names[i], *field((struct store_stats *)st, i));
}

int store_stats_read(struct store *s, struct store_stats *st, char *err,
		     size_t errlen)
{
	sqlite3_stmt *q;
	int rc;

	memset(st, 0, sizeof(*st));
	if (sqlite3_prepare_v2(s->db, "SELECT name, value FROM stats", -1, &q,
			       NULL) != SQLITE_OK)
		return store_fail(s, err, errlen, "read stats");
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 0);

		for (size_t i = 0; name != NULL && i < NSTATS; i++)
			if (strcmp(name, names[i]) == 0)
				*field(st, i) =
					(uint64_t)sqlite3_column_int64(q, 1);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return store_fail(s, err, errlen, "read stats");
	return 0;
}

int store_stats_write(struct store *s, const struct store_stats *st,
		      char *err, size_t errlen)
{
	sqlite3_stmt *q = s->st.stats_put;

	for (size_t i = 0; i < NSTATS; i++) {
		sqlite3_bind_text(q, 1, names[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2,
				   (int64_t)*field((struct store_stats *)st, i));
		if (store_step_done(s, q, "write stats", err, errlen) < 0)
			return -1;
	}
	return 0;
}
