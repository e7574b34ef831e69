/* The pinning policy: one INI file (see DESIGN.md, "Policy"), parsed with
 * libinih.  Shared by libpinshim.so (loads it once, then only reads it) and
 * the pinshim CLI (`check` lints it). */
#ifndef PINSHIM_POLICY_H
#define PINSHIM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "pin.h"

/* The machine's policy: the default, and the only one privileged
 * processes read. */
#define POLICY_MACHINE_DIR "/etc/pinshim"
#define POLICY_MACHINE_PATH POLICY_MACHINE_DIR "/policy.ini"

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
	size_t nhosts;
};

enum policy_severity { POLICY_WARNING = 1, POLICY_ERROR = 2 };

/* Receives every finding while parsing: line is 0 for a whole-file problem
 * (unreadable file).  msg has no file name, no line and no newline. */
typedef void (*policy_report_fn)(void *arg, enum policy_severity sev, int line,
				 const char *msg);

/* Parses the policy file at path.  Every error and warning found goes to
 * report (may be NULL).  Returns the policy, or NULL when the file cannot be
 * read or has at least one error; then err (if not NULL) holds the first
 * error as "path:line: message".  Needs ossl_resolve() (pins are base64). */
struct policy *policy_load(const char *path, policy_report_fn report,
			   void *arg, char *err, size_t errlen);

void policy_free(struct policy *p);

/* The entry whose pins apply to host (any case, no trailing dot), or NULL.
 * Exact names win over "*." wildcards (one label), which win over a parent
 * with include-subdomains (the longest such parent). */
const struct policy_host *policy_match(const struct policy *p,
				       const char *host);

/* The mode in force for h, before any PINSHIM_MODE override. */
enum policy_mode policy_host_mode(const struct policy *p,
				  const struct policy_host *h);

/* true when h's pins are past their expires day at time now. */
bool policy_host_expired(const struct policy_host *h, time_t now);

#endif
