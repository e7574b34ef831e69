/* pin.c: the sha256/<base64> form, both ways, and SPKI hashing. */
#include <string.h>

#include "pin.h"
#include "policytest.h"

/* SHA-256("abc") in pin form (FIPS 180-2 test vector). */
#define PIN_ABC "sha256/ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="

static void pin_of_der_hashes_with_sha256(void **state)
{
	char text[PIN_STRLEN];
	struct pin pin;

	(void)state;
	assert_int_equal(pin_of_der((const unsigned char *)"abc", 3, &pin), 0);
	pin_format(&pin, text);
	assert_string_equal(text, PIN_ABC);
}

static void parse_then_format_gives_the_same_string(void **state)
{
	char text[PIN_STRLEN];
	struct pin pin, abc;

	(void)state;
	assert_int_equal(pin_parse(PIN_ABC, &pin), 0);
	pin_format(&pin, text);
	assert_string_equal(text, PIN_ABC);
	assert_int_equal(pin_of_der((const unsigned char *)"abc", 3, &abc), 0);
	assert_true(pin_equal(&pin, &abc));
}

/* One digest in 64 encodes to base64 that starts with '/': not curl's
 * "sha256//" spelling, an ordinary pin (a CI run met one). */
static void parse_accepts_base64_starting_with_slash(void **state)
{
	static const char text[] =
		"sha256//iLTNzGYdoQsfv9zqmsPqcrb+FVf+jtbMG0XG1+51To=";
	char again[PIN_STRLEN];
	struct pin pin;

	(void)state;
	assert_int_equal(pin_parse(text, &pin), 0);
	pin_format(&pin, again);
	assert_string_equal(again, text);
}

static void pin_equal_tells_pins_apart(void **state)
{
	struct pin a, b;

	(void)state;
	assert_int_equal(pin_parse(PIN_A, &a), 0);
	assert_int_equal(pin_parse(PIN_B, &b), 0);
	assert_false(pin_equal(&a, &b));
	b = a;
	b.digest[31] ^= 1;
	assert_false(pin_equal(&a, &b));
	assert_true(pin_equal(&a, &a));
}

/* Fails unless text is rejected with a reason containing why. */
static void assert_rejected(const char *text, const char *why)
{
	char reason[128] = "";
	struct pin pin;

	assert_int_equal(pin_parse(text, &pin), -1);
	assert_int_equal(pin_parse_explain(text, &pin, reason,
					   sizeof(reason)), -1);
	if (strstr(reason, why) == NULL)
		fail_msg("'%s': reason '%s' lacks '%s'", text, reason, why);
}

static void parse_rejects_missing_or_wrong_prefix(void **state)
{
	(void)state;
	assert_rejected("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
			"expected 'sha256/'");
	assert_rejected("SHA256/ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
			"expected 'sha256/'");
	assert_rejected("sha1/ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
			"expected 'sha256/'");
	assert_rejected("", "expected 'sha256/'");
}

static void parse_rejects_curls_double_slash(void **state)
{
	(void)state;
	assert_rejected("sha256//ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
			"one slash");
}

static void parse_rejects_31_and_33_byte_digests(void **state)
{
	(void)state;
	assert_rejected("sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
			"decodes to 31 bytes");
	assert_rejected("sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			"decodes to 33 bytes");
}

static void parse_rejects_bad_base64(void **state)
{
	(void)state;
	assert_rejected("sha256/ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0",
			"43 base64 characters");
	assert_rejected("sha256/ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
			"'-' at offset 9");
	assert_rejected("sha256/ungWv48Bz pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
			"byte 0x20 at offset 9");
	assert_rejected("sha256/ungWv48Bz=pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
			"'=' at offset 9");
	assert_rejected("sha256/", "0 base64 characters");
	assert_rejected("sha256/\xff\xfe", "byte 0xff at offset 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pin_of_der_hashes_with_sha256),
		cmocka_unit_test(parse_then_format_gives_the_same_string),
		cmocka_unit_test(pin_equal_tells_pins_apart),
		cmocka_unit_test(parse_rejects_missing_or_wrong_prefix),
		cmocka_unit_test(parse_rejects_curls_double_slash),
		cmocka_unit_test(parse_accepts_base64_starting_with_slash),
		cmocka_unit_test(parse_rejects_31_and_33_byte_digests),
		cmocka_unit_test(parse_rejects_bad_base64),
	};

	return cmocka_run_group_tests_name("pin", tests, policytest_setup,
					   NULL);
}
