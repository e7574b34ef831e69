/* Replacing a file atomically: a temporary file beside it, filled, fsync'd,
 * renamed over it, then the directory fsync'd.  Readers (the loader at
 * every exec, every preloaded process reading the policy) see the old file
 * or the new one, never half of either, even across a crash. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void sync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd = copy != NULL ? open(dirname(copy), O_RDONLY | O_DIRECTORY |
					     O_CLOEXEC) : -1;

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

int file_replace(const char *path, const struct file_attrs *a,
		 int (*fill)(int fd, void *arg), void *arg)
{
	char tmp[PATH_MAX];
	int fd, e;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.pinshim-XXXXXX", path) >=
	    sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fchmod(fd, a->mode) != 0 ||
	    (a->keep_owner && fchown(fd, a->uid, a->gid) != 0) ||
	    fill(fd, arg) != 0 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	sync_parent(path);
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

int file_remove(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return -1;
	sync_parent(path);
	return 0;
}
