/* The spool: batches the collector has not acknowledged, on disk, so that
 * this process or any later one sends them when the collector is back.
 * Sender thread only (it is the one place the shim writes files and calls
 * fsync).
 *
 * One file per batch, holding the Frame exactly as it goes on the wire
 * behind a header with its length and CRC-32 (delivery.h).  A file is
 * written under a temporary name, fsync'ed and renamed, so a crash leaves
 * either a whole file or a temporary one; a file that fails its length, CRC
 * or frame check anyway (disk trouble, someone else's bytes) is moved aside
 * as *.torn and never sent: at most TORN_MAX of them are kept, none longer
 * than TORN_KEEP_S, they do not count against the spool's limits, and a
 * process says so in one line, not one per file.
 *
 * Several processes share the directory: a file is claimed by renaming it
 * to <name>.claim.<pid>.<start time>, which only one of them can do; the
 * claimer unlinks it after the Ack or renames it back.  A claim or temporary
 * file whose process is gone (pid not running, or running with another
 * start time) is taken over or removed.  Replaying a batch twice is harmless
 * (the collector dedupes by record id), only wasteful. */
#include "delivery.h"
#include "spool_dir.h"
#include "wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "PSPOOL01"
#define HDR 16
#define RESCAN_S 10            /* look again for other processes' files */
#define CAND_MAX 256           /* names taken from one directory scan */
#define TORN_MAX 64            /* *.torn files kept for a look */
#define TORN_KEEP_S (7 * 86400)

static struct {
	int pid;                   /* whose state this is (fork) */
	unsigned long long start;  /* our start time, for claim names */
	bool checked, usable;
	char dir[PATH_MAX - 128];  /* room for the names in it */
	long long files, bytes;    /* estimate, refreshed by every scan */
	long long torn;            /* *.torn files, by the last scan */
	bool torn_logged;
	bool scanned;
	bool pending;              /* files may wait */
	long long next_scan;       /* CLOCK_MONOTONIC seconds */
	char **cand;               /* sorted names to try, from the last scan */
	size_t ncand, icand;
	bool full_logged, error_logged;
} sp;

static long long mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Start time of pid (clock ticks since boot, /proc/pid/stat field 22), 0
 * when pid does not exist. */
