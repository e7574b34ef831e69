/* What a large policy costs: parse time and lookup time at N hosts, against
 * the same at a small policy in the same run (ratios, not a timed check).
 *
 *   bench/policy [HOSTS...]      default: 10 1000 100000 200000
 *
 * Each policy has HOSTS sections of two pins, a quarter of them wildcards
 * and a quarter with include-subdomains; lookups are a mix of exact names,
 * wildcard and parent matches, and misses, as a fleet's handshakes are. */
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ossl.h"
#include "policy.h"

#define LOOKUPS 2000000

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The policy text of n hosts into a memfd; its /proc path into path. */
static int write_policy(unsigned n, char path[64])
{
	FILE *f;
	int fd = memfd_create("policy", 0);

	if (fd < 0 || (f = fdopen(dup(fd), "w")) == NULL)
		return -1;
	fprintf(f, "[policy]\nversion = bench\nmode = enforce\n");
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "\n[host %sh%u.example.com]\n", i % 4 == 1 ? "*." : "", i);
		fprintf(f, "pin = sha256/%043u=\npin = sha256/%043u=\n", i,
			i + 1);
		if (i % 4 == 2)
			fprintf(f, "include-subdomains = yes\n");
	}
	fclose(f);
	snprintf(path, 64, "/proc/self/fd/%d", fd);
	return fd;
}

static void lookup_name(unsigned i, unsigned n, char *out, size_t len)
{
	unsigned h = (i * 2654435761u) % (n * 2);   /* half of them miss */

	switch (h % 4) {
	case 1: snprintf(out, len, "x.h%u.example.com", h); break;
	case 2: snprintf(out, len, "a.b.h%u.example.com", h); break;
	default: snprintf(out, len, "h%u.example.com", h); break;
	}
}

/* Seconds to parse, and nanoseconds per lookup. */
static int measure(unsigned n, double *parse_s, double *lookup_ns)
{
	static char names[1024][64];
	char path[64], err[512];
	struct policy *p;
	unsigned hits = 0;
	double t0;
	int fd = write_policy(n, path);

	if (fd < 0)
		return -1;
	t0 = now_s();
	p = policy_load(path, NULL, NULL, err, sizeof(err));
	*parse_s = now_s() - t0;
	close(fd);
	if (p == NULL) {
		fprintf(stderr, "policy of %u hosts: %s\n", n, err);
		return -1;
	}
	for (unsigned i = 0; i < 1024; i++)
		lookup_name(i, n, names[i], sizeof(names[i]));
	t0 = now_s();
	for (unsigned i = 0; i < LOOKUPS; i++)
		hits += policy_match(p, names[i & 1023]) != NULL;
	*lookup_ns = (now_s() - t0) * 1e9 / LOOKUPS;
	policy_free(p);
	return hits > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const unsigned defaults[] = { 10, 1000, 100000, 200000 };
	double base_parse = 0, base_lookup = 0;
	int n = argc > 1 ? argc - 1 : 4;

	OPENSSL_init_ssl(0, NULL);
	if (!ossl_resolve())
		return 1;
	printf("%8s %10s %12s %10s %12s\n", "hosts", "parse_s", "us_per_host",
	       "lookup_ns", "lookup_ratio");
	for (int i = 0; i < n; i++) {
		unsigned hosts = argc > 1 ? (unsigned)atoi(argv[i + 1])
					  : defaults[i];
		double ps, ln;

		if (measure(hosts, &ps, &ln) < 0)
			return 1;
		if (i == 0) {
			base_parse = ps;
			base_lookup = ln;
		}
		printf("%8u %10.4f %12.3f %10.1f %12.2f\n", hosts, ps,
		       ps * 1e6 / hosts, ln, ln / base_lookup);
	}
	(void)base_parse;
	return 0;
}
