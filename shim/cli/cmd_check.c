/* pinshim check POLICY: the lint.  Findings go to stdout, one line each,
 * FILE:LINE: error|warning: message, in file order; the exit status is
 * the worst of them: 0 clean, 1 warnings only, 2 errors. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "policy.h"

struct lint {
	const char *path;
	int worst;              /* 0, POLICY_WARNING or POLICY_ERROR */
};

void lint_print(FILE *out, const char *path, enum policy_severity sev,
		int line, const char *msg)
{
	const char *what = sev == POLICY_ERROR ? "error" : "warning";

	if (line > 0)
		fprintf(out, "%s:%d: %s: %s\n", path, line, what, msg);
	else
		fprintf(out, "%s: %s: %s\n", path, what, msg);
}

static void print_finding(struct lint *l, enum policy_severity sev, int line,
			  const char *msg)
{
	lint_print(stdout, l->path, sev, line, msg);
	if ((int)sev > l->worst)
		l->worst = (int)sev;
}

static void on_finding(void *arg, enum policy_severity sev, int line,
		       const char *msg)
{
	print_finding(arg, sev, line, msg);
}

/* 1 when pin is the pin of some certificate of chain. */
static int in_chain(const struct pin *pin, STACK_OF(X509) *chain)
{
	struct pin p;

	for (int i = 0; i < sk_X509_num(chain); i++)
		if (certs_pin(sk_X509_value(chain, i), &p) == 0 &&
		    pin_equal(&p, pin))
			return 1;
	return 0;
}

/* A warning for each pin that no certificate of the chain file has. */
static int check_chain(struct lint *l, const struct policy *p,
		       const char *chain_path)
{
	STACK_OF(X509) *chain = NULL;
	char err[512], msg[640], text[PIN_STRLEN];

	if (certs_load_file(chain_path, &chain, err, sizeof(err)) < 0) {
		fprintf(stderr, "pinshim: %s\n", err);
		return -1;
	}
	for (size_t h = 0; h < p->nhosts; h++) {
		for (size_t i = 0; i < p->hosts[h].npins; i++) {
			if (in_chain(&p->hosts[h].pins[i], chain))
				continue;
			pin_format(&p->hosts[h].pins[i], text);
			snprintf(msg, sizeof(msg), "pin %s of %s matches no "
				 "certificate of %s", text, p->hosts[h].name,
				 chain_path);
			print_finding(l, POLICY_WARNING,
				      p->hosts[h].pin_lines[i], msg);
		}
	}
	sk_X509_pop_free(chain, X509_free);
	return 0;
}

static void summary(const struct policy *p)
{
	size_t npins = 0;

	for (size_t i = 0; i < p->nhosts; i++)
		npins += p->hosts[i].npins;
	fprintf(stderr, "%s: ok: %zu hosts, %zu pins, version '%s'\n",
		p->path, p->nhosts, npins, p->version);
}

struct check_opts {
	const char *policy;
	const char *chain;
	bool verbose;
};

static int parse_check_args(int argc, char **argv, struct check_opts *o)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--chain") == 0 && i + 1 < argc)
			o->chain = argv[++i];
		else if (strcmp(argv[i], "--verbose") == 0)
			o->verbose = true;
		else if (argv[i][0] != '-' && o->policy == NULL)
			o->policy = argv[i];
		else
			goto bad;
	}
	if (o->policy != NULL)
		return 0;
bad:
	usage(stderr, "check");
	return -1;
}

int cmd_check(int argc, char **argv)
{
	struct check_opts o = { 0 };
	struct lint l = { 0 };
	struct policy *p;

	if (parse_check_args(argc, argv, &o) < 0)
		return EXIT_USAGE;
	l.path = o.policy;
	p = policy_load(o.policy, on_finding, &l, NULL, 0);
	if (p == NULL && l.worst != POLICY_ERROR)
		print_finding(&l, POLICY_ERROR, 0, "out of memory");
	if (p != NULL && o.chain != NULL && check_chain(&l, p, o.chain) < 0)
		l.worst = POLICY_ERROR;
	if (p != NULL && l.worst == 0 && o.verbose)
		summary(p);
	policy_free(p);
	return l.worst;
}
