/* pinshim run: exec CMD with libpinshim.so preloaded.  After the exec the
 * exit status is CMD's by construction; before it, pinshim fails the way
 * env(1) and shells do: 125 its own error, 126 not executable, 127 not
 * found. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

struct run_opts {
	const char *policy;
	const char *mode;       /* "observe", "enforce" or NULL */
	int cmd;                /* index of CMD in argv */
};

static int run_usage_error(const char *what, const char *arg)
{
	usage_error("run", what, arg);
	return -1;
}

static int set_mode(struct run_opts *o, const char *mode)
{
	if (o->mode != NULL && strcmp(o->mode, mode) != 0)
		return run_usage_error("--observe and --enforce exclude each "
				       "other", NULL);
	o->mode = mode;
	return 0;
}

/* Options up to "--" or the first word that is not one.  0 or -1. */
static int parse_run_args(int argc, char **argv, struct run_opts *o)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--policy") == 0 && i + 1 < argc) {
			o->policy = argv[++i];
		} else if (strncmp(a, "--policy=", 9) == 0) {
			o->policy = a + 9;
		} else if (strcmp(a, "--observe") == 0 ||
			   strcmp(a, "--enforce") == 0) {
			if (set_mode(o, a + 2) < 0)
				return -1;
		} else {
			return run_usage_error("unknown option or missing "
					       "argument: ", a);
		}
	}
	if (i >= argc)
		return run_usage_error("no command to run", NULL);
	o->cmd = i;
	return 0;
}

/* Where execv should find cmd, as execvp would.  0, or ENOENT (nothing
 * there) or EACCES (only files that are not executable). */
static int resolve_command(const char *cmd, char out[PATH_MAX])
{
	const char *path = getenv("PATH"), *p;
	struct stat st;
	int e = ENOENT;

	if (strchr(cmd, '/') != NULL) {
		snprintf(out, PATH_MAX, "%s", cmd);
		return access(cmd, X_OK) == 0 ? 0 : errno;
	}
	if (path == NULL)
		path = "/bin:/usr/bin";
	for (p = path; cmd[0] != '\0'; p += strcspn(p, ":") + 1) {
		int n = (int)strcspn(p, ":");

		/* an empty PATH element is the working directory */
		snprintf(out, PATH_MAX, "%.*s%s%s", n, n > 0 ? p : ".", "/",
			 cmd);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(out, X_OK) == 0)
				return 0;
			e = EACCES;
		}
		if (p[n] == '\0')
			break;
	}
	return e;
}

static bool is_sanitizer_runtime(const char *entry, size_t len)
{
	static const char *const names[] = { "libasan", "libtsan", "libubsan",
					     "liblsan", "libhwasan",
					     "libclang_rt." };
	const char *base = memrchr(entry, '/', len);

	base = base != NULL ? base + 1 : entry;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);

		if ((size_t)(entry + len - base) >= n &&
		    strncmp(base, names[i], n) == 0)
			return true;
	}
	return false;
}

static void append_entry(char *out, size_t *o, const char *s, size_t n)
{
	if (*o > 0)
		out[(*o)++] = ':';
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = '\0';
}

/* The entries of list that are (or are not) sanitizer runtimes, except
 * lib itself. */
static void append_entries(char *out, size_t *o, const char *list,
			   const char *lib, bool sanitizers)
{
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ": ");

		if (n > 0 && is_sanitizer_runtime(p, n) == sanitizers &&
		    !(n == strlen(lib) && memcmp(p, lib, n) == 0))
			append_entry(out, o, p, n);
		p += n;
		if (*p != '\0')
			p++;
	}
}

/* LD_PRELOAD with lib in front of old's entries, except sanitizer
 * runtimes: they abort unless they come first.  malloc'd or NULL. */
static char *preload_value(const char *lib, const char *old)
{
	size_t oldlen = old != NULL ? strlen(old) : 0, o = 0;
	char *out = malloc(strlen(lib) + 2 * oldlen + 2);

	if (out == NULL)
		return NULL;
	out[0] = '\0';
	if (old != NULL)
		append_entries(out, &o, old, lib, true);
	append_entry(out, &o, lib, strlen(lib));
	if (old != NULL)
		append_entries(out, &o, old, lib, false);
	return out;
}

/* One pinshim: line per reason the shim will not see CMD's TLS. */
static void warn_unreachable(const char *cmd, const char *path)
{
	struct elf_info elf;
	struct stat st;

	if (stat(path, &st) == 0 &&
	    (((st.st_mode & S_ISUID) && st.st_uid != getuid()) ||
	     ((st.st_mode & S_ISGID) && st.st_gid != getgid())))
		fprintf(stderr, "pinshim: %s is setuid/setgid: the loader "
			"drops LD_PRELOAD, pins will not be checked\n", cmd);
	if (elf_inspect(path, &elf) < 0 || !elf.known)
		return;
	if (!elf.dynamic)
		fprintf(stderr, "pinshim: %s is statically linked: the shim "
			"cannot reach it\n", cmd);
	else if (!elf.needs_libssl && (elf.needs_gnutls || elf.needs_nss))
		fprintf(stderr, "pinshim: %s uses %s, not OpenSSL: the shim "
			"cannot reach its connections\n", cmd,
			elf.needs_gnutls ? "GnuTLS" : "NSS");
}

/* Sets LD_PRELOAD, PINSHIM_POLICY, PINSHIM_MODE.  0 or -1 reported. */
static int set_environment(const struct run_opts *o, const char *lib)
{
	char policy[PATH_MAX], *preload;
	int rc;

	/* absolute: CMD may chdir before its first handshake */
	if (o->policy != NULL && realpath(o->policy, policy) == NULL) {
		fprintf(stderr, "pinshim: --policy %s: %s\n", o->policy,
			strerror(errno));
		return -1;
	}
	preload = preload_value(lib, getenv("LD_PRELOAD"));
	rc = preload != NULL ? setenv("LD_PRELOAD", preload, 1) : -1;
	free(preload);
	if (rc == 0 && o->policy != NULL)
		rc = setenv("PINSHIM_POLICY", policy, 1);
	if (rc == 0 && o->mode != NULL)
		rc = setenv("PINSHIM_MODE", o->mode, 1);
	if (rc != 0)
		fprintf(stderr, "pinshim: cannot set the environment: %s\n",
			strerror(errno));
	return rc;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	char lib[PATH_MAX], path[PATH_MAX];
	const char *cmd;
	int e;

	if (parse_run_args(argc, argv, &o) < 0 ||
	    library_find(lib) < 0 || set_environment(&o, lib) < 0)
		return EXIT_RUN_FAILED;
	cmd = argv[o.cmd];
	e = resolve_command(cmd, path);
	if (e == ENOENT) {
		fprintf(stderr, "pinshim: %s: %s\n", cmd,
			strchr(cmd, '/') ? strerror(e) : "command not found");
		return EXIT_NOT_FOUND;
	}
	if (e == 0) {
		warn_unreachable(cmd, path);
		execv(path, argv + o.cmd);
		e = errno;
	}
	fprintf(stderr, "pinshim: %s: cannot execute: %s\n", cmd, strerror(e));
	return EXIT_CANNOT_EXEC;
}
