/* Where this user's spool is when neither PINSHIM_SPOOL nor the policy
 * says (spool_dir.h).  /var/tmp is shared: any local user can create
 * /var/tmp/pinshim-<uid> first, and a spool someone else owns is refused,
 * so there are places to fall back on that others cannot take. */
#include "spool_dir.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

const char *spool_dir_refusal(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) != 0)
		return errno == ENOENT ? NULL : "cannot be read";
	if (!S_ISDIR(st.st_mode))
		return "not a directory";
	if (st.st_uid != geteuid())
		return "owned by another user";
	if ((st.st_mode & 022) != 0)
		return "writable by group or others";
	return NULL;
}

/* mkdir -p of the last levels of path (those under an existing parent),
 * 0700 each. */
static void make_dirs(char *path)
{
	char *slash = strrchr(path, '/');

	if (mkdir(path, 0700) == 0 || errno != ENOENT || slash == NULL ||
	    slash == path)
		return;
	*slash = '\0';
	make_dirs(path);
	*slash = '/';
	mkdir(path, 0700);
}

/* The home directory of the effective user, from the password database
 * (never $HOME: a privileged process must not take it from its caller),
 * and only when that user owns it. */
static int home_of_euid(char *out, size_t len)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	struct stat st;

	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) != 0 ||
	    res == NULL || pw.pw_dir == NULL || pw.pw_dir[0] != '/' ||
	    stat(pw.pw_dir, &st) != 0 || st.st_uid != geteuid())
		return -1;
	snprintf(out, len, "%s", pw.pw_dir);
	return 0;
}

/* The i-th place to try: 0, 1 when it does not apply here, -1 when there
 * is none more. */
static int candidate(int i, char *out, size_t len)
{
	const char *run;
	char home[1024];

	switch (i) {
	case 0:
		snprintf(out, len, "/var/tmp/pinshim-%u", (unsigned)geteuid());
		return 0;
	case 1:
		/* the user's own tmpfs (systemd): nobody else can write there */
		run = getauxval(AT_SECURE) ? NULL : secure_getenv("XDG_RUNTIME_DIR");
		if (run == NULL || run[0] != '/')
			return 1;
		snprintf(out, len, "%s/pinshim-spool", run);
		return 0;
	case 2:
		if (home_of_euid(home, sizeof(home)) < 0)
			return 1;
		snprintf(out, len, "%s/.cache/pinshim/spool", home);
		return 0;
	default:
		return -1;
	}
}

int spool_dir_default(char *out, size_t len, bool create, char *squatted,
		      size_t squatted_len)
{
	char first[512] = "";

	if (squatted != NULL && squatted_len > 0)
		squatted[0] = '\0';
	for (int i = 0, r; (r = candidate(i, out, len)) >= 0; i++) {
		const char *why = r == 0 ? spool_dir_refusal(out) : "";
		struct stat st;

		if (r > 0)
			continue;
		if (i == 0)
			snprintf(first, sizeof(first), "%s", out);
		if (why == NULL && lstat(out, &st) != 0 && create)
			make_dirs(out);
		if (why == NULL && (!create || spool_dir_refusal(out) == NULL))
			return 0;
		if (i == 0 && squatted != NULL)
			snprintf(squatted, squatted_len, "%s (%s)", first, why);
	}
	snprintf(out, len, "%s", first);
	return -1;
}
