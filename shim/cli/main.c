/* pinshim: dispatches to one command; usage text for all of them. */
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "cli.h"
#include "ossl.h"
#include "policy.h"

#ifndef PINSHIM_VERSION
#define PINSHIM_VERSION "unknown"
#endif

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;
	const char *help;
};

static const struct command commands[] = {
	{ "run", cmd_run,
	  "run [--policy FILE] [--observe|--enforce] -- CMD [ARGS...]",
	  "Runs CMD with libpinshim.so preloaded; the exit status is CMD's.\n"
	  "  --policy FILE  the policy (sets PINSHIM_POLICY)\n"
	  "  --observe      only report pin mismatches (sets PINSHIM_MODE)\n"
	  "  --enforce      block pin mismatches (sets PINSHIM_MODE)\n"
	  "The library is $PINSHIM_LIBRARY, else found next to pinshim, else\n"
	  "in " PINSHIM_LIBDIR ".\n"
	  "Exit status: CMD's; 125 pinshim failed, 126 CMD not executable,\n"
	  "127 CMD not found.\n" },
	{ "pin", cmd_pin, "pin [--json] TARGET",
	  "Prints the sha256/<base64> SPKI pin of every certificate of TARGET,\n"
	  "with its position (0 = leaf) and subject.  TARGET is a PEM file\n"
	  "(one or more certificates), a DER file, or host:port of a live TLS\n"
	  "server (no verification: pin what you meant to reach).\n"
	  "  --json  print {\"target\", \"certificates\": [{position, pin,\n"
	  "          subject, issuer}]}\n"
	  "Exit status: 0 success, 2 unreadable file or unreachable host.\n" },
	{ "check", cmd_check, "check [--chain FILE] [--verbose] POLICY",
	  "Lints POLICY: each finding is one line FILE:LINE: error|warning: ...\n"
	  "  --chain FILE  also warn for every pin that matches no certificate\n"
	  "                of the PEM chain FILE\n"
	  "  --verbose     say so on stderr when the policy is clean\n"
	  "Exit status: 0 clean, 1 warnings only, 2 errors.\n" },
	{ "enable", cmd_enable, "enable [--policy FILE]",
	  "Enables the shim for every program started from now on: adds the\n"
	  "library's absolute path to " PRELOAD_PATH " (atomically, keeping\n"
	  "every other entry and the file's mode; nothing to do when it is\n"
	  "there).  Refuses unless /bin/true preloaded with the library exits 0\n"
	  "silently and its core loads, and unless the policy has no errors.\n"
	  "  --policy FILE  lint FILE and install it as " POLICY_MACHINE_PATH "\n"
	  "                 (else that file must exist and lint clean)\n"
	  "Run as root.  Exit status: 0 enabled, 1 refused or failed.\n" },
	{ "disable", cmd_disable, "disable",
	  "Removes pinshim's entry from " PRELOAD_PATH ", and the file when\n"
	  "enable created it and nothing else is in it.  Running programs keep\n"
	  "the shim until they exit.  Exit status: 0, 1 failed.\n" },
	{ "status", cmd_status, "status [--json]",
	  "Says what is in force: whether the shim is enabled (" PRELOAD_PATH ",\n"
	  "this process's LD_PRELOAD), the library and its version, the policy\n"
	  "(version, hosts by mode, lint findings), the collector and whether it\n"
	  "accepts connections, this user's spool and its last delivery.\n"
	  "Exit status: 0, or 1 when a problem is listed.\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void usage(FILE *out, const char *command)
{
	const struct command *c = command ? find_command(command) : NULL;

	if (c != NULL) {
		fprintf(out, "usage: pinshim %s\n\n%s", c->synopsis, c->help);
		return;
	}
	fprintf(out, "usage: pinshim COMMAND [ARGS...]\n\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  pinshim %s\n", commands[i].synopsis);
	fprintf(out, "\npinshim COMMAND --help describes one command.\n");
}

int usage_error(const char *command, const char *what, const char *arg)
{
	fprintf(stderr, "pinshim %s: %s%s\n", command, what, arg ? arg : "");
	usage(stderr, command);
	return EXIT_USAGE;
}

static int is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int main(int argc, char **argv)
{
	const struct command *c;

	/* policy.c and pin.c reach OpenSSL through the table ossl_resolve
	 * fills from the resident libssl; calling libssl directly here keeps
	 * it a DT_NEEDED of pinshim even under --as-needed. */
	OPENSSL_init_ssl(0, NULL);
	if (!ossl_resolve()) {
		fprintf(stderr, "pinshim: cannot resolve OpenSSL functions\n");
		return EXIT_USAGE;
	}
	if (argc < 2) {
		usage(stderr, NULL);
		return EXIT_USAGE;
	}
	if (is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		usage(stdout, argc > 2 ? argv[2] : NULL);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("pinshim %s\n", PINSHIM_VERSION);
		return 0;
	}
	c = find_command(argv[1]);
	if (c == NULL) {
		fprintf(stderr, "pinshim: unknown command '%s'\n\n", argv[1]);
		usage(stderr, NULL);
		return EXIT_USAGE;
	}
	if (argc > 2 && is_help(argv[2])) {
		usage(stdout, c->name);
		return 0;
	}
	return c->run(argc - 1, argv + 1);
}
