/* The shim's configuration: the PINSHIM_* environment and the policy file.
 *
 * Read on the first handshake that needs it (never in a constructor, never
 * in a process that does not handshake).  Two parts:
 *
 * - settings (config_settings): where things are and go, fixed for the
 *   process's life: the policy's path, the collector and its token, the
 *   spool, the events file, the log level, PINSHIM_MODE / PINSHIM_FAIL.
 * - the policy in force (config_acquire): an immutable snapshot, replaced
 *   when the file changes.  A handshake holds one snapshot from its start to
 *   its end, so a reload never changes a decision half-way, and a snapshot
 *   is freed only when the last handshake holding it is done.
 *
 * Reload: the handshake path stats the policy file at most once a second
 * (never reads it); a change (an atomic replace by rename, or an edit in
 * place) starts a short-lived thread that reads and parses the new file and
 * swaps it in.  A broken new file keeps the old policy in force, with one
 * "pinshim:" line and a policy_error event.
 *
 * Privileged processes (AT_SECURE: setuid, setgid, file capabilities) see
 * no PINSHIM_* variable at all (secure_getenv): the policy is
 * POLICY_MACHINE_PATH, and the spool, the log level and the collector are the
 * machine policy's, so a caller can neither switch a pin off for such a
 * process nor make it write or print anywhere it chose. */
#include "shim.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What distinguishes one version of the policy file from the next. */
struct file_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

static struct shim_settings settings;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

/* The policy in force, and what a reload compares against: guarded by
 * lock (a handful of instructions each time; fork takes it). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_config *current;
static struct file_id seen;           /* the file last loaded or tried */
static atomic_llong last_check;       /* CLOCK_MONOTONIC_COARSE second */
static atomic_bool reloading;
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;
/* The first load's policy_error events, emitted by the first acquire after
 * loading: emitting inside the pthread_once would re-enter it from the
 * queue and deadlock. */
static atomic_bool report_pending;

/* ---- the environment ---- */

/* NULL for unset, empty, and in a privileged process. */
static const char *env(const char *name)
{
	const char *v = secure_getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static int read_mode_override(void)
{
	const char *v = env("PINSHIM_MODE");

	if (v == NULL)
		return -1;
	if (strcmp(v, "observe") == 0)
		return POLICY_OBSERVE;
	if (strcmp(v, "enforce") == 0)
		return POLICY_ENFORCE;
	shim_log(LOG_ERROR, "PINSHIM_MODE=%.32s is not observe|enforce, ignored",
		 v);
	return -1;
}

static bool read_fail_closed(void)
{
	const char *v = env("PINSHIM_FAIL");

	if (v == NULL || strcmp(v, "open") == 0)
		return false;
	if (strcmp(v, "closed") == 0)
		return true;
	shim_log(LOG_ERROR, "PINSHIM_FAIL=%.32s is not open|closed, failing open",
		 v);
	return false;
}

/* ---- snapshots ---- */

static void file_id_of(const char *path, struct file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st) != 0)
		return;
	id->exists = true;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtime = st.st_mtim;
	id->ctime = st.st_ctim;
}

