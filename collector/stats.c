/* The collector's running numbers (store.h, STORE_STATS), and --stats.
 * Connection threads count rejections; the writer counts what it stored
 * and writes the lot with each commit. */
#include "collector.h"

#include <json-c/json.h>
#include <stdio.h>

struct store_stats stats;

void stats_add(uint64_t *field, uint64_t n)
{
	__atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

void stats_snapshot(struct store_stats *out)
{
	const uint64_t *src = (const uint64_t *)&stats;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(stats) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static void add_json(void *arg, const char *name, uint64_t value)
{
	json_object_object_add(arg, name, json_object_new_int64((int64_t)value));
}

static void print_text(void *arg, const char *name, uint64_t value)
{
	printf("%-20s %llu\n", name, (unsigned long long)value);
}

int stats_print(const char *db, bool json)
{
	struct store_stats st;
	struct store *s;
	char err[512];
	int rc = 1;

	s = store_open(db, STORE_READ, STORE_SYNC_NORMAL, err, sizeof(err));
	if (s == NULL || store_stats_read(s, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "pinshim-collector: %s\n", err);
		goto out;
	}
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "db", json_object_new_string(db));
		store_stats_each(&st, add_json, o);
		printf("%s\n", json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("%-20s %s\n", "db", db);
		store_stats_each(&st, print_text, NULL);
	}
	rc = 0;
out:
	store_close(s);
	return rc;
}
