/* Helpers for the cmocka tests of policy.c and pin.c: write a policy text
 * to a temporary file, load it, keep every finding. */
#ifndef PINSHIM_POLICYTEST_H
#define PINSHIM_POLICYTEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy.h"

#define FINDINGS_MAX 128

struct finding {
	enum policy_severity sev;
	int line;
	char msg[512];
};

struct findings {
	struct finding item[FINDINGS_MAX];
	size_t n;
	char err[512];          /* policy_load's err */
};

/* A pin that parses: 32 zero bytes, and another one. */
#define PIN_A "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define PIN_B "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="

/* Makes OpenSSL resident and fills the ossl table (cmocka group setup). */
int policytest_setup(void **state);

/* Writes text (len bytes) to a temporary file and loads it; the file is
 * gone on return.  The policy or NULL, every finding in f. */
struct policy *load_bytes(const char *text, size_t len, struct findings *f);
struct policy *load_text(const char *text, struct findings *f);
/* Loads the file at path. */
struct policy *load_path(const char *path, struct findings *f);

/* The number of findings of sev. */
size_t count_sev(const struct findings *f, enum policy_severity sev);

/* Fails the test unless a finding of sev at line contains substr. */
void assert_finding(const struct findings *f, enum policy_severity sev,
		    int line, const char *substr);

/* Fails the test unless there are exactly n findings (printing them). */
void assert_nfindings(const struct findings *f, size_t n);

/* Prints every finding (a failing test shows what it got). */
void dump_findings(const struct findings *f);

#endif