static unsigned long long proc_start(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* No /proc at all: a live pid is all we can know. */
		if (errno != ENOENT && (kill(pid, 0) == 0 || errno == EPERM))
			return 1;
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');     /* the command name may hold anything */
	if (p == NULL)
		return 0;
	/* Fields 3..21 skipped, then starttime. */
	for (int field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		start = strtoull(p + 1, NULL, 10);
	return start;
}

static bool owner_alive(int pid, unsigned long long start)
{
	unsigned long long now = proc_start(pid);

	return now != 0 && (now == 1 || now == start);
}

static void self_update(void)
{
	int pid = (int)getpid();

	if (sp.pid == pid)
		return;
	/* A forked child: the parent's claims and caches are not ours. */
	for (size_t i = 0; i < sp.ncand; i++)
		free(sp.cand[i]);
	free(sp.cand);
	memset(&sp, 0, sizeof(sp));
	sp.pid = pid;
	sp.start = proc_start(pid);
	sp.pending = true;
}

/* The configured directory, else the default one (spool_dir.h), which
 * moves on when someone else took /var/tmp/pinshim-<uid> first (said
 * once). */
static const char *which_dir(bool create, char *def, size_t len)
{
	const char *dir = config_settings()->spool_dir;
	char squatted[PATH_MAX + 64];

	if (dir != NULL)
		return dir;
	spool_dir_default(def, len, create, squatted, sizeof(squatted));
	if (squatted[0] != '\0' && create)
		shim_log(LOG_ERROR, "spool directory %s refused: spooling to %s "
			 "instead", squatted, def);
	return def;
}

/* The directory, created 0700 when create and missing; refused when
 * someone else owns it or others may write to it (they could plant batches
 * or read ours).  NULL when unusable (logged once) or, without create,
 * missing. */
static const char *spool_open(bool create)
{
	char def[PATH_MAX];
	const char *dir, *why = NULL;
	struct stat st;

	self_update();
	if (sp.checked)
		return sp.usable ? sp.dir : NULL;
	dir = which_dir(create, def, sizeof(def));
	if (strlen(dir) >= sizeof(sp.dir) - 80) {
		why = "path too long";
	} else if (lstat(dir, &st) != 0) {
		if (errno != ENOENT)
			why = strerror(errno);
		else if (!create)
			return NULL;       /* nothing spooled yet */
		else if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			why = strerror(errno);
		else if (lstat(dir, &st) != 0)
			why = strerror(errno);
	}
	if (why == NULL && !S_ISDIR(st.st_mode))
		why = "not a directory";
	else if (why == NULL && st.st_uid != geteuid())
		why = "owned by another user";
	else if (why == NULL && (st.st_mode & 022) != 0)
		why = "writable by group or others";
	sp.checked = true;
	if (why != NULL) {
		shim_log(LOG_ERROR, "spool directory %s refused: %s; events "
			 "that cannot be delivered are lost", dir, why);
		return NULL;
	}
	snprintf(sp.dir, sizeof(sp.dir), "%s", dir);
	sp.usable = true;
	return sp.dir;
}

/* ---- names ---- */

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* The owner named by the last two dot-separated parts of a claim
 * ("<name>.claim.<pid>.<start>") or temporary (".tmp.<id>.<pid>.<start>")
 * file. */
static bool parse_owner(const char *name, int *pid, unsigned long long *start)
{
	const char *last = strrchr(name, '.'), *prev;
	char *end;
	long p;

	if (last == NULL || last == name)
		return false;
	for (prev = last - 1; prev > name && *prev != '.'; prev--)
		;
	if (*prev != '.')
		return false;
	p = strtol(prev + 1, &end, 10);
	if (end != last || p <= 0)
		return false;
	*start = strtoull(last + 1, &end, 10);
	if (*end != '\0')
		return false;
	*pid = (int)p;
	return true;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void cand_clear(void)
{
	for (size_t i = sp.icand; i < sp.ncand; i++)
		free(sp.cand[i]);
	free(sp.cand);
	sp.cand = NULL;
	sp.ncand = sp.icand = 0;
}

/* A claim or temporary file of a process that is gone. */
static void take_over(const char *dir, const char *name, char **cand,
		      size_t *n)
{
	unsigned long long start;
	int pid;

	if (strncmp(name, ".tmp.", 5) == 0 && parse_owner(name, &pid, &start)) {
		char path[PATH_MAX];

		if (owner_alive(pid, start))
			return;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		unlink(path);              /* never renamed: never whole */
		return;
	}
	if (strstr(name, ".claim.") == NULL ||
	    !parse_owner(name, &pid, &start) || owner_alive(pid, start) ||
	    *n >= CAND_MAX)
		return;
	cand[(*n)++] = strdup(name);
}

/* A torn file is kept for a look while it is young and few. */
static void torn_seen(int dfd, const char *name, const struct stat *st)
{
	if ((long long)time(NULL) - (long long)st->st_mtime > TORN_KEEP_S ||
	    sp.torn >= TORN_MAX)
		unlinkat(dfd, name, 0);
	else
		sp.torn++;
}

/* Reads the directory: counts what it holds, lists the batches to send. */
static void scan(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **cand;
	size_t n = 0;
	struct stat st;

	cand_clear();
	sp.files = sp.bytes = sp.torn = 0;
	sp.scanned = true;
	sp.next_scan = mono_s() + RESCAN_S;
	if (d == NULL) {
		sp.pending = false;
		return;
	}
	cand = calloc(CAND_MAX, sizeof(*cand));
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (has_suffix(e->d_name, ".torn")) {
			torn_seen(dirfd(d), e->d_name, &st);
			continue;
		}
		sp.files++;
		sp.bytes += st.st_size;
		if (cand == NULL)
			continue;
		if (has_suffix(e->d_name, ".batch")) {
			if (n < CAND_MAX)
				cand[n++] = strdup(e->d_name);
		} else {
			take_over(dir, e->d_name, cand, &n);
		}
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		if (cand[i] == NULL) {     /* strdup failed: drop the rest */
			n = i;
			break;
		}
	}
	qsort(cand, n, sizeof(*cand), cmp_names);
	sp.cand = cand;
	sp.ncand = n;
	sp.pending = n > 0;
}

bool spool_pending(void)
{
	self_update();
	if (!sp.pending && mono_s() >= sp.next_scan) {
		const char *dir = spool_open(false);

		if (dir != NULL)
			scan(dir);
		else
			sp.next_scan = mono_s() + RESCAN_S;
	}
	return sp.pending;
}

void spool_rescan(void)
{
	self_update();
	sp.next_scan = 0;
	sp.pending = false;
	cand_clear();
}

void spool_note_delivery(void)
{
	static long long last;
	long long now = (long long)time(NULL);
	const char *dir;
	char path[PATH_MAX], line[32];
	int fd, n;

	if (now - last < DELIVERY_NOTE_S)
		return;
	last = now;
	dir = spool_open(false);           /* never made for this alone */
	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_LAST_DELIVERY);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return;
	sender_own_fd(fd);
	n = snprintf(line, sizeof(line), "%lld\n", now);
	if (write(fd, line, (size_t)n) != n)
		unlink(path);              /* no half a timestamp */
	sender_disown_fd(fd);
	close(fd);
}

