/* See policytest.h. */
#include "policytest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "ossl.h"

int policytest_setup(void **state)
{
	(void)state;
	/* a direct libssl call: it stays a DT_NEEDED, so ossl_resolve()
	 * finds it resident */
	OPENSSL_init_ssl(0, NULL);
	return ossl_resolve() ? 0 : -1;
}

static void collect(void *arg, enum policy_severity sev, int line,
		    const char *msg)
{
	struct findings *f = arg;

	if (f->n == FINDINGS_MAX)
		return;
	f->item[f->n].sev = sev;
	f->item[f->n].line = line;
	snprintf(f->item[f->n].msg, sizeof(f->item[f->n].msg), "%s", msg);
	f->n++;
}

struct policy *load_bytes(const char *text, size_t len, struct findings *f)
{
	const char *tmp = getenv("TMPDIR");
	char path[512];
	struct policy *p;
	FILE *fp;
	int fd;

	snprintf(path, sizeof(path), "%s/policytest-XXXXXX",
		 tmp != NULL ? tmp : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	p = load_path(path, f);
	unlink(path);
	return p;
}

struct policy *load_path(const char *path, struct findings *f)
{
	memset(f, 0, sizeof(*f));
	return policy_load(path, collect, f, f->err, sizeof(f->err));
}

struct policy *load_text(const char *text, struct findings *f)
{
	return load_bytes(text, strlen(text), f);
}

size_t count_sev(const struct findings *f, enum policy_severity sev)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		n += f->item[i].sev == sev;
	return n;
}

void dump_findings(const struct findings *f)
{
	for (size_t i = 0; i < f->n; i++)
		print_message("  finding: line %d %s: %s\n", f->item[i].line,
			      f->item[i].sev == POLICY_ERROR ? "error"
							     : "warning",
			      f->item[i].msg);
}

void assert_finding(const struct findings *f, enum policy_severity sev,
		    int line, const char *substr)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->item[i].sev == sev && f->item[i].line == line &&
		    strstr(f->item[i].msg, substr) != NULL)
			return;
	dump_findings(f);
	fail_msg("no %s at line %d containing '%s'",
		 sev == POLICY_ERROR ? "error" : "warning", line, substr);
}

void assert_nfindings(const struct findings *f, size_t n)
{
	if (f->n == n)
		return;
	dump_findings(f);
	fail_msg("%zu findings, expected %zu", f->n, n);
}
