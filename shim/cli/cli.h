/* The pinshim command: one file per subcommand, main.c only dispatches.
 * Every function a file shares is declared here. */
#ifndef PINSHIM_CLI_H
#define PINSHIM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <openssl/x509.h>

#include "pin.h"

/* Exit statuses shared by the commands. */
#define EXIT_USAGE 2            /* pin, check, the top level */
#define EXIT_RUN_FAILED 125     /* run: pinshim's own failure, as env(1) */
#define EXIT_CANNOT_EXEC 126    /* run: CMD found but not executable */
#define EXIT_NOT_FOUND 127      /* run: CMD not found */

/* main.c */
/* Prints the usage of command (NULL: all commands) to out. */
void usage(FILE *out, const char *command);

/* cmd_run.c, cmd_pin.c, cmd_check.c: argv[0] is the command name.
 * Each returns the process exit status (run returns only on failure). */
int cmd_run(int argc, char **argv);
int cmd_pin(int argc, char **argv);
int cmd_check(int argc, char **argv);

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