bool spool_refused(void)
{
	return sp.checked && !sp.usable;
}

void spool_new_outage(void)
{
	sp.full_logged = sp.error_logged = false;
}

/* ---- writing ---- */

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* fsync, without holding up a fork of the program meanwhile. */
static int sync_fd(int fd)
{
	int r;

	sender_io_begin();
	r = fsync(fd);
	sender_io_end();
	return r;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		sender_own_fd(fd);
		sync_fd(fd);
		sender_disown_fd(fd);
		close(fd);
	}
}

static int write_file(const char *dir, const char *id, const uint8_t *frame,
		      size_t len)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	uint8_t hdr[HDR];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.tmp.%s.%d.%llu", dir, id, sp.pid,
		 sp.start);
	snprintf(path, sizeof(path), "%s/%s.batch", dir, id);
	memcpy(hdr, MAGIC, 8);
	put32(hdr + 8, (uint32_t)len);
	put32(hdr + 12, (uint32_t)crc32(crc32(0L, Z_NULL, 0), frame, (uInt)len));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	sender_own_fd(fd);
	if (write_all(fd, hdr, HDR) != 0 || write_all(fd, frame, len) != 0 ||
	    sync_fd(fd) != 0) {
		int e = errno;

		sender_disown_fd(fd);
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	sender_disown_fd(fd);
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		errno = e;
		return -1;
	}
	sync_dir(dir);
	return 0;
}

int spool_write(const unsigned char id[16], const uint8_t *frame, size_t len)
{
	const char *dir = spool_open(true);
	char idhex[33];

	if (dir == NULL)
		return -1;
	if (!sp.scanned)
		scan(dir);
	if (sp.files + 1 > SPOOL_MAX_FILES ||
	    sp.bytes + (long long)(len + HDR) > (long long)SPOOL_MAX_BYTES)
		scan(dir);                 /* others may have drained it */
	if (sp.files + 1 > SPOOL_MAX_FILES ||
	    sp.bytes + (long long)(len + HDR) > (long long)SPOOL_MAX_BYTES) {
		if (!sp.full_logged)
			shim_log(LOG_ERROR, "spool %s is full (%lld files, %lld "
				 "bytes; limits %d, %u): keeping counts in "
				 "memory until the collector is back", dir,
				 sp.files, sp.bytes, SPOOL_MAX_FILES,
				 SPOOL_MAX_BYTES);
		sp.full_logged = true;
		return -1;
	}
	hex(id, 16, idhex);
	if (write_file(dir, idhex, frame, len) != 0) {
		if (!sp.error_logged)
			shim_log(LOG_ERROR, "spool %s: writing batch %s: %s: "
				 "keeping counts in memory", dir, idhex,
				 strerror(errno));
		sp.error_logged = true;
		if (errno == ENOENT)       /* removed under us: make it again */
			sp.checked = false;
		return -1;
	}
	sp.files++;
	sp.bytes += (long long)(len + HDR);
	sp.pending = true;
	return 0;
}

/* ---- replay ---- */

