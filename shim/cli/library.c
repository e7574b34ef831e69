/* Where libpinshim.so is, and whether it loads: for run, enable and
 * status. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "front.h"

/* dir of the running pinshim into out ("" when unknown). */
static void exe_dir(char out[PATH_MAX])
{
	ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 1);
	char *slash;

	out[n > 0 ? n : 0] = '\0';
	slash = strrchr(out, '/');
	if (slash != NULL)
		*slash = '\0';
	else
		out[0] = '\0';
}

/* The first readable candidate, as an absolute path.  0, or -1 reported. */
static int search(char out[PATH_MAX])
{
	const char *env = getenv("PINSHIM_LIBRARY");
	char dir[PATH_MAX], cand[3][PATH_MAX + 32];

	if (env != NULL && env[0] != '\0') {
		if (realpath(env, out) != NULL && access(out, R_OK) == 0)
			return 0;
		fprintf(stderr, "pinshim: PINSHIM_LIBRARY=%s: %s\n", env,
			strerror(errno));
		return -1;
	}
	exe_dir(dir);
	/* build tree: build/shim/cli/pinshim next to build/shim/lib... */
	snprintf(cand[0], sizeof(cand[0]), "%s/../%s", dir, LIBRARY_NAME);
	snprintf(cand[1], sizeof(cand[1]), "%s/%s", dir, LIBRARY_NAME);
	snprintf(cand[2], sizeof(cand[2]), "%s/%s", PINSHIM_LIBDIR,
		 LIBRARY_NAME);
	for (int i = 0; i < 3; i++)
		if (access(cand[i], R_OK) == 0 && realpath(cand[i], out))
			return 0;
	fprintf(stderr, "pinshim: %s not found in %s/.., %s or %s: set "
		"PINSHIM_LIBRARY to its path\n", LIBRARY_NAME, dir, dir,
		PINSHIM_LIBDIR);
	return -1;
}

int library_find(char out[PATH_MAX])
{
	if (search(out) < 0)
		return -1;
	/* ld.so splits LD_PRELOAD and ld.so.preload at blanks and colons */
	if (strpbrk(out, ": \t\n") != NULL) {
		fprintf(stderr, "pinshim: %s: a preload list cannot hold a path "
			"with a colon or a blank\n", out);
		return -1;
	}
	return 0;
}

void library_core(const char *lib, char out[PATH_MAX])
{
	const char *slash = strrchr(lib, '/');
	int dir = slash != NULL ? (int)(slash - lib) : 0;

	snprintf(out, PATH_MAX, "%.*s%s%s", dir, lib, slash ? "/" : "",
		 PINSHIM_CORE_FILE);
}

/* Runs body(arg) in a child whose stderr is a pipe: the child's exit
 * status, and what it wrote on stderr (at most len - 1 bytes) in err.
 * -1 when it could not run.  body never returns. */
static int in_child(void (*body)(void *), void *arg, char *err, size_t len)
{
	int p[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		body(arg);
	}
	close(p[1]);
	while (pid > 0 && (n = read(p[0], err + got, len - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = '\0';
	close(p[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Child: /bin/true with only the library preloaded. */
static void run_true(void *preload)
{
	char *argv[] = { "/bin/true", NULL };
	char *env[] = { preload, "PATH=/usr/bin:/bin", NULL };

	execve(argv[0], argv, env);
	_exit(127);
}

/* Child: opens the core as the front would; exit 0, or 1 with the
 * loader's reason on stderr. */
static void open_core(void *core)
{
	void *h = dlopen(core, RTLD_NOW | RTLD_LOCAL);
	const char *e = h == NULL ? dlerror()
		: dlsym(h, PINSHIM_CORE_ENTRY) == NULL
		? "no " PINSHIM_CORE_ENTRY : NULL;

	if (e != NULL && write(STDERR_FILENO, e, strlen(e)) < 0)
		_exit(2);
	_exit(e != NULL);
}

int library_check(const char *lib, char *why, size_t len)
{
	char preload[PATH_MAX + 16], core[PATH_MAX], err[1024], base[1024];
	int rc;

	/* What /bin/true prints without us (the loader's warning about
	 * another broken entry of the preload list) is not ours to judge. */
	if (in_child(run_true, "LD_PRELOAD=", base, sizeof(base)) != 0)
		base[0] = '\0';
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
	rc = in_child(run_true, preload, err, sizeof(err));
	if (rc != 0 || strcmp(err, base) != 0) {
		snprintf(why, len, "/bin/true under %s: exit %d%s%.300s", lib,
			 rc, err[0] ? ", stderr: " : "", err);
		return -1;
	}
	library_core(lib, core);
	if (in_child(open_core, core, err, sizeof(err)) != 0) {
		snprintf(why, len, "%s does not load: %.400s", core,
			 err[0] ? err : "unknown reason");
		return -1;
	}
	return 0;
}
