/* policy_load: what a policy file turns into, and every lint finding with
 * the line it names.  Line numbers in the texts are counted in comments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "policytest.h"

static void loads_the_design_example(void **state)
{
	const char *text =
		"[policy]\n"                                   /* 1 */
		"version   = 2026-11-22.1      ; every event carries it\n"
		"mode      = observe           ; default for hosts\n"
		"collector = 127.0.0.1:7410\n"
		"token     = /etc/pinshim/token ; shared secret\n"
		"\n"
		"[host api.example.com]\n"                     /* 7 */
		"pin  = " PIN_A "   ; primary key\n"           /* 8 */
		"pin  = " PIN_B "   ; backup key\n"            /* 9 */
		"include-subdomains = yes\n"
		"mode    = enforce\n"
		"expires = 2999-06-01          ; after this day...\n";
	struct findings f;
	struct policy *p = load_text(text, &f);
	struct pin a, b;

	(void)state;
	assert_non_null(p);
	assert_nfindings(&f, 0);
	assert_string_equal(p->version, "2026-11-22.1");
	assert_int_equal(p->mode, POLICY_OBSERVE);
	assert_string_equal(p->collector, "127.0.0.1:7410");
	assert_string_equal(p->token_path, "/etc/pinshim/token");
	assert_int_equal(p->nhosts, 1);
	assert_string_equal(p->hosts[0].name, "api.example.com");
	assert_int_equal(p->hosts[0].line, 7);
	assert_int_equal(p->hosts[0].npins, 2);
	assert_int_equal(pin_parse(PIN_A, &a), 0);
	assert_int_equal(pin_parse(PIN_B, &b), 0);
	assert_true(pin_equal(&p->hosts[0].pins[0], &a));
	assert_true(pin_equal(&p->hosts[0].pins[1], &b));
	assert_int_equal(p->hosts[0].pin_lines[0], 8);
	assert_int_equal(p->hosts[0].pin_lines[1], 9);
	assert_true(p->hosts[0].include_subdomains);
	assert_int_equal(p->hosts[0].mode, POLICY_ENFORCE);
	assert_int_equal(p->hosts[0].expires_line, 12);
	policy_free(p);
}

static void expires_day_lasts_until_its_end_utc(void **state)
{
	struct tm day = { .tm_year = 2999 - 1900, .tm_mon = 5, .tm_mday = 2 };
	struct findings f;
	struct policy *p = load_text("[host a.example]\npin = " PIN_A "\n"
				     "pin = " PIN_B "\nexpires = 2999-06-01\n",
				     &f);

	(void)state;
	assert_non_null(p);
	/* the first second of 2999-06-02 */
	assert_int_equal(p->hosts[0].expires, timegm(&day));
	policy_free(p);
}

static void defaults_without_policy_section(void **state)
{
	struct findings f;
	struct policy *p = load_text("[host a.example]\npin = " PIN_A "\n"
				     "pin = " PIN_B "\n", &f);

	(void)state;
	assert_non_null(p);
	assert_nfindings(&f, 0);
	assert_string_equal(p->version, "");
	assert_int_equal(p->mode, POLICY_OBSERVE);
	assert_null(p->collector);
	assert_null(p->token_path);
	assert_int_equal(p->hosts[0].mode, -1);
	assert_false(p->hosts[0].include_subdomains);
	assert_int_equal(p->hosts[0].expires, 0);
	policy_free(p);
}

static void empty_file_is_an_empty_policy(void **state)
{
	struct findings f;
	struct policy *p = load_text("", &f);

	(void)state;
	assert_non_null(p);
	assert_nfindings(&f, 0);
	assert_int_equal(p->nhosts, 0);
	policy_free(p);
}

