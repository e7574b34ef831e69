/* Opening and closing the database, transactions, and the error helpers
 * every store file uses. */
#include "internal.h"
#include "ossl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Cached rows per normalised table: far more than a fleet's distinct
 * chains or stacks, little memory (48 bytes a slot). */
#define STORE_CACHE_SLOTS (1u << 16)

/* The clients' side of counters is more varied (network x app x libssl x
 * os: 17 000 in bench/gen's fleet of 25 000 clients): 6 MB for it and for
 * the servers' side. */
#define STORE_DIMS_SLOTS (1u << 17)

/* The WAL is copied back into the database (store_checkpoint) once a
 * commit leaves more pages than this in it (16 MiB), and a WAL file grown
 * larger (a big group commit, a reader holding the checkpoint back) is cut
 * back to this size when it starts over.  Each checkpoint syncs the
 * database: at 4 MiB, bench/ingest stored 4% fewer events per second. */
#define STORE_WAL_PAGES 4096

int store_failf(struct store *s, char *err, size_t errlen, const char *fmt,
		...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "db %s: %s", s->path, what);
	return -1;
}

/* A failure of the file rather than of the statement. */
static bool file_error(int code)
{
	switch (code & 0xff) {
	case SQLITE_CORRUPT: case SQLITE_IOERR: case SQLITE_NOTADB:
	case SQLITE_CANTOPEN: case SQLITE_SCHEMA: case SQLITE_FULL:
		return true;
	default:
		return false;
	}
}

int store_fail(struct store *s, char *err, size_t errlen, const char *what)
{
	if (s->db != NULL && file_error(sqlite3_extended_errcode(s->db)))
		s->unreadable = true;
	return store_failf(s, err, errlen, "%s: %s", what, s->db != NULL
			   ? sqlite3_errmsg(s->db) : "no database");
}

int store_exec(struct store *s, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	store_failf(s, err, errlen, "%.60s: %s", sql,
		    msg != NULL ? msg : sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	return -1;
}

int store_step_done(struct store *s, sqlite3_stmt *st, const char *what,
		    char *err, size_t errlen)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return store_fail(s, err, errlen, what);
}

/* "file:PATH?mode=ro" with the characters a URI gives meaning escaped. */
static char *readonly_uri(const char *path)
{
	size_t n = strlen(path);
	char *uri = malloc(n * 3 + 32), *p;

	if (uri == NULL)
		return NULL;
	p = uri + sprintf(uri, "file:");
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		if (*c == '%' || *c == '?' || *c == '#' || *c < 0x20)
			p += sprintf(p, "%%%02X", *c);
		else
			*p++ = (char)*c;
	}
	strcpy(p, "?mode=ro");
	return uri;
}

static int open_db(struct store *s, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_NOMUTEX, rc;
	char *uri = NULL;
	const char *name = s->path;

	if (s->mode == STORE_WRITE) {
		flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	} else {
		uri = readonly_uri(s->path);
		if (uri == NULL)
			return store_failf(s, err, errlen, "out of memory");
		name = uri;
		flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
	}
	rc = sqlite3_open_v2(name, &s->db, flags, NULL);
	free(uri);
	if (rc != SQLITE_OK)
		return store_fail(s, err, errlen, "cannot open");
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 10000);
	return 0;
}

/* After each commit: how many frames the WAL holds (replaces SQLite's
 * automatic checkpoint, which would run inside the commit, before the
 * collector acks). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct store *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

/* The writer's settings: WAL so readers never wait, a large page cache so
 * the indexes' hot ends stay in memory, temp tables in memory, the WAL
 * checkpointed by store_checkpoint. */
static int tune_writer(struct store *s, enum store_sync sync, char *err,
		       size_t errlen)
{
	const char *sync_sql = sync == STORE_SYNC_FULL
			       ? "PRAGMA synchronous = FULL"
			       : "PRAGMA synchronous = NORMAL";
	char limit[64];

	if (store_exec(s, "PRAGMA journal_mode = WAL", err, errlen) < 0 ||
	    store_exec(s, sync_sql, err, errlen) < 0 ||
	    store_exec(s, "PRAGMA cache_size = -65536", err, errlen) < 0 ||
	    store_exec(s, "PRAGMA temp_store = MEMORY", err, errlen) < 0)
		return -1;
	sqlite3_wal_hook(s->db, wal_hook, s);
	/* in bytes: SQLite's default page is 4 KiB */
	snprintf(limit, sizeof(limit), "PRAGMA journal_size_limit = %lld",
		 STORE_WAL_PAGES * 4096LL);
	return store_exec(s, limit, err, errlen);
}

static int init_writer(struct store *s, char *err, size_t errlen)
{
	for (int i = 0; i < NORM_COUNT; i++)
		if (cache_init(&s->cache[i], i == NORM_DIMS ||
			       i == NORM_CLIENT ? STORE_DIMS_SLOTS
			       : STORE_CACHE_SLOTS) < 0)
			return store_failf(s, err, errlen, "out of memory");
	s->h = store_hasher_new();
	s->parts = store_parts_new();
	if (s->h == NULL || s->parts == NULL)
		return store_failf(s, err, errlen, "cannot set up SHA-256");
	return store_put_prepare(s, err, errlen);
}

