/* Fuzz target: the policy parser (shim/policy.c, with pins
 * decoded through OpenSSL), on any bytes as a policy file.  The bytes are
 * written to a memfd and loaded by its /proc/self/fd path, as a file. */
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ossl.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void ignore(void *arg, enum policy_severity sev, int line,
		   const char *msg)
{
	(void)arg;
	(void)sev;
	(void)line;
	(void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* referencing libssl makes it resident, so ossl_resolve finds it */
	OPENSSL_init_ssl(0, NULL);
	if (!ossl_resolve()) {
		fprintf(stderr, "fuzz_policy: libssl not resolved\n");
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p;
	char path[64], err[512];
	int fd = memfd_create("policy", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	p = policy_load(path, ignore, NULL, err, sizeof(err));
	if (p != NULL) {
		for (size_t i = 0; i < p->nhosts; i++)
			policy_match(p, p->hosts[i].name);
		policy_match(p, "www.example.com");
		policy_free(p);
	}
	close(fd);
	return 0;
}