static void host_names_are_stored_lower_case_without_trailing_dot(void **state)
{
	struct findings f;
	struct policy *p = load_text("[HOST API.Example.COM.]\n"
				     "PIN = " PIN_A "\nPin = " PIN_B "\n"
				     "Mode = ENFORCE\n"
				     "Include-Subdomains = TRUE\n", &f);

	(void)state;
	assert_non_null(p);
	assert_string_equal(p->hosts[0].name, "api.example.com");
	assert_int_equal(p->hosts[0].npins, 2);
	assert_int_equal(p->hosts[0].mode, POLICY_ENFORCE);
	assert_true(p->hosts[0].include_subdomains);
	policy_free(p);
}

static void booleans_accept_yes_no_true_false_1_0(void **state)
{
	static const char *const values[] = { "yes", "no", "true", "false",
					      "1", "0" };
	char text[256];
	struct findings f;
	struct policy *p;

	(void)state;
	for (int i = 0; i < 6; i++) {
		snprintf(text, sizeof(text), "[host a.example]\npin = " PIN_A
			 "\npin = " PIN_B "\ninclude-subdomains = %s\n",
			 values[i]);
		p = load_text(text, &f);
		assert_non_null(p);
		assert_int_equal(p->hosts[0].include_subdomains, i % 2 == 0);
		policy_free(p);
	}
}

static void indented_keys_crlf_bom_and_inline_comments_parse(void **state)
{
	const char *text =
		"\xef\xbb\xbf; a BOM, CRLF line ends, indentation\r\n"
		"[host a.example]   ; comment after a header\r\n"
		"\tpin = " PIN_A " ; primary\r\n"
		"    pin = " PIN_B "\r\n"
		"  # a comment\r\n"
		"  mode = enforce\r\n";
	struct findings f;
	struct policy *p = load_text(text, &f);

	(void)state;
	assert_non_null(p);
	assert_nfindings(&f, 0);
	assert_int_equal(p->hosts[0].npins, 2);
	assert_int_equal(p->hosts[0].pin_lines[1], 4);
	assert_int_equal(p->hosts[0].mode, POLICY_ENFORCE);
	policy_free(p);
}

static void warns_on_single_pin_at_host_line(void **state)
{
	struct findings f;
	struct policy *p = load_text("[policy]\nmode = enforce\n\n"
				     "[host one.example]\n"      /* 4 */
				     "pin = " PIN_A "\n", &f);

	(void)state;
	assert_non_null(p); /* a warning does not stop the policy */
	assert_nfindings(&f, 1);
	assert_finding(&f, POLICY_WARNING, 4,
		       "only one pin: no backup pin, a key rollover will "
		       "break this host");
	policy_free(p);
}

static void repeated_pin_is_no_backup(void **state)
{
	struct findings f;
	struct policy *p = load_text("[host a.example]\npin = " PIN_A "\n"
				     "pin = " PIN_A "\n", &f);

	(void)state;
	assert_non_null(p);
	assert_finding(&f, POLICY_WARNING, 3, "the same pin as line 2");
	assert_finding(&f, POLICY_WARNING, 1, "only one pin");
	assert_int_equal(p->hosts[0].npins, 1);
	policy_free(p);
}

static void errors_on_host_without_pins(void **state)
{
	struct findings f;
	struct policy *p = load_text("[host a.example]\npin = " PIN_A "\n"
				     "pin = " PIN_B "\n"
				     "[host none.example]\n"     /* 4 */
				     "mode = enforce\n"
				     "[host last.example]\n",    /* 6 */
				     &f);

	(void)state;
	/* the two sections are refused; the good one stays in force */
	assert_non_null(p);
	assert_finding(&f, POLICY_ERROR, 4, "[host none.example] has no pin");
	assert_finding(&f, POLICY_ERROR, 6, "[host last.example] has no pin");
	assert_nfindings(&f, 2);
	assert_string_equal(f.err, "");
	assert_int_equal(p->nhosts, 3);
	assert_false(p->hosts[0].disabled);
	assert_true(p->hosts[1].disabled);
	assert_true(p->hosts[2].disabled);
	assert_int_equal(p->nproblems, 2);
	assert_non_null(strstr(p->problems[0], ":4: [host none.example] not in "
			       "force: [host none.example] has no pin"));
	assert_non_null(strstr(p->problems[1], ":6: [host last.example]"));
	policy_free(p);
}