/* Each connection is used by one thread at a time: SQLite's own mutexes
 * and its memory statistics (a global mutex per malloc) are pure cost.
 * Must run before SQLite initialises; a no-op if it already has. */
static void configure(void)
{
	sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct store *store_open(const char *path, enum store_mode mode,
			 enum store_sync sync, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct store *s;

	pthread_once(&once, configure);
	s = calloc(1, sizeof(*s));

	if (s == NULL || (s->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "db %s: out of memory", path);
		free(s);
		return NULL;
	}
	s->mode = mode;
	if (open_db(s, err, errlen) < 0)
		goto fail;
	if (mode == STORE_WRITE) {
		/* certificates' fields come from their DER (certinfo.h):
		 * the writer needs libssl resident and its table filled */
		if (!OPENSSL_init_ssl(0, NULL) || !ossl_resolve()) {
			snprintf(err, errlen, "db %s: OpenSSL's libssl.so.3 "
				 "could not be resolved", path);
			goto fail;
		}
		if (tune_writer(s, sync, err, errlen) < 0 ||
		    store_schema_migrate(s, err, errlen) < 0 ||
		    init_writer(s, err, errlen) < 0)
			goto fail;
	} else if (store_schema_check(s, err, errlen) < 0) {
		goto fail;
	}
	return s;
fail:
	store_close(s);
	return NULL;
}

static void finalize_all(struct store *s)
{
#define STORE_FINALIZE(name)                                                 \
	sqlite3_finalize(s->st.name);                                        \
	s->st.name = NULL;
	STORE_STMTS(STORE_FINALIZE)
#undef STORE_FINALIZE
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	finalize_all(s);
	rollup_free(s->rollup);
	if (s->db != NULL && s->mode == STORE_WRITE)
		sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
			     NULL);
	sqlite3_close_v2(s->db);
	for (int i = 0; i < NORM_COUNT; i++)
		cache_free(&s->cache[i]);
	store_hasher_free(s->h);
	store_parts_free(s->parts);
	free(s->path);
	free(s);
}

int store_begin(struct store *s, char *err, size_t errlen)
{
	return store_step_done(s, s->st.begin, "BEGIN", err, errlen);
}

/* The rollups summed over the transaction are written just before it
 * commits (rollup.c). */
int store_commit(struct store *s, char *err, size_t errlen)
{
	if (rollup_flush(s, err, errlen) < 0 ||
	    store_step_done(s, s->st.commit, "COMMIT", err, errlen) < 0) {
		store_rollback(s);
		return -1;
	}
	return 0;
}

/* PASSIVE: copies what no reader still needs, waits for no one; the next
 * transaction then starts the WAL over (and cuts the file back to
 * journal_size_limit).  A WAL under the limit is left to grow: each
 * checkpoint syncs the database, and pages written again and again (the
 * indexes' ends, this hour's rows) are copied once per checkpoint. */
int store_checkpoint(struct store *s, char *err, size_t errlen)
{
	int rc;

	if (s->wal_frames <= STORE_WAL_PAGES)
		return 0;
	rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
				       NULL, NULL);
	s->wal_frames = 0;
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return store_fail(s, err, errlen, "checkpoint");
	return 0;
}

const char *store_path(const struct store *s)
{
	return s->path;
}

bool store_unreadable(struct store *s)
{
	return s->unreadable;
}

bool store_moved(struct store *s)
{
	int moved = 0;

	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED,
				 &moved) != SQLITE_OK)
		return false;
	return moved != 0;
}

/* A new file only (O_EXCL): a copy never overwrites anything. */
static int copy_target(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		snprintf(err, errlen, "copy to %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

int store_copy_to(struct store *s, const char *path, char *err,
		  size_t errlen)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int rc;

	if (copy_target(path, err, errlen) < 0)
		return -1;
	rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL);
	b = rc == SQLITE_OK ? sqlite3_backup_init(dst, "main", s->db, "main")
			    : NULL;
	if (b != NULL) {
		sqlite3_backup_step(b, -1);
		rc = sqlite3_backup_finish(b);
	} else if (rc == SQLITE_OK) {
		rc = sqlite3_errcode(dst);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(dst, "PRAGMA synchronous = FULL;"
				  "PRAGMA journal_mode = DELETE", NULL, NULL,
				  NULL);
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "copy to %s: %s", path,
			 dst != NULL ? sqlite3_errmsg(dst) : "cannot open");
	sqlite3_close_v2(dst);
	return rc == SQLITE_OK ? 0 : -1;
}

/* Undoes the open transaction; the caches may name rows that are gone. */
void store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db)) {
		sqlite3_step(s->st.rollback);
		sqlite3_reset(s->st.rollback);
	}
	if (s->rollup != NULL)
		rollup_clear(s->rollup);
	for (int i = 0; i < NORM_COUNT; i++)
		cache_clear(&s->cache[i]);
}
