/* /etc/ld.so.preload, the machine's preload list: read, and written back
 * atomically (replace.c), with every line that is not pinshim's kept as it was and the file's mode
 * and owner kept.  The loader reads it at every exec, setuid programs
 * included: a torn or half-written file would be read by the next exec. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define PRELOAD_MAX (1 << 20)   /* a preload list is a few lines */

void preload_free(struct preload *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->lines[i]);
	free(p->lines);
	memset(p, 0, sizeof(*p));
}

static int add_line(struct preload *p, const char *s, size_t n)
{
	char **l = realloc(p->lines, (p->n + 1) * sizeof(*l));

	if (l == NULL)
		return -1;
	p->lines = l;
	l[p->n] = strndup(s, n);
	return l[p->n] != NULL ? (int)p->n++ : -1;
}

static int read_text(const char *path, char **text, size_t *len, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	ssize_t n;

	*text = NULL;
	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) ||
	    st->st_size > PRELOAD_MAX) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	*text = malloc((size_t)st->st_size + 1);
	n = *text != NULL ? read(fd, *text, (size_t)st->st_size) : -1;
	close(fd);
	if (n < 0) {
		free(*text);
		*text = NULL;
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

int preload_read(const char *path, struct preload *p)
{
	struct stat st;
	char *text;
	size_t len, start = 0;

	memset(p, 0, sizeof(*p));
	p->mode = 0644;
	if (read_text(path, &text, &len, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	p->exists = true;
	p->mode = st.st_mode & 07777;
	p->uid = st.st_uid;
	p->gid = st.st_gid;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] != '\n')
			continue;
		if ((i > start || i < len) && add_line(p, text + start, i - start) < 0) {
			free(text);
			preload_free(p);
			errno = ENOMEM;
			return -1;
		}
		start = i + 1;
	}
	free(text);
	return 0;
}

/* An entry of the list is pinshim's when it names libpinshim.so. */
static bool is_pinshim(const char *entry, size_t n)
{
	const char *base = memrchr(entry, '/', n);
	size_t blen;

	base = base != NULL ? base + 1 : entry;
	blen = (size_t)(entry + n - base);
	return blen == strlen(LIBRARY_NAME) &&
	       memcmp(base, LIBRARY_NAME, blen) == 0;
}

/* The loader splits the list at blanks, tabs, newlines and colons. */
#define SEPARATORS ": \t"

const char *preload_find(const struct preload *p, char *out, size_t len)
{
	for (size_t i = 0; i < p->n; i++) {
		for (const char *e = p->lines[i]; *e != '\0';) {
			size_t n = strcspn(e, SEPARATORS);

			if (n > 0 && is_pinshim(e, n)) {
				snprintf(out, len, "%.*s", (int)n, e);
				return out;
			}
			e += n;
			e += strspn(e, SEPARATORS);
		}
	}
	return NULL;
}

/* line without pinshim's entries: NULL when nothing else was on it, the
 * line itself when pinshim was not, else a new string (other entries
 * joined by a blank).  *changed tells. */
static char *without_pinshim(char *line, bool *changed)
{
	char *out = malloc(strlen(line) + 1);
	size_t o = 0, kept = 0, dropped = 0;

	if (out == NULL)
		return line;               /* keep it rather than lose it */
	for (const char *e = line; *e != '\0';) {
		size_t n = strcspn(e, SEPARATORS);

		if (n > 0 && is_pinshim(e, n)) {
			dropped++;
		} else if (n > 0) {
			if (kept++ > 0)
				out[o++] = ' ';
			memcpy(out + o, e, n);
			o += n;
		}
		e += n;
		e += strspn(e, SEPARATORS);
	}
	out[o] = '\0';
	if (dropped == 0) {
		free(out);
		return line;
	}
	*changed = true;
	free(line);
	if (kept == 0) {
		free(out);
		return NULL;
	}
	return out;
}

bool preload_remove(struct preload *p)
{
	bool changed = false;
	size_t o = 0;

	for (size_t i = 0; i < p->n; i++) {
		char *l = without_pinshim(p->lines[i], &changed);

		if (l != NULL)
			p->lines[o++] = l;
	}
	p->n = o;
	return changed;
}

int preload_add(struct preload *p, const char *lib)
{
	return add_line(p, lib, strlen(lib)) < 0 ? -1 : 0;
}

bool preload_empty(const struct preload *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->lines[i][strspn(p->lines[i], SEPARATORS "\r")] != '\0')
			return false;
	return true;
}

static int write_all(int fd, void *arg)
{
	const struct preload *p = arg;

	for (size_t i = 0; i < p->n; i++) {
		size_t n = strlen(p->lines[i]);

		if (write(fd, p->lines[i], n) != (ssize_t)n ||
		    write(fd, "\n", 1) != 1)
			return -1;
	}
	return 0;
}

int preload_write(const char *path, const struct preload *p)
{
	const struct file_attrs a = { .mode = p->mode, .keep_owner = p->exists,
				      .uid = p->uid, .gid = p->gid };

	return file_replace(path, &a, write_all, (void *)p);
}
