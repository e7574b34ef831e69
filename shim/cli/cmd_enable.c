/* pinshim enable / disable: the shim machine-wide, through
 * /etc/ld.so.preload.  enable refuses a library that does not load cleanly
 * and a policy with errors (a machine where every exec fails is worse than
 * one without pins), installs the policy given, then adds the library's
 * absolute path to the preload list atomically and idempotently.  disable
 * removes pinshim's entry only, and the file too when enable created it and
 * nothing else is in it now. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "policy.h"

/* Left by enable when it created the preload list: disable may remove it. */
#define CREATED_MARK POLICY_MACHINE_DIR "/preload-created"

static void on_finding(void *arg, enum policy_severity sev, int line,
		       const char *msg)
{
	lint_print(stderr, arg, sev, line, msg);
}

/* The policy lints without errors (warnings are shown).  0, or -1. */
static int policy_ok(const char *path)
{
	char err[600];
	struct policy *p = policy_load(path, on_finding, (void *)path, err,
				       sizeof(err));

	if (p == NULL || p->nproblems > 0) {
		/* a refused section would leave its host unchecked */
		fprintf(stderr, "pinshim enable: refused: the policy has errors "
			"(%s)\n", p != NULL ? p->problems[0] : err);
		policy_free(p);
		return -1;
	}
	policy_free(p);
	return 0;
}

/* file_replace's fill: the rest of the file *arg is open on. */
static int copy_from(int out, void *arg)
{
	int in = *(int *)arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return -1;
	return n < 0 ? -1 : 0;
}

/* Copies src over POLICY_MACHINE_PATH atomically, 0644 (every preloaded
 * process reads it).  0, or -1 reported. */
static int install_policy(const char *src)
{
	const struct file_attrs a = { .mode = 0644 };
	int in = open(src, O_RDONLY | O_CLOEXEC), rc = -1;

	if (in >= 0 && (mkdir(POLICY_MACHINE_DIR, 0755) == 0 || errno == EEXIST))
		rc = file_replace(POLICY_MACHINE_PATH, &a, copy_from, &in);
	if (rc != 0)
		fprintf(stderr, "pinshim enable: cannot install %s as %s: %s\n",
			src, POLICY_MACHINE_PATH, strerror(errno));
	if (in >= 0)
		close(in);
	return rc;
}

/* enable's checks: the library and the policy.  0, or -1 reported. */
static int enable_checks(const char *lib, const char *policy)
{
	char why[1024];

	if (library_check(lib, why, sizeof(why)) < 0) {
		fprintf(stderr, "pinshim enable: refused: %s\n", why);
		return -1;
	}
	if (access(policy, R_OK) != 0) {
		fprintf(stderr, "pinshim enable: refused: no policy at %s (%s): "
			"give one with --policy FILE\n", policy,
			strerror(errno));
		return -1;
	}
	return policy_ok(policy);
}

/* lib in the preload list (replacing another libpinshim.so's entry).
 * 0, or -1 reported. */
static int add_to_preload(const char *lib)
{
	struct preload p;
	char have[PATH_MAX];
	bool created;
	int rc = -1;

	if (preload_read(PRELOAD_PATH, &p) < 0) {
		fprintf(stderr, "pinshim enable: %s: %s\n", PRELOAD_PATH,
			strerror(errno));
		return -1;
	}
	if (preload_find(&p, have, sizeof(have)) != NULL &&
	    strcmp(have, lib) == 0) {
		printf("pinshim is already enabled: %s lists %s\n",
		       PRELOAD_PATH, lib);
		preload_free(&p);
		return 0;
	}
	created = !p.exists;
	preload_remove(&p);
	if (preload_add(&p, lib) == 0 && preload_write(PRELOAD_PATH, &p) == 0)
		rc = 0;
	else
		fprintf(stderr, "pinshim enable: cannot write %s: %s\n",
			PRELOAD_PATH, strerror(errno));
	preload_free(&p);
	if (rc == 0 && created)
		close(open(CREATED_MARK, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	if (rc == 0)
		printf("pinshim enabled: %s now lists %s; every program "
		       "started from now on loads it\n", PRELOAD_PATH, lib);
	return rc;
}

int cmd_enable(int argc, char **argv)
{
	const char *policy = NULL;
	char lib[PATH_MAX];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
			policy = argv[++i];
		else
			return usage_error("enable", "unexpected argument: ",
					   argv[i]);
	}
	if (library_find(lib) < 0 ||
	    enable_checks(lib, policy ? policy : POLICY_MACHINE_PATH) < 0)
		return 1;
	if (policy != NULL && install_policy(policy) < 0)
		return 1;
	return add_to_preload(lib) < 0 ? 1 : 0;
}

int cmd_disable(int argc, char **argv)
{
	struct preload p;
	int rc = 0;

	if (argc > 1)
		return usage_error("disable", "unexpected argument: ", argv[1]);
	if (preload_read(PRELOAD_PATH, &p) < 0) {
		fprintf(stderr, "pinshim disable: %s: %s\n", PRELOAD_PATH,
			strerror(errno));
		return 1;
	}
	if (!preload_remove(&p)) {
		printf("pinshim is not enabled: %s does not list it\n",
		       PRELOAD_PATH);
		preload_free(&p);
		return 0;
	}
	if (preload_empty(&p) && access(CREATED_MARK, F_OK) == 0) {
		rc = file_remove(PRELOAD_PATH);
		if (rc == 0)
			unlink(CREATED_MARK);
	} else {
		rc = preload_write(PRELOAD_PATH, &p);
	}
	if (rc != 0)
		fprintf(stderr, "pinshim disable: cannot write %s: %s\n",
			PRELOAD_PATH, strerror(errno));
	else
		printf("pinshim disabled: programs started from now on do not "
		       "load it (running ones keep it until they exit)\n");
	preload_free(&p);
	return rc != 0 ? 1 : 0;
}
