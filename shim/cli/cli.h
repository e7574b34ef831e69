/* The pinshim command: one file per subcommand, main.c only dispatches.
 * Every function a file shares is declared here. */
#ifndef PINSHIM_CLI_H
#define PINSHIM_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <openssl/x509.h>

#include "pin.h"
#include "policy.h"

/* Exit statuses shared by the commands. */
#define EXIT_USAGE 2            /* pin, check, the top level */
#define EXIT_RUN_FAILED 125     /* run: pinshim's own failure, as env(1) */
#define EXIT_CANNOT_EXEC 126    /* run: CMD found but not executable */
#define EXIT_NOT_FOUND 127      /* run: CMD not found */

/* main.c */
/* Prints the usage of command (NULL: all commands) to out. */
void usage(FILE *out, const char *command);
/* "pinshim COMMAND: WHAT ARG" and COMMAND's usage on stderr; EXIT_USAGE. */
int usage_error(const char *command, const char *what, const char *arg);

/* cmd_check.c: one lint finding as `pinshim check` prints it,
 * FILE:LINE: error|warning: message (no LINE when line is 0). */
void lint_print(FILE *out, const char *path, enum policy_severity sev,
		int line, const char *msg);

/* cmd_run.c, cmd_pin.c, cmd_check.c: argv[0] is the command name.
 * Each returns the process exit status (run returns only on failure). */
int cmd_run(int argc, char **argv);
int cmd_pin(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_enable(int argc, char **argv);
int cmd_disable(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* library.c */
#define LIBRARY_NAME "libpinshim.so"
/* The absolute path of libpinshim.so: $PINSHIM_LIBRARY, else next to
 * pinshim (or its build tree), else PINSHIM_LIBDIR.  0, or -1 reported. */
int library_find(char out[PATH_MAX]);
/* The core's path beside lib. */
void library_core(const char *lib, char out[PATH_MAX]);
/* lib loads cleanly: /bin/true preloaded with it exits 0 and prints
 * nothing, and its core opens.  0, or -1 with why. */
int library_check(const char *lib, char *why, size_t len);

/* preload.c: /etc/ld.so.preload (or another preload list) */
#define PRELOAD_PATH "/etc/ld.so.preload"
struct preload {
	char **lines;           /* without their newline */
	size_t n;
	bool exists;
	mode_t mode;            /* the file's, or 0644 for a new one */
	uid_t uid;
	gid_t gid;
};
/* 0 (a missing file is an empty list), or -1 with errno. */
int preload_read(const char *path, struct preload *p);
void preload_free(struct preload *p);
/* pinshim's entry (one naming libpinshim.so) into out, or NULL. */
const char *preload_find(const struct preload *p, char *out, size_t len);
/* Drops pinshim's entries, keeping everything else; true when any was. */
bool preload_remove(struct preload *p);
/* Appends lib as a line of its own.  0 or -1. */
int preload_add(struct preload *p, const char *lib);
/* No entry left at all. */
bool preload_empty(const struct preload *p);
/* Atomically replaces path with p (mode and owner kept).  0, -1 errno. */
int preload_write(const char *path, const struct preload *p);

/* replace.c */
struct file_attrs {
	mode_t mode;
	bool keep_owner;        /* chown to uid:gid (else the creator's) */
	uid_t uid;
	gid_t gid;
};
/* Atomically replaces path with what fill(fd, arg) writes (0, or -1 with
 * errno), with attributes a; path's directory is fsync'd after the rename.
 * 0, or -1 with errno (path untouched). */
int file_replace(const char *path, const struct file_attrs *a,
		 int (*fill)(int fd, void *arg), void *arg);
/* Removes path (gone already is fine), then fsyncs its directory.  0 or -1. */
int file_remove(const char *path);

/* certs.c */
/* Reads every certificate of a PEM file (other PEM blocks are skipped) or a
 * DER file.  0 on success (at least one certificate), -1 with err set. */
int certs_load_file(const char *path, STACK_OF(X509) **out, char *err,
		    size_t errlen);
/* The SPKI pin of cert.  0 on success, -1 on error. */
int certs_pin(X509 *cert, struct pin *out);
/* name in RFC 2253 form with control and non-ASCII bytes escaped (subjects
 * are chosen by whoever made the certificate).  malloc'd; NULL on error. */
char *certs_name(const X509_NAME *name);
/* The reason of OpenSSL's last error, for a message; never NULL. */
const char *certs_ossl_reason(void);

/* fetch.c */
/* 1 when target has the form host:port (or [v6]:port). */
bool fetch_is_target(const char *target);
/* Connects to host:port (10 s timeout), completes a TLS handshake without
 * verifying anything, SNI = host, and returns the chain the peer served,
 * leaf first.  0 on success, -1 with err set. */
int fetch_chain(const char *target, STACK_OF(X509) **out, char *err,
		size_t errlen);

/* elf.c */
struct elf_info {
	bool known;             /* an ELF file of this machine's class */
	bool dynamic;           /* has PT_INTERP: the loader runs, preloads work */
	bool needs_libssl;      /* DT_NEEDED libssl.so.* */
	bool needs_gnutls;      /* DT_NEEDED *gnutls* */
	bool needs_nss;         /* DT_NEEDED libnss3.so */
};
/* Reads what the dynamic loader will see of the executable at path.
 * 0 on success (known is false for scripts and foreign ELF), -1 when the
 * file cannot be read. */
int elf_inspect(const char *path, struct elf_info *out);

#endif