static void errors_on_duplicate_host_section(void **state)
{
	struct findings f;
	struct policy *p = load_text("[host a.example]\npin = " PIN_A "\n"
				     "pin = " PIN_B "\n"
				     "[host A.EXAMPLE.]\n"       /* 4 */
				     "pin = " PIN_A "\npin = " PIN_B "\n",
				     &f);

	(void)state;
	/* the first section stays in force, the second is ignored */
	assert_non_null(p);
	assert_nfindings(&f, 1);
	assert_finding(&f, POLICY_ERROR, 4,
		       "duplicate [host a.example] section (first at line 1)");
	assert_int_equal(p->nhosts, 1);
	assert_false(p->hosts[0].disabled);
	assert_int_equal(p->nproblems, 1);
	assert_non_null(strstr(p->problems[0], ":4: duplicate [host a.example] "
			       "section (first at line 1), the section is "
			       "ignored"));
	policy_free(p);
}

static void errors_on_malformed_values_with_their_lines(void **state)
{
	const char *text =
		"[policy]\n"
		"mode = block\n"                                       /* 2 */
		"collector = localhost\n"                              /* 3 */
		"[host a.example]\n"
		"pin = sha256/AAAA\n"                                  /* 5 */
		"pin = " PIN_A "\n"
		"pin = " PIN_B "\n"
		"pin = sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n"
		"pin = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"  /* 9 */
		"include-subdomains = maybe\n"                         /* 10 */
		"mode = Enforced\n"                                    /* 11 */
		"expires = 2027-13-01\n"                               /* 12 */
		"expires = 2027-02-29\n"                               /* 13 */
		"expires = 1.6.2027\n"                                 /* 14 */
		"expires = 2028-02-29\n";                              /* 15 */
	struct findings f;
	struct policy *p = load_text(text, &f);

	(void)state;
	assert_null(p);
	assert_finding(&f, POLICY_ERROR, 2,
		       "unknown mode 'block': expected observe or enforce");
	assert_finding(&f, POLICY_ERROR, 3, "expected host:port");
	assert_finding(&f, POLICY_ERROR, 5, "malformed pin 'sha256/AAAA'");
	assert_finding(&f, POLICY_ERROR, 8, "decodes to 31 bytes");
	assert_finding(&f, POLICY_ERROR, 9, "expected 'sha256/'");
	assert_finding(&f, POLICY_ERROR, 10, "expected yes, no, true, false");
	assert_finding(&f, POLICY_ERROR, 11, "unknown mode 'Enforced'");
	assert_finding(&f, POLICY_ERROR, 12, "expected a date YYYY-MM-DD");
	assert_finding(&f, POLICY_ERROR, 13, "expected a date YYYY-MM-DD");
	assert_finding(&f, POLICY_ERROR, 14, "expected a date YYYY-MM-DD");
	assert_int_equal(count_sev(&f, POLICY_ERROR), 10);
	/* 2028-02-29 exists; only "set again" warnings besides */
	assert_finding(&f, POLICY_WARNING, 15, "expires set again");
	assert_non_null(strstr(f.err, ":2: unknown mode 'block'"));
}

static void warns_on_expired_pins_at_expires_line(void **state)
{
	struct findings f;
	struct policy *p = load_text("[host a.example]\npin = " PIN_A "\n"
				     "pin = " PIN_B "\n"
				     "expires = 2020-01-31\n", &f);

	(void)state;
	assert_non_null(p);
	assert_nfindings(&f, 1);
	assert_finding(&f, POLICY_WARNING, 4, "expired on 2020-01-31");
	assert_true(policy_host_expired(&p->hosts[0], time(NULL)));
	policy_free(p);
}

