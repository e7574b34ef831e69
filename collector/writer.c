/* The writer: the one thread that owns the database.  It takes every batch
 * queued while it was busy and stores them in one transaction (group
 * commit: one WAL write for many senders), writes the statistics in the
 * same transaction, commits, and only then hands the batches back to the
 * loop, which acks them.
 * After the acks, it checkpoints the WAL when it has grown (the batches
 * arriving meanwhile make the next group).
 *
 * Before every group (and every idle second) it checks that the file at
 * the database's path is still the one open.  Deleted: everything
 * committed is copied back to the path and the writer goes on with it.
 * Replaced by another file: everything committed is copied beside it
 * (PATH.rescued-TIME), nothing more is acknowledged, and the collector
 * stops with status 1.  Either way what was acknowledged is kept, and the
 * batches of the group are answered "try again later".
 */
#include "collector.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;        /* a job was queued, or stop */
	struct job *head, *tail;
	bool stopping;
	pthread_t thread;
	struct store *store;
	enum store_sync sync;
	bool broken;                /* no database to store into: fail all */
	struct store_stats written; /* as last committed */
} w = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
};

void writer_submit(struct job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&w.lock);
	if (w.tail != NULL)
		w.tail->next = job;
	else
		w.head = job;
	w.tail = job;
	pthread_cond_signal(&w.work);
	pthread_mutex_unlock(&w.lock);
}

static void add_result(struct store_stats *d, const Pinshim__View__Batch *b,
		       const struct store_result *r)
{
	d->batches++;
	d->events_received += b->n_events;
	d->events_stored += r->events_stored;
	d->events_duplicate += r->events_duplicate;
	d->counters_received += b->n_counters;
	d->counters_stored += r->counters_stored;
	d->counters_duplicate += r->counters_duplicate;
}

static void sum(struct store_stats *a, const struct store_stats *b)
{
	uint64_t *x = (uint64_t *)a;
	const uint64_t *y = (const uint64_t *)b;

	for (size_t i = 0; i < sizeof(*a) / sizeof(uint64_t); i++)
		x[i] += y[i];
}

/* Stores one job inside the open transaction; sets its pending state. */
static void store_job(struct job *job, struct store_stats *delta)
{
	const Pinshim__View__Batch *b = job->frame.msg->batch;
	int rc;

	rc = store_put_batch(w.store, b, job->keys, &job->origin, &job->result,
			     job->err, sizeof(job->err));
	if (rc == 0) {
		job->state = JOB_STORED;
		add_result(delta, b, &job->result);
	} else if (rc == -2) {
		job->state = JOB_REFUSED;
	} else {
		log_line("%s", job->err);
		job->state = JOB_FAILED;
	}
}

/* Writes the statistics as they will be once delta is committed. */
static int write_stats(const struct store_stats *delta, struct store_stats *out)
{
	char err[512];

	stats_snapshot(out);
	sum(out, delta);
	if (store_stats_write(w.store, out, err, sizeof(err)) < 0) {
		log_line("%s", err);
		return -1;
	}
	return 0;
}

static void fail_stored(struct job *jobs)
{
	for (struct job *j = jobs; j != NULL; j = j->next)
		if (j->state == JOB_STORED)
			j->state = JOB_FAILED;
}

/* Deleted: the copy takes the path again (never over a file that came
 * meanwhile), and the writer reopens it.  0, or -1. */
static int rescue_in_place(const char *path, char *err, size_t errlen)
{
	char tmp[4200];
	struct store *s;

	snprintf(tmp, sizeof(tmp), "%s.rescue-%d", path, (int)getpid());
	if (store_copy_to(w.store, tmp, err, errlen) < 0)
		return -1;
	store_close(w.store);
	w.store = NULL;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		snprintf(err, errlen, "%.200s is kept as %.220s: %s", path,
			 tmp, strerror(errno));
		return -1;
	}
	s = store_open(path, STORE_WRITE, w.sync, err, errlen);
	if (s == NULL)
		return -1;
	w.store = s;
	return 0;
}

/* Replaced: the copy goes beside the new file. */
static void rescue_beside(const char *path)
{
	char dest[4200], when[32], err[512];
	time_t t = time(NULL);
	struct tm tm;

	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", gmtime_r(&t, &tm));
	snprintf(dest, sizeof(dest), "%s.rescued-%s", path, when);
	if (store_copy_to(w.store, dest, err, sizeof(err)) == 0)
		log_line("everything acknowledged so far is saved in %s", dest);
	else
		log_line("%s: the open database stays in memory only", err);
}

