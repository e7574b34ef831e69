/* The default spool directory, shared by the shim (spool.c) and `pinshim
 * status`: the first of /var/tmp/pinshim-<euid>, $XDG_RUNTIME_DIR/
 * pinshim-spool (not in a privileged process), ~/.cache/pinshim/spool (the
 * home of the effective user, from the password database) that this user
 * can use. */
#ifndef PINSHIM_SPOOL_DIR_H
#define PINSHIM_SPOOL_DIR_H

#include <stdbool.h>
#include <stddef.h>

/* Why dir cannot be a spool of this user (owned by another, writable by
 * others, not a directory), or NULL when it can (or does not exist). */
const char *spool_dir_refusal(const char *dir);

/* The directory into out; create: make it (0700) when missing.  0, or -1
 * when none can be used (out then holds the first).  squatted: "DIR
 * (why)" when the first place was refused, else "". */
int spool_dir_default(char *out, size_t len, bool create, char *squatted,
		      size_t squatted_len);

#endif