static void warns_on_unknown_sections_and_keys(void **state)
{
	const char *text =
		"orphan = 1\n"                                  /* 1 */
		"[policy]\n"
		"colector = 127.0.0.1:1\n"                      /* 3 */
		"[hosts a.example]\n"                           /* 4 */
		"pin = nonsense, but in an ignored section\n"
		"[host a.example]\n"
		"pin = " PIN_A "\npin = " PIN_B "\n"
		"pins = " PIN_A "\n";                           /* 9 */
	struct findings f;
	struct policy *p = load_text(text, &f);

	(void)state;
	assert_non_null(p);
	assert_nfindings(&f, 4);
	assert_finding(&f, POLICY_WARNING, 1, "key 'orphan' before any section");
	assert_finding(&f, POLICY_WARNING, 3,
		       "unknown key 'colector' in [policy]");
	assert_finding(&f, POLICY_WARNING, 4, "unknown section [hosts a.example]");
	assert_finding(&f, POLICY_WARNING, 9,
		       "unknown key 'pins' in [host a.example], ignored: "
		       "expected pin, include-subdomains, mode, expires");
	policy_free(p);
}

static void warns_on_key_set_twice_and_later_wins(void **state)
{
	struct findings f;
	struct policy *p = load_text("[policy]\nmode = enforce\n"
				     "mode = observe\n", &f);

	(void)state;
	assert_non_null(p);
	assert_finding(&f, POLICY_WARNING, 3,
		       "mode set again (first at line 2)");
	assert_int_equal(p->mode, POLICY_OBSERVE);
	policy_free(p);
}

static void errors_on_duplicate_policy_section(void **state)
{
	struct findings f;
	struct policy *p = load_text("[policy]\nmode = enforce\n"
				     "[policy]\nmode = observe\n", &f);

	(void)state;
	assert_null(p);
	assert_nfindings(&f, 1);
	assert_finding(&f, POLICY_ERROR, 3,
		       "duplicate [policy] section (first at line 1)");
}

static void warns_on_relative_token_and_wildcard_subdomains(void **state)
{
	struct findings f;
	struct policy *p = load_text("[policy]\ntoken = token.txt\n"
				     "[host *.a.example]\n"
				     "pin = " PIN_A "\npin = " PIN_B "\n"
				     "include-subdomains = yes\n", &f);

	(void)state;
	assert_non_null(p);
	assert_nfindings(&f, 2);
	assert_finding(&f, POLICY_WARNING, 2, "token path 'token.txt' is relative");
	assert_finding(&f, POLICY_WARNING, 6,
		       "include-subdomains has no effect on a wildcard");
	policy_free(p);
}

static void errors_on_bad_headers_and_lines(void **state)
{
	const char *text =
		"[policy\n"                                     /* 1 */
		"[host]\n"                                      /* 2 */
		"[host a b]\n"                                  /* 3 */
		"[host a..example]\n"                           /* 4 */
		"[host *.*.example]\n"                          /* 5 */
		"[host -a.example]\n"                           /* 6 */
		"[host a.example] trailing\n"                   /* 7 */
		"just words\n"                                  /* 8 */
		"= value\n"                                     /* 9 */
		"[host b.example]\n"
		"pin = " PIN_A "\npin = " PIN_B "\n"
		"= value\n";                                    /* 13 */
	struct findings f;
	struct policy *p = load_text(text, &f);

	(void)state;
	assert_null(p);
	assert_finding(&f, POLICY_ERROR, 1, "without ']'");
	assert_finding(&f, POLICY_ERROR, 2, "[host] without a name");
	assert_finding(&f, POLICY_ERROR, 3, "expected one host name");
	assert_finding(&f, POLICY_ERROR, 4, "invalid host name 'a..example'");
	assert_finding(&f, POLICY_ERROR, 5, "invalid host name");
	assert_finding(&f, POLICY_ERROR, 6, "invalid host name");
	assert_finding(&f, POLICY_ERROR, 7, "text after ']'");
	assert_finding(&f, POLICY_ERROR, 8, "expected 'key = value'");
	assert_finding(&f, POLICY_ERROR, 13, "no key before '='");
	/* line 9 sits in a section whose header was an error: skipped */
	assert_nfindings(&f, 9);
}

