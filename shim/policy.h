/* The pinning policy: one INI file (see DESIGN.md, "Policy").  Shared by
 * libpinshim.so (loads it, then only reads it) and the pinshim CLI (`check`
 * lints it).  policy.c parses; policy_hosts.c holds the host table. */
#ifndef PINSHIM_POLICY_H
#define PINSHIM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pin.h"

/* The machine's policy: the default, and the only one privileged
 * processes read. */
#define POLICY_MACHINE_DIR "/etc/pinshim"
#define POLICY_MACHINE_PATH POLICY_MACHINE_DIR "/policy.ini"

/* Bounds a policy keeps (each one an error when broken): the file's size,
 * a line that is not a comment (comments may be longer: they are skipped),
 * the hosts, the pins of one host, the version string. */
#define POLICY_MAX_BYTES (32 << 20)
#define POLICY_MAX_LINE 16384
#define POLICY_MAX_HOSTS 200000
#define POLICY_MAX_PINS 64
#define POLICY_MAX_VERSION 256
#define POLICY_HOST_MAX 253

enum policy_mode { POLICY_OBSERVE = 0, POLICY_ENFORCE = 1 };

struct policy_host {
	char *name;               /* lower case, "*.example.com" for a wildcard */
	int line;                 /* line of its [host ...] header */
	struct pin *pins;
	int *pin_lines;           /* line of each pin, for lint messages */
	size_t npins;
	bool include_subdomains;
	int mode;                 /* enum policy_mode, or -1: the policy's default */
	time_t expires;           /* 0: never; else first second after the
	                             expiry day (UTC) at which pins are only
	                             reported, never enforced */
	int expires_line;
	/* An error in its section: the section is not in force (no pin of it
	 * is checked; with PINSHIM_FAIL=closed its handshakes fail). */
	bool disabled;
};

struct policy {
	char *path;
	char *version;            /* "" when the file names none */
	enum policy_mode mode;    /* default for hosts */
	char *collector;          /* "host:port" or NULL */
	char *token_path;         /* NULL when none */
	char *spool_dir;          /* "spool": absolute path, or NULL */
	int log_level;            /* "log": 0 off .. 3 debug, -1 unset */
	struct policy_host *hosts;
	size_t nhosts, hosts_cap;
	uint32_t *index;          /* hash of names: 1 + position in hosts */
	size_t index_mask;
	/* Sections refused for an error while the rest of the file is in
	 * force: one "path:line: message" each, the first error of each. */
	char **problems;
	size_t nproblems;
};

enum policy_severity { POLICY_WARNING = 1, POLICY_ERROR = 2 };

/* Receives every finding while parsing: line is 0 for a whole-file problem
 * (unreadable file).  msg has no file name, no line and no newline. */
typedef void (*policy_report_fn)(void *arg, enum policy_severity sev, int line,
				 const char *msg);

/* Parses the policy file at path.  Every error and warning found goes to
 * report (may be NULL).  An error inside a [host] section (or its header)
 * refuses that section only: it is listed in problems and the rest is in
 * force.  Returns the policy, or NULL when the file cannot be read or has
 * an error elsewhere (in [policy], before any section, too many); then err
 * (if not NULL) holds the first such error as "path:line: message".  Needs
 * ossl_resolve() (pins are base64). */
struct policy *policy_load(const char *path, policy_report_fn report,
			   void *arg, char *err, size_t errlen);

void policy_free(struct policy *p);

/* ---- policy_hosts.c ---- */

/* Lower-cases name into out and drops one trailing dot ("example.com." is
 * the same host).  -1 when it does not fit. */
int policy_name_normalize(const char *name, char out[POLICY_HOST_MAX + 1]);
/* A new, zeroed section for a normalized name not yet in p (mode -1), or
 * NULL when out of memory. */
struct policy_host *policy_add_host(struct policy *p, const char *name);
/* The section named exactly name (normalized), or NULL. */
const struct policy_host *policy_find(const struct policy *p,
				      const char *name);

/* The entry whose pins apply to host (any case, no trailing dot), or NULL.
 * Exact names win over "*." wildcards (one label), which win over a parent
 * with include-subdomains (the longest such parent).  A disabled entry is
 * returned too: the caller decides what a refused section means. */
const struct policy_host *policy_match(const struct policy *p,
				       const char *host);

/* The mode in force for h, before any PINSHIM_MODE override. */
enum policy_mode policy_host_mode(const struct policy *p,
				  const struct policy_host *h);

/* true when h's pins are past their expires day at time now. */
bool policy_host_expired(const struct policy_host *h, time_t now);

#endif