/* The file at the database's path is no longer the one open: see the
 * top of this file.  false when the writer cannot go on. */
static bool still_ours(void)
{
	char path[4096], err[512];

	if (w.broken || !store_moved(w.store))
		return !w.broken;
	snprintf(path, sizeof(path), "%s", store_path(w.store));
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		log_line("the database file %s was deleted while the collector "
			 "had it open: saving what was acknowledged back to it",
			 path);
		if (rescue_in_place(path, err, sizeof(err)) == 0) {
			log_line("%s is back, with everything acknowledged; "
				 "storing goes on", path);
			return true;
		}
		log_line("%s", err);
	} else {
		log_line("the database file %s was replaced while the collector "
			 "had it open: nothing more is acknowledged", path);
		rescue_beside(path);
	}
	w.broken = true;
	collector_fail();
	return false;
}

/* One group commit over the list jobs, then hands each job back. */
static void commit_group(struct job *jobs)
{
	struct store_stats delta = { 0 }, total;
	char err[512];
	struct job *next;

	if (!still_ours()) {
		for (struct job *j = jobs; j != NULL; j = j->next)
			j->state = JOB_FAILED;
		goto hand_back;
	}
	if (store_begin(w.store, err, sizeof(err)) < 0) {
		log_line("%s", err);
		for (struct job *j = jobs; j != NULL; j = j->next)
			j->state = JOB_FAILED;
		goto hand_back;
	}
	for (struct job *j = jobs; j != NULL; j = j->next)
		store_job(j, &delta);
	if (write_stats(&delta, &total) < 0) {
		store_rollback(w.store);
		fail_stored(jobs);
	} else if (store_commit(w.store, err, sizeof(err)) < 0) {
		log_line("%s", err);
		fail_stored(jobs);
	} else {
		uint64_t *d = (uint64_t *)&delta;

		for (size_t i = 0; i < sizeof(delta) / sizeof(uint64_t); i++)
			stats_add((uint64_t *)&stats + i, d[i]);
		w.written = total;
	}
hand_back:
	for (struct job *j = jobs; j != NULL; j = next) {
		next = j->next;
		frame_release(&j->frame);
		free(j->keys);
		j->keys = NULL;
		loop_job_done(j);
	}
	if (w.store != NULL && !w.broken &&
	    store_checkpoint(w.store, err, sizeof(err)) < 0)
		log_line("%s", err);
}

/* When idle: persist counts that changed without a batch (rejections). */
static void flush_stats(void)
{
	struct store_stats now, delta = { 0 };
	char err[512];

	if (!still_ours())
		return;
	stats_snapshot(&now);
	if (memcmp(&now, &w.written, sizeof(now)) == 0)
		return;
	if (store_begin(w.store, err, sizeof(err)) < 0 ||
	    write_stats(&delta, &now) < 0 ||
	    store_commit(w.store, err, sizeof(err)) < 0) {
		log_line("%s", err);
		store_rollback(w.store);
		return;
	}
	w.written = now;
}

static struct job *next_group(void)
{
	struct job *jobs;

	pthread_mutex_lock(&w.lock);
	while (w.head == NULL && !w.stopping) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += 1;
		if (pthread_cond_timedwait(&w.work, &w.lock, &t) == ETIMEDOUT &&
		    w.head == NULL) {
			pthread_mutex_unlock(&w.lock);
			flush_stats();
			pthread_mutex_lock(&w.lock);
		}
	}
	jobs = w.head;
	w.head = w.tail = NULL;
	pthread_mutex_unlock(&w.lock);
	return jobs;
}

static void *writer_main(void *arg)
{
	struct job *jobs;

	pthread_setname_np(pthread_self(), "pinshim-writer");
	while ((jobs = next_group()) != NULL)
		commit_group(jobs);
	flush_stats();
	return NULL;
}

int writer_start(struct store *s, enum store_sync sync, char *err,
		 size_t errlen)
{
	int rc;

	w.store = s;
	w.sync = sync;
	if (store_stats_read(s, &stats, err, errlen) < 0)
		return -1;
	w.written = stats;
	rc = pthread_create(&w.thread, NULL, writer_main, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "writer thread: %s", strerror(rc));
		return -1;
	}
	return 0;
}

void writer_stop(void)
{
	pthread_mutex_lock(&w.lock);
	w.stopping = true;
	pthread_cond_signal(&w.work);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.thread, NULL);
	store_close(w.store);
	w.store = NULL;
}