static void comments_of_any_length_are_skipped(void **state)
{
	static char text[80 * 1024];
	struct findings f;
	struct policy *p;
	int n;

	(void)state;
	/* a 60 KB comment, then a 4 KB pin line (most of it an inline
	 * comment) and a 4 KB version */
	n = snprintf(text, sizeof(text), "[policy]\n;%060000d\nversion = %04000d"
		     "\n[host a.example]\npin = " PIN_A " ; %04000d\npin = "
		     PIN_B "\n", 0, 0, 0);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	/* the version is over its own cap: checked below with a short one */
	p = load_text(text, &f);
	assert_null(p);
	assert_nfindings(&f, 1);
	assert_finding(&f, POLICY_ERROR, 3, "version of 4000 characters");
	snprintf(text, sizeof(text), "[policy]\n;%060000d\nversion = v1\n"
		 "[host a.example]\npin = " PIN_A " ; %04000d\npin = " PIN_B
		 "\n", 0, 0);
	p = load_text(text, &f);
	assert_non_null(p);
	assert_nfindings(&f, 0);
	assert_int_equal(p->hosts[0].npins, 2);
	assert_int_equal(p->hosts[0].pin_lines[1], 6);
	policy_free(p);
}

static void overlong_line_refuses_its_section_only(void **state)
{
	static char text[40 * 1024];
	struct findings f;
	struct policy *p;

	(void)state;
	snprintf(text, sizeof(text), "[host a.example]\npin = " PIN_A "\npin = "
		 PIN_B "\nmode = enforce%020000d\n[host b.example]\npin = "
		 PIN_A "\npin = " PIN_B "\n", 0);
	p = load_text(text, &f);
	assert_non_null(p);
	assert_nfindings(&f, 1);
	assert_finding(&f, POLICY_ERROR, 4, "line too long (20014 bytes, at "
		       "most 16384)");
	assert_true(p->hosts[0].disabled);
	assert_false(p->hosts[1].disabled);
	assert_ptr_equal(policy_match(p, "a.example"), &p->hosts[0]);
	policy_free(p);
}

static void error_in_policy_section_refuses_the_file(void **state)
{
	struct findings f;
	struct policy *p = load_text("[policy]\nmode = enforce\ncollector = "
				     "nowhere\n[host a.example]\npin = " PIN_A
				     "\npin = " PIN_B "\n", &f);

	(void)state;
	assert_null(p);
	assert_nfindings(&f, 1);
	assert_non_null(strstr(f.err, ":3: collector 'nowhere'"));
}

static void pins_and_hosts_are_capped(void **state)
{
	static char text[16 * 1024];
	size_t o = 0;
	struct findings f;
	struct policy *p;

	(void)state;
	o += (size_t)snprintf(text + o, sizeof(text) - o, "[host a.example]\n");
	for (int i = 0; i <= POLICY_MAX_PINS; i++) {
		unsigned char d[32] = { (unsigned char)i, 1 };
		char b64[64];

		EVP_EncodeBlock((unsigned char *)b64, d, 32);
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "pin = sha256/%s\n", b64);
	}
	p = load_text(text, &f);
	assert_non_null(p);
	assert_finding(&f, POLICY_ERROR, POLICY_MAX_PINS + 2,
		       "more than 64 pins for one host");
	assert_true(p->hosts[0].disabled);
	assert_int_equal(p->hosts[0].npins, POLICY_MAX_PINS);
	policy_free(p);
}

