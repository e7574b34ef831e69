/* pinshim pin TARGET: the SPKI pin of every certificate of a file or of a
 * live server's chain, leaf first. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "cli.h"

struct cert_line {
	char pin[PIN_STRLEN];
	char *subject;
	char *issuer;
};

static void cert_line_free(struct cert_line *c)
{
	free(c->subject);
	free(c->issuer);
}

/* 0 or -1 (message printed). */
static int describe(X509 *x, int pos, struct cert_line *c)
{
	struct pin pin;

	c->subject = certs_name(X509_get_subject_name(x));
	c->issuer = certs_name(X509_get_issuer_name(x));
	if (certs_pin(x, &pin) < 0 || c->subject == NULL || c->issuer == NULL) {
		fprintf(stderr, "pinshim: certificate %d: cannot read its "
			"key or names: %s\n", pos, certs_ossl_reason());
		return -1;
	}
	pin_format(&pin, c->pin);
	return 0;
}

static int print_text(STACK_OF(X509) *chain)
{
	struct cert_line c = { 0 };
	int rc = 0;

	for (int i = 0; rc == 0 && i < sk_X509_num(chain); i++) {
		rc = describe(sk_X509_value(chain, i), i, &c);
		if (rc == 0)
			printf("%d %s  %s\n", i, c.pin, c.subject);
		cert_line_free(&c);
		memset(&c, 0, sizeof(c));
	}
	return rc;
}

static json_object *cert_json(int pos, const struct cert_line *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "position", json_object_new_int(pos));
	json_object_object_add(o, "pin", json_object_new_string(c->pin));
	json_object_object_add(o, "subject",
			       json_object_new_string(c->subject));
	json_object_object_add(o, "issuer", json_object_new_string(c->issuer));
	return o;
}

static int print_json(const char *target, STACK_OF(X509) *chain)
{
	json_object *root = json_object_new_object();
	json_object *certs = json_object_new_array();
	struct cert_line c = { 0 };
	int rc = 0;

	json_object_object_add(root, "target", json_object_new_string(target));
	json_object_object_add(root, "certificates", certs);
	for (int i = 0; rc == 0 && i < sk_X509_num(chain); i++) {
		rc = describe(sk_X509_value(chain, i), i, &c);
		if (rc == 0)
			json_object_array_add(certs, cert_json(i, &c));
		cert_line_free(&c);
		memset(&c, 0, sizeof(c));
	}
	if (rc == 0)
		printf("%s\n", json_object_to_json_string_ext(root,
			JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return rc;
}

/* A file when one exists at target, else host:port.  0 or -1 reported. */
static int load_target(const char *target, STACK_OF(X509) **chain)
{
	char err[512];
	struct stat st;
	int rc;

	if (stat(target, &st) == 0 || !fetch_is_target(target))
		rc = certs_load_file(target, chain, err, sizeof(err));
	else
		rc = fetch_chain(target, chain, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "pinshim: %s%s\n", err,
			strchr(target, ':') == NULL && stat(target, &st) != 0
				? " (for a live server: host:port)" : "");
	return rc;
}

int cmd_pin(int argc, char **argv)
{
	const char *target = NULL;
	STACK_OF(X509) *chain = NULL;
	bool json = false;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (argv[i][0] == '-' || target != NULL) {
			fprintf(stderr, "pinshim pin: unexpected '%s'\n",
				argv[i]);
			usage(stderr, "pin");
			return EXIT_USAGE;
		} else {
			target = argv[i];
		}
	}
	if (target == NULL) {
		usage(stderr, "pin");
		return EXIT_USAGE;
	}
	/* a server closing mid-handshake must not kill us with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	if (load_target(target, &chain) < 0)
		return EXIT_USAGE;
	rc = json ? print_json(target, chain) : print_text(chain);
	sk_X509_pop_free(chain, X509_free);
	return rc == 0 ? 0 : EXIT_USAGE;
}