static bool file_id_equal(const struct file_id *a, const struct file_id *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* A snapshot of the file as it is now (its policy NULL when it cannot be
 * read or parsed: policy_error says why), or NULL when out of memory.  id
 * is taken before the read, so a change during the read is seen again. */
static struct shim_config *snapshot_load(struct file_id *id)
{
	struct shim_config *c = calloc(1, sizeof(*c));

	file_id_of(settings.policy_path, id);
	if (c == NULL)
		return NULL;
	atomic_init(&c->refs, 1);         /* the reference "current" holds */
	/* policy_load reports the first error in policy_error; the finer
	 * findings are for `pinshim check`, not for the host's stderr. */
	c->policy = policy_load(settings.policy_path, NULL, NULL,
				c->policy_error, sizeof(c->policy_error));
	c->policy_failed = c->policy == NULL;
	return c;
}

/* When even the first snapshot cannot be allocated: a failed policy. */
static struct shim_config no_memory = { .policy_failed = true };

static void snapshot_free(struct shim_config *c)
{
	if (c == &no_memory)
		return;
	policy_free((struct policy *)c->policy);
	free(c);
}

static struct event *policy_error_event(const char *what, const char *why)
{
	struct event *ev = event_new(EV_POLICY_ERROR, settings.fail_closed
				     ? EV_BLOCKED : EV_ALLOWED);

	/* cut to the message's room, as any event text is */
	if (ev != NULL)
		snprintf(ev->message, sizeof(ev->message), "%s%.*s", what,
			 (int)(sizeof(ev->message) - 1 - strlen(what)), why);
	return ev;
}

/* Sections of a loaded policy refused for an error: the rest is in force,
 * these are not.  One error line and one policy_error event each, per
 * version of the file. */
static void report_problems(const struct shim_config *c)
{
	const struct policy *p = c->policy;

	for (size_t i = 0; p != NULL && i < p->nproblems; i++) {
		struct event *ev = policy_error_event("", p->problems[i]);

		shim_log(LOG_ERROR, "%s; %s", p->problems[i],
			 settings.fail_closed
			 ? "its handshakes fail (PINSHIM_FAIL=closed)"
			 : "its pins are not checked (failing open)");
		if (ev != NULL)
			sink_emit(ev);
	}
}

/* The first load's findings, reported by the first acquire. */
static void report_first_load(const struct shim_config *c)
{
	if (c->policy_failed) {
		struct event *ev = policy_error_event("", c->policy_error);

		shim_log(LOG_ERROR, "policy not loaded, %s: %s",
			 settings.fail_closed ? "failing closed (every handshake fails)"
					: "failing open (observe only)",
			 c->policy_error);
		if (ev != NULL)
			sink_emit(ev);
	}
	report_problems(c);
}

/* ---- the first load ---- */

/* Where events go besides the program: the collector (the environment
 * overrides the policy), its token, the spool, the local events file.
 * Nothing is opened or created here; spool.c makes the spool directory when
 * it first writes a batch (and refuses one that others could write to). */
static void read_delivery(const struct policy *p)
{
	settings.collector = env("PINSHIM_COLLECTOR");
	if (settings.collector == NULL && p != NULL)
		settings.collector = p->collector;
	settings.token_path = p != NULL ? p->token_path : NULL;
	/* NULL: the default, found by the sender (spool_dir.h) */
	settings.spool_dir = env("PINSHIM_SPOOL");
	if (settings.spool_dir == NULL && p != NULL)
		settings.spool_dir = p->spool_dir;
	settings.events_file = env("PINSHIM_EVENTS_FILE");
	/* PINSHIM_LOG (unprivileged only) wins over the policy's level */
	if (p != NULL && p->log_level >= 0)
		log_set_default((enum log_level)p->log_level);
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&parse_lock);
	pthread_mutex_lock(&lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&lock);
	pthread_mutex_unlock(&parse_lock);
}

/* The child has no reload thread, whatever the parent had running. */
static void atfork_child(void)
{
	pthread_mutex_unlock(&lock);
	pthread_mutex_unlock(&parse_lock);
	atomic_store(&reloading, false);
}

