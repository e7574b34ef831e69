/* policy_match, policy_host_mode, policy_host_expired: which entry's pins
 * apply to a host name, in which mode, until when. */
#include <string.h>

#include "policytest.h"

#define PINS "pin = " PIN_A "\npin = " PIN_B "\n"

static const char match_policy[] =
	"[policy]\nmode = enforce\n"
	"[host api.example.com]\n" PINS "mode = observe\n"
	"[host *.example.com]\n" PINS
	"[host example.com]\n" PINS "include-subdomains = yes\n"
	"[host deep.example.com]\n" PINS "include-subdomains = yes\n"
	"[host plain.example.org]\n" PINS
	"[host *.wild.example.net]\n" PINS
	"[host example.net]\n" PINS "include-subdomains = yes\n"
	"[host 2001:db8::1]\n" PINS;

static int load_match_policy(void **state)
{
	struct findings f;

	if (policytest_setup(state) != 0)
		return -1;
	*state = load_text(match_policy, &f);
	if (*state != NULL && f.n == 0)
		return 0;
	dump_findings(&f);
	return -1;
}

static int free_match_policy(void **state)
{
	policy_free(*state);
	return 0;
}

/* The name of the entry that host matches, or "(none)". */
static const char *match(void **state, const char *host)
{
	const struct policy_host *h = policy_match(*state, host);

	return h != NULL ? h->name : "(none)";
}

static void exact_name_matches_its_entry(void **state)
{
	assert_string_equal(match(state, "api.example.com"), "api.example.com");
	assert_string_equal(match(state, "plain.example.org"),
			    "plain.example.org");
	assert_string_equal(match(state, "2001:db8::1"), "2001:db8::1");
}

static void matching_ignores_case_and_one_trailing_dot(void **state)
{
	assert_string_equal(match(state, "API.Example.COM"), "api.example.com");
	assert_string_equal(match(state, "api.example.com."),
			    "api.example.com");
	assert_string_equal(match(state, "plain.example.org."),
			    "plain.example.org");
	assert_string_equal(match(state, "plain.example.org.."), "(none)");
}

static void wildcard_matches_exactly_one_label(void **state)
{
	assert_string_equal(match(state, "www.wild.example.net"),
			    "*.wild.example.net");
	assert_string_equal(match(state, "a.b.wild.example.net"),
			    "example.net"); /* the parent, not the wildcard */
	assert_string_equal(match(state, "wild.example.net"), "example.net");
}

static void wildcard_without_a_parent_does_not_match_deeper(void **state)
{
	struct findings f;
	struct policy *p = load_text("[host *.example.org]\n" PINS, &f);

	(void)state;
	assert_non_null(p);
	assert_non_null(policy_match(p, "a.example.org"));
	assert_null(policy_match(p, "a.b.example.org"));
	assert_null(policy_match(p, "example.org"));
	policy_free(p);
}

static void exact_beats_wildcard_beats_parent(void **state)
{
	/* api: exact; www: the wildcard, though example.com includes it */
	assert_string_equal(match(state, "api.example.com"), "api.example.com");
	assert_string_equal(match(state, "www.example.com"), "*.example.com");
	assert_string_equal(match(state, "example.com"), "example.com");
}

static void include_subdomains_covers_every_depth(void **state)
{
	assert_string_equal(match(state, "a.b.c.example.com"), "example.com");
	assert_string_equal(match(state, "x.api.example.com"), "example.com");
}

static void longest_parent_with_include_subdomains_wins(void **state)
{
	assert_string_equal(match(state, "a.deep.example.com"),
			    "deep.example.com");
	assert_string_equal(match(state, "a.b.deep.example.com"),
			    "deep.example.com");
}

static void parent_without_include_subdomains_does_not_match(void **state)
{
	assert_string_equal(match(state, "www.plain.example.org"), "(none)");
	assert_string_equal(match(state, "example.org"), "(none)");
}

static void unrelated_and_degenerate_names_match_nothing(void **state)
{
	char longname[400];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_string_equal(match(state, "notexample.com"), "(none)");
	assert_string_equal(match(state, "example.com.evil"), "(none)");
	assert_string_equal(match(state, ""), "(none)");
	assert_string_equal(match(state, "."), "(none)");
	assert_string_equal(match(state, longname), "(none)");
	assert_null(policy_match(*state, NULL));
	assert_null(policy_match(NULL, "example.com"));
}

static void host_mode_falls_back_to_policy_default(void **state)
{
	const struct policy *p = *state;

	assert_int_equal(policy_host_mode(p, policy_match(p, "api.example.com")),
			 POLICY_OBSERVE);
	assert_int_equal(policy_host_mode(p, policy_match(p, "example.com")),
			 POLICY_ENFORCE);
}

static void pins_expire_after_the_whole_named_day(void **state)
{
	struct findings f;
	struct policy *p = load_text("[host a.example]\n" PINS
				     "expires = 2999-01-01\n"
				     "[host b.example]\n" PINS, &f);
	/* 2999-01-02T00:00:00Z */
	const time_t end = (time_t)32472144000LL + 86400;

	(void)state;
	assert_non_null(p);
	assert_false(policy_host_expired(&p->hosts[0], end - 86400));
	assert_false(policy_host_expired(&p->hosts[0], end - 1));
	assert_true(policy_host_expired(&p->hosts[0], end));
	assert_true(policy_host_expired(&p->hosts[0], end + 86400 * 365));
	/* no expires: never */
	assert_false(policy_host_expired(&p->hosts[1], end * 2));
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exact_name_matches_its_entry),
		cmocka_unit_test(matching_ignores_case_and_one_trailing_dot),
		cmocka_unit_test(wildcard_matches_exactly_one_label),
		cmocka_unit_test(wildcard_without_a_parent_does_not_match_deeper),
		cmocka_unit_test(exact_beats_wildcard_beats_parent),
		cmocka_unit_test(include_subdomains_covers_every_depth),
		cmocka_unit_test(longest_parent_with_include_subdomains_wins),
		cmocka_unit_test(parent_without_include_subdomains_does_not_match),
		cmocka_unit_test(unrelated_and_degenerate_names_match_nothing),
		cmocka_unit_test(host_mode_falls_back_to_policy_default),
		cmocka_unit_test(pins_expire_after_the_whole_named_day),
	};

	return cmocka_run_group_tests_name("policy-match", tests,
					   load_match_policy,
					   free_match_policy);
}
