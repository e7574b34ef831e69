/* The shim's configuration: PINSHIM_* environment and the policy file, read
 * once, on the first handshake that needs them (never in a constructor, and
 * never in a process that does not handshake).  Immutable afterwards, so the
 * verify callback reads it from any thread without a lock. */
#include "shim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_POLICY "/etc/pinshim/policy.ini"

static struct shim_config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

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
	struct event ev;

	config.policy_failed = true;
	shim_log(LOG_ERROR, "policy not loaded, %s: %s",
		 config.fail_closed ? "failing closed (every handshake fails)"
				    : "failing open (observe only)",
		 config.policy_error);
	event_init(&ev, EV_POLICY_ERROR,
		   config.fail_closed ? EV_BLOCKED : EV_ALLOWED);
	snprintf(ev.message, sizeof(ev.message), "%s", config.policy_error);
	sink_emit(&ev);
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
}

const struct shim_config *config_get(void)
{
	pthread_once(&config_once, config_load);
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