static uint8_t *read_file(const char *path, size_t *len, char *why,
			  size_t whylen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;

	if (fd < 0) {
		snprintf(why, whylen, "open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < HDR + 4 ||
	    (unsigned long long)st.st_size > HDR + 4 + WIRE_MAX_FRAME) {
		snprintf(why, whylen, "size %lld is not that of a batch",
			 (long long)st.st_size);
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (buf == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != (size_t)st.st_size) {
		snprintf(why, whylen, "short read");
		free(buf);
		buf = NULL;
	}
	*len = got;
out:
	close(fd);
	return buf;
}

/* The frame inside a spool file's bytes, or NULL with why set. */
static uint8_t *check_batch(uint8_t *buf, size_t size, size_t *len,
			    unsigned char id[16], char *why, size_t whylen)
{
	Pinshim__Frame *f;
	uint32_t n;
	char err[256];

	if (memcmp(buf, MAGIC, 8) != 0) {
		snprintf(why, whylen, "no spool header");
		return NULL;
	}
	n = get32(buf + 8);
	if ((size_t)n != size - HDR) {
		snprintf(why, whylen, "torn: header says %u bytes, file holds %zu",
			 n, size - HDR);
		return NULL;
	}
	if (get32(buf + 12) != (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf + HDR, n)) {
		snprintf(why, whylen, "torn: CRC mismatch");
		return NULL;
	}
	if (get32(buf + HDR) != n - 4) {
		snprintf(why, whylen, "frame length %u does not fit %u bytes",
			 get32(buf + HDR), n - 4);
		return NULL;
	}
	f = wire_unpack(buf + HDR + 4, n - 4, err, sizeof(err));
	if (f == NULL || f->body_case != PINSHIM__FRAME__BODY_BATCH ||
	    f->batch->id.len != WIRE_ID_LEN) {
		snprintf(why, whylen, "not a batch frame: %s",
			 f == NULL ? err : "wrong body");
		wire_free(f);
		return NULL;
	}
	memcpy(id, f->batch->id.data, WIRE_ID_LEN);
	wire_free(f);
	*len = n;
	return buf + HDR;
}

/* The claimed name with its claim suffix removed. */
static char *unclaimed(const char *claim)
{
	const char *m = strstr(claim, ".claim.");
	char *out;

	for (const char *next; m != NULL && (next = strstr(m + 1, ".claim.")) != NULL;)
		m = next;
	if (m == NULL)
		return strdup(claim);
	out = strndup(claim, (size_t)(m - claim));
	return out;
}

static void move_aside(const char *dir, const char *name, const char *claim,
		       const char *why)
{
	char aside[PATH_MAX];

	snprintf(aside, sizeof(aside), "%s/%s.torn", dir, name);
	if (sp.torn >= TORN_MAX || rename(claim, aside) != 0)
		unlink(claim);
	else
		sp.torn++;
	/* one line a process: a spool of torn files must not flood stderr */
	shim_log(sp.torn_logged ? LOG_INFO : LOG_ERROR, "spool %s/%s: %s: "
		 "set aside, not sent (at most %d torn files are kept, %d "
		 "days)", dir, name, why, TORN_MAX, TORN_KEEP_S / 86400);
	sp.torn_logged = true;
}

int spool_claim(uint8_t **frame, size_t *len, unsigned char id[16],
		char **claim)
{
	const char *dir = spool_open(false);

	if (dir == NULL)
		return 0;
	for (;;) {
		char path[PATH_MAX], mine[PATH_MAX], why[300];
		char *name, *base;
		uint8_t *buf, *f;
		size_t size;

		if (sp.icand == sp.ncand) {
			if (!spool_pending())
				return 0;
			if (sp.icand == sp.ncand) {
				scan(dir);
				if (sp.ncand == 0)
					return 0;
			}
		}
		name = sp.cand[sp.icand];
		sp.cand[sp.icand++] = NULL;
		if (sp.icand == sp.ncand)
			sp.pending = false;    /* next call rescans */
		base = unclaimed(name);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		snprintf(mine, sizeof(mine), "%s/%s.claim.%d.%llu", dir,
			 base ? base : name, sp.pid, sp.start);
		free(name);
		if (base == NULL || rename(path, mine) != 0) {
			free(base);            /* someone else was faster */
			continue;
		}
		buf = read_file(mine, &size, why, sizeof(why));
		f = buf != NULL ? check_batch(buf, size, len, id, why,
					      sizeof(why))
				: NULL;
		if (f == NULL) {
			move_aside(dir, base, mine, why);
			free(buf);
			free(base);
			continue;
		}
		free(base);
		memmove(buf, f, *len);
		*frame = buf;
		*claim = strdup(mine);
		if (*claim == NULL) {
			free(buf);
			return 0;
		}
		return 1;
	}
}

void spool_done(char *claim)
{
	struct stat st;

	if (claim == NULL)
		return;
	if (stat(claim, &st) == 0) {
		sp.files--;
		sp.bytes -= st.st_size;
	}
	unlink(claim);
	free(claim);
}

void spool_reject(char *claim, const char *why)
{
	const char *slash = claim != NULL ? strrchr(claim, '/') : NULL;
	char *base;

	if (claim == NULL)
		return;
	base = unclaimed(slash != NULL ? slash + 1 : claim);
	if (base != NULL && sp.usable && sp.pid == (int)getpid())
		move_aside(sp.dir, base, claim, why);
	free(base);
	free(claim);
}

void spool_release(char *claim)
{
	char *back;

	if (claim == NULL)
		return;
	/* Only our own claims: after fork the parent's are the parent's. */
	back = unclaimed(claim);
	if (back != NULL && sp.pid == (int)getpid())
		rename(claim, back);
	free(back);
	free(claim);
	sp.pending = true;
}