static void errors_on_nul_and_control_bytes(void **state)
{
	static const char text[] = "[host a.example]\npin = " PIN_A "\n"
				   "pin = " PIN_B "\n"
				   "mode = en\0force\n"          /* 4 */
				   "mode = \x1b[31menforce\n";   /* 5 */
	struct findings f;
	struct policy *p = load_bytes(text, sizeof(text) - 1, &f);

	(void)state;
	assert_non_null(p);
	assert_finding(&f, POLICY_ERROR, 4, "NUL byte");
	assert_finding(&f, POLICY_ERROR, 5, "control character 0x1b");
	assert_nfindings(&f, 2);
	assert_true(p->hosts[0].disabled);
	/* one problem per refused section, its first error */
	assert_int_equal(p->nproblems, 1);
	assert_non_null(strstr(p->problems[0], ":4: [host a.example] not in "
			       "force: NUL byte"));
	policy_free(p);
}

static void stops_after_many_errors_on_binary_garbage(void **state)
{
	enum { LEN = 64 * 1024 };
	unsigned char *junk = malloc(LEN);
	struct findings f;
	struct policy *p;
	unsigned int x = 12345;

	(void)state;
	assert_non_null(junk);
	for (size_t i = 0; i < LEN; i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (unsigned char)(x >> 16);
	}
	p = load_bytes((const char *)junk, LEN, &f);
	free(junk);
	assert_null(p);
	assert_true(count_sev(&f, POLICY_ERROR) >= 1);
	/* one finding per line of a binary helps nobody */
	assert_true(f.n <= 52);
	assert_non_null(strstr(f.item[f.n - 1].msg, "too many errors"));
}

static void missing_file_is_an_error_without_line(void **state)
{
	struct findings f;

	(void)state;
	assert_null(load_path("/nonexistent/policy.ini", &f));
	assert_nfindings(&f, 1);
	assert_finding(&f, POLICY_ERROR, 0,
		       "cannot open: No such file or directory");
	assert_string_equal(f.err, "/nonexistent/policy.ini: cannot open: "
				   "No such file or directory");
}

static void directory_is_not_a_regular_file(void **state)
{
	char err[256];

	(void)state;
	assert_null(policy_load("/", NULL, NULL, err, sizeof(err)));
	assert_string_equal(err, "/: not a regular file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(loads_the_design_example),
		cmocka_unit_test(expires_day_lasts_until_its_end_utc),
		cmocka_unit_test(defaults_without_policy_section),
		cmocka_unit_test(empty_file_is_an_empty_policy),
		cmocka_unit_test(host_names_are_stored_lower_case_without_trailing_dot),
		cmocka_unit_test(booleans_accept_yes_no_true_false_1_0),
		cmocka_unit_test(indented_keys_crlf_bom_and_inline_comments_parse),
		cmocka_unit_test(warns_on_single_pin_at_host_line),
		cmocka_unit_test(repeated_pin_is_no_backup),
		cmocka_unit_test(errors_on_host_without_pins),
		cmocka_unit_test(errors_on_duplicate_host_section),
		cmocka_unit_test(errors_on_malformed_values_with_their_lines),
		cmocka_unit_test(warns_on_expired_pins_at_expires_line),
		cmocka_unit_test(warns_on_unknown_sections_and_keys),
		cmocka_unit_test(warns_on_key_set_twice_and_later_wins),
		cmocka_unit_test(errors_on_duplicate_policy_section),
		cmocka_unit_test(warns_on_relative_token_and_wildcard_subdomains),
		cmocka_unit_test(errors_on_bad_headers_and_lines),
		cmocka_unit_test(comments_of_any_length_are_skipped),
		cmocka_unit_test(overlong_line_refuses_its_section_only),
		cmocka_unit_test(error_in_policy_section_refuses_the_file),
		cmocka_unit_test(pins_and_hosts_are_capped),
		cmocka_unit_test(errors_on_nul_and_control_bytes),
		cmocka_unit_test(stops_after_many_errors_on_binary_garbage),
		cmocka_unit_test(missing_file_is_an_error_without_line),
		cmocka_unit_test(directory_is_not_a_regular_file),
	};

	return cmocka_run_group_tests_name("policy-load", tests,
					   policytest_setup, NULL);
}