static void first_load(void)
{
	struct shim_config *c;

	settings.privileged = getauxval(AT_SECURE) != 0;
	settings.policy_path = env("PINSHIM_POLICY");
	if (settings.policy_path == NULL)
		settings.policy_path = POLICY_MACHINE_PATH;
	settings.mode_override = read_mode_override();
	settings.fail_closed = read_fail_closed();
	c = snapshot_load(&seen);
	if (c == NULL) {
		c = &no_memory;
		snprintf(c->policy_error, sizeof(c->policy_error),
			 "%s: out of memory", settings.policy_path);
		atomic_init(&c->refs, 1);
	}
	/* The policy the process starts with also says where events go;
	 * a reload changes pins, modes and version, not those. */
	read_delivery(c->policy);
	current = c;
	atomic_store(&report_pending, true);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

const struct shim_settings *config_settings(void)
{
	pthread_once(&settings_once, first_load);
	return &settings;
}

/* ---- reload ---- */

/* In force from now on: n, or, when it is broken and the old one was
 * not, the old one still.  Logged once per version of the file. */
static void install(struct shim_config *n, const struct file_id *id)
{
	struct shim_config *old;
	bool keep;

	pthread_mutex_lock(&lock);
	seen = *id;
	old = current;
	keep = n->policy_failed && !old->policy_failed;
	if (!keep)
		current = n;
	pthread_mutex_unlock(&lock);
	if (n->policy_failed) {
		struct event *ev = policy_error_event(keep
			? "new policy not loaded, the previous one stays in "
			  "force: " : "", n->policy_error);

		shim_log(LOG_ERROR, "policy changed but not loaded, %s: %s",
			 keep ? "the previous one stays in force"
			      : "still failing open", n->policy_error);
		if (ev != NULL)
			sink_emit(ev);
	} else {
		shim_log(LOG_INFO, "policy %s reloaded: version %s",
			 settings.policy_path, n->policy->version);
		report_problems(n);
	}
	config_release(keep ? n : old);
}

static void *reload_main(void *arg)
{
	struct file_id id;
	struct shim_config *n;

	/* the parse, most of this thread's allocations, under parse_lock,
	 * which fork takes: a child never inherits an allocator lock held
	 * here (AddressSanitizer's allocator has no fork handlers) */
	pthread_mutex_lock(&parse_lock);
	n = snapshot_load(&id);
	pthread_mutex_unlock(&parse_lock);
	(void)arg;
	if (n != NULL)
		install(n, &id);
	atomic_store(&reloading, false);
	return NULL;
}

static void start_reload(void)
{
	pthread_attr_t a;
	pthread_t t;
	sigset_t all, old;
	bool started;

	if (atomic_exchange(&reloading, true))
		return;
	/* The program's signals are for its own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	started = pthread_create(&t, &a, reload_main, NULL) == 0;
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!started)
		atomic_store(&reloading, false);   /* tried again in a second */
}

/* Handshake path: one stat(2) a second at most, never a read. */
static void check_for_change(void)
{
	struct timespec t;
	long long last = atomic_load_explicit(&last_check, memory_order_relaxed);
	struct file_id id;
	bool changed;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	if ((long long)t.tv_sec == last || atomic_load(&reloading) ||
	    !atomic_compare_exchange_strong(&last_check, &last,
					    (long long)t.tv_sec))
		return;
	file_id_of(settings.policy_path, &id);
	pthread_mutex_lock(&lock);
	changed = !file_id_equal(&id, &seen);
	pthread_mutex_unlock(&lock);
	if (changed)
		start_reload();
}

/* ---- the policy in force ---- */

const struct shim_config *config_acquire(void)
{
	struct shim_config *c;

	config_settings();
	check_for_change();
	pthread_mutex_lock(&lock);
	c = current;
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&lock);
	if (atomic_load_explicit(&report_pending, memory_order_relaxed) &&
	    atomic_exchange(&report_pending, false))
		report_first_load(c);
	return c;
}

void config_release(const struct shim_config *cc)
{
	struct shim_config *c = (struct shim_config *)cc;

	/* The last reference to a snapshot no longer current (current
	 * holds one of its own until it is replaced). */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		snapshot_free(c);
}

enum policy_mode config_mode(const struct shim_config *c,
			     const struct policy_host *h)
{
	if (settings.mode_override >= 0)
		return (enum policy_mode)settings.mode_override;
	if (c->policy == NULL)
		return POLICY_OBSERVE;
	return h != NULL ? policy_host_mode(c->policy, h) : c->policy->mode;
}
