/* The shim's configuration: PINSHIM_* environment and the policy file, read
 * once, on the first handshake that needs them (never in a constructor, and
 * never in a process that does not handshake).  Immutable afterwards, so the
 * verify callback reads it from any thread without a lock. */
#include "shim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_POLICY "/etc/pinshim/policy.ini"

static struct shim_config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
/* The policy_error event, emitted by the first config_get after loading:
 * emitting it inside the pthread_once would re-enter config_get from the
 * queue and deadlock. */
static _Atomic(struct event *) pending_event;
static char spool_default[64];

static const char *env_or_null(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static void read_mode_override(void)
{
	const char *v = env_or_null("PINSHIM_MODE");

	config.mode_override = -1;
	if (v == NULL)
		return;
	if (strcmp(v, "observe") == 0)
		config.mode_override = POLICY_OBSERVE;
	else if (strcmp(v, "enforce") == 0)
		config.mode_override = POLICY_ENFORCE;
	else
		shim_log(LOG_ERROR, "PINSHIM_MODE=%.32s is not observe|enforce, "
			 "ignored", v);
}

static void read_fail(void)
{
	const char *v = env_or_null("PINSHIM_FAIL");

	config.fail_closed = false;
	if (v == NULL || strcmp(v, "open") == 0)
		return;
	if (strcmp(v, "closed") == 0)
		config.fail_closed = true;
	else
		shim_log(LOG_ERROR, "PINSHIM_FAIL=%.32s is not open|closed, "
			 "failing open", v);
}

static void policy_failed(void)
{
	struct event *ev;

	config.policy_failed = true;
	shim_log(LOG_ERROR, "policy not loaded, %s: %s",
		 config.fail_closed ? "failing closed (every handshake fails)"
				    : "failing open (observe only)",
		 config.policy_error);
	ev = event_new(EV_POLICY_ERROR,
		       config.fail_closed ? EV_BLOCKED : EV_ALLOWED);
	if (ev == NULL)
		return;
	snprintf(ev->message, sizeof(ev->message), "%s", config.policy_error);
	atomic_store(&pending_event, ev);
}

/* Where events go besides the program: the collector (the environment
 * overrides the policy), its token, the spool, the local events file.
 * Nothing is opened or created here; spool.c makes the spool directory when
 * it first writes a batch (and refuses one that others could write to). */
static void read_delivery(void)
{
	const struct policy *p = config.policy;

	config.collector = env_or_null("PINSHIM_COLLECTOR");
	if (config.collector == NULL && p != NULL)
		config.collector = p->collector;
	config.token_path = p != NULL ? p->token_path : NULL;
	config.spool_dir = env_or_null("PINSHIM_SPOOL");
	if (config.spool_dir == NULL) {
		snprintf(spool_default, sizeof(spool_default),
			 "/var/tmp/pinshim-%u", (unsigned)geteuid());
		config.spool_dir = spool_default;
	}
	config.events_file = env_or_null("PINSHIM_EVENTS_FILE");
}

static void config_load(void)
{
	const char *path = env_or_null("PINSHIM_POLICY");

	read_mode_override();
	read_fail();
	if (path == NULL)
		path = DEFAULT_POLICY;
	/* policy_load reports the first error in policy_error; the finer
	 * findings are for `pinshim check`, not for the host's stderr. */
	config.policy = policy_load(path, NULL, NULL, config.policy_error,
				    sizeof(config.policy_error));
	if (config.policy == NULL)
		policy_failed();
	read_delivery();
}

const struct shim_config *config_get(void)
{
	struct event *ev;

	pthread_once(&config_once, config_load);
	if (atomic_load_explicit(&pending_event, memory_order_relaxed) != NULL &&
	    (ev = atomic_exchange(&pending_event, NULL)) != NULL)
		sink_emit(ev);
	return &config;
}

enum policy_mode config_mode(const struct shim_config *c,
			     const struct policy_host *h)
{
	if (c->mode_override >= 0)
		return (enum policy_mode)c->mode_override;
	if (c->policy == NULL)
		return POLICY_OBSERVE;
	return h != NULL ? policy_host_mode(c->policy, h) : c->policy->mode;
}
