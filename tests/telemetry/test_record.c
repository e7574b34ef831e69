/* The event's content, without a network or a sender: an event built by hand
 * from a real certificate chain and real code addresses, packed as
 * pinshim.Event and written as a JSON line, every field read back; the
 * platform, process and network context of this very process; the stack
 * capture.  Links record.c, context.c, stack.c, event.c and chain.c
 * directly (not the preload library). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dlfcn.h>
#include <json-c/json.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim.h"
#include "wire.h"

#define APP_VERSION "9.9-test"
#define NETWORK "lab-net"
#define SERIAL_HEX "0123456789ABCDEF"
#define PIN_B_TEXT "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="

static const char *argv0;

/* ---- fixtures: certificates, an event ---- */

static X509 *make_cert(const char *cn, const char *issuer_cn, uint64_t serial)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();

	assert_non_null(key);
	X509_set_version(x, 2);
	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial);
	ASN1_TIME_set(X509_getm_notBefore(x), 1700000000);
	ASN1_TIME_set(X509_getm_notAfter(x), 1800000000);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(X509_get_issuer_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)issuer_cn, -1, -1, 0);
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	EVP_PKEY_free(key);
	return x;
}

static STACK_OF(X509) *served_sk, *built_sk;
static struct pin expected[2];

static void spki_pin(X509 *x, char out[PIN_STRLEN])
{
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	struct pin p;

	assert_int_equal(pin_of_der(der, (size_t)len, &p), 0);
	pin_format(&p, out);
	OPENSSL_free(der);
}

static void cert_sha256(X509 *x, unsigned char out[32])
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);

	SHA256(der, (size_t)len, out);
	OPENSSL_free(der);
}

/* Exported (-rdynamic) so dladdr names it in the stack. */
void telemetry_marker(void);
__attribute__((noinline, used)) void telemetry_marker(void)
{
	static volatile int n;

	for (int i = 0; i < 8; i++)   /* long enough to hold an offset of 4 */
		n += i;
}

static void *sym(const char *name)
{
	void *p = dlsym(RTLD_DEFAULT, name);

	assert_non_null(p);
	return p;
}

static struct event *make_event(void)
{
	struct event *ev = event_new(EV_PIN_MISMATCH, EV_WOULD_BLOCK);

	assert_non_null(ev);
	snprintf(ev->peer.host, sizeof(ev->peer.host), "pinned.test");
	snprintf(ev->peer.addr, sizeof(ev->peer.addr), "127.0.0.1");
	ev->peer.port = 8443;
	ev->mode = POLICY_ENFORCE;
	snprintf(ev->policy_version, sizeof(ev->policy_version), "2026-11-22.1");
	memcpy(ev->expected, expected, sizeof(expected));
	ev->nexpected = 2;
	ev->pinned = true;
	ev->pin_matched = false;
	ev->matched = EV_MATCHED_NONE;
	ev->pin_expired = true;
	ev->verify_error = X509_V_ERR_CERT_HAS_EXPIRED;
	ev->verify_error_text =
		X509_verify_cert_error_string(X509_V_ERR_CERT_HAS_EXPIRED);
	ev->tls_version = "TLSv1.3";
	snprintf(ev->message, sizeof(ev->message), "no pin matches the chain");
	/* As verify.c and the sender do: references, then details. */
	chain_hold(served_sk, &ev->served);
	chain_hold(built_sk, &ev->built);
	event_complete(ev);
	ev->stack.ip[0] = (char *)telemetry_marker + 4;
	ev->stack.ip[1] = (char *)sym("getpid") + 2;
	ev->stack.ip[2] = (char *)sym("_cmocka_run_group_tests") + 3;
	ev->stack.n = 3;
	return ev;
}

static Pinshim__Event *pack_unpack(const struct event *ev)
{
	size_t len;
	uint8_t *buf = record_pack(ev, &len);
	Pinshim__Event *e;

	assert_non_null(buf);
	assert_true(len > 0);
	e = pinshim__event__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(e);
	return e;
}

/* The collector's own check, on a batch holding e. */
static void assert_collector_accepts(Pinshim__Event *e)
{
	static uint8_t id[WIRE_ID_LEN] = { 1 };
	Pinshim__Batch b = PINSHIM__BATCH__INIT;
	Pinshim__Frame f = PINSHIM__FRAME__INIT;
	char err[256] = "";

	b.id.data = id;
	b.id.len = sizeof(id);
	b.events = &e;
	b.n_events = 1;
	wire_frame_batch(&f, &b);
	if (!wire_validate(&f, err, sizeof(err)))
		fail_msg("collector would refuse the event: %s", err);
}

static bool is_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (; *s != '\0'; s++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return false;
	return true;
}

/* ---- record_pack ---- */

static void assert_cert(const Pinshim__Cert *c, X509 *x, uint32_t pos,
			const char *subject, const char *issuer)
{
	char pin[PIN_STRLEN];
	unsigned char digest[32], *der = NULL;
	int len = i2d_X509(x, &der);

	assert_int_equal(c->position, pos);
	assert_string_equal(c->subject, subject);
	assert_string_equal(c->issuer, issuer);
	assert_int_equal(c->not_before, 1700000000);
	assert_int_equal(c->not_after, 1800000000);
	spki_pin(x, pin);
	assert_string_equal(c->pin, pin);
	cert_sha256(x, digest);
	assert_int_equal(c->sha256.len, 32);
	assert_memory_equal(c->sha256.data, digest, 32);
	assert_int_equal(c->der.len, (size_t)len);
	assert_memory_equal(c->der.data, der, (size_t)len);
	OPENSSL_free(der);
}

static void pack_carries_the_verdict_and_the_connection(void **state)
{
	struct event *ev = make_event();
	Pinshim__Event *e = pack_unpack(ev);
	char pin[PIN_STRLEN];

	(void)state;
	assert_int_equal(e->id.len, 16);
	assert_memory_equal(e->id.data, ev->id, 16);
	assert_int_equal(e->id.data[6] >> 4, 7);           /* UUIDv7 */
	assert_int_equal(e->time_us, (int64_t)ev->time.tv_sec * 1000000 +
					     ev->time.tv_nsec / 1000);
	assert_int_equal(e->kind, PINSHIM__KIND__PIN_MISMATCH);
	assert_int_equal(e->decision, PINSHIM__DECISION__WOULD_BLOCK);
	assert_int_equal(e->mode, PINSHIM__MODE__ENFORCE);
	assert_string_equal(e->host, "pinned.test");
	assert_int_equal(e->port, 8443);
	assert_string_equal(e->peer, "127.0.0.1");
	assert_string_equal(e->policy_version, "2026-11-22.1");
	assert_int_equal(e->n_expected_pins, 2);
	pin_format(&expected[0], pin);
	assert_string_equal(e->expected_pins[0], pin);
	pin_format(&expected[1], pin);
	assert_string_equal(e->expected_pins[1], pin);
	assert_true(e->pinned);
	assert_int_equal(e->matched, PINSHIM__MATCHED__MATCHED_NONE);
	assert_true(e->pin_expired);
	assert_int_equal(e->verify_error, X509_V_ERR_CERT_HAS_EXPIRED);
	assert_string_equal(e->verify_error_text, "certificate has expired");
	assert_string_equal(e->tls_version, "TLSv1.3");
	assert_string_equal(e->message, "no pin matches the chain");
	assert_int_equal(e->count, 1);
	assert_int_equal(e->last_time_us, e->time_us);
	assert_int_equal(e->repeat_of.len, 0);
	assert_collector_accepts(e);
	pinshim__event__free_unpacked(e, NULL);
	event_free(ev);
}

static void pack_carries_both_chains_with_serials_and_der(void **state)
{
	struct event *ev = make_event();
	Pinshim__Event *e = pack_unpack(ev);

	(void)state;
	assert_int_equal(e->n_served_chain, 2);
	assert_int_equal(e->served_total, 2);
	assert_cert(e->served_chain[0], sk_X509_value(served_sk, 0), 0,
		    "CN=leaf.test", "CN=Test Intermediate");
	assert_string_equal(e->served_chain[0]->serial, SERIAL_HEX);
	assert_cert(e->served_chain[1], sk_X509_value(served_sk, 1), 1,
		    "CN=Test Intermediate", "CN=Test Root");
	assert_string_equal(e->served_chain[1]->serial, "02");
	assert_int_equal(e->n_built_chain, 3);
	assert_int_equal(e->built_total, 3);
	assert_cert(e->built_chain[2], sk_X509_value(built_sk, 2), 2,
		    "CN=Test Root", "CN=Test Root");
	pinshim__event__free_unpacked(e, NULL);
	event_free(ev);
}

/* A ChainSeen as verify.c and the sender build it: references on the
 * handshake, completed without DER; its fingerprint is the counters'. */
static void chain_seen_names_the_counted_chain_without_der(void **state)
{
	struct chain_seen cs = { .host = "pinned.test" };
	static uint8_t id[WIRE_ID_LEN] = { 2 };
	Pinshim__ChainSeen *c, *cp[1];
	Pinshim__Batch b = PINSHIM__BATCH__INIT;
	Pinshim__Frame f = PINSHIM__FRAME__INIT;
	unsigned char sha1s[40], fp[32];
	size_t len, no_der = 0;
	char err[256] = "";
	uint8_t *buf;

	(void)state;
	chain_fingerprint(served_sk, cs.fp);
	for (int i = 0; i < 2; i++)
		X509_digest(sk_X509_value(served_sk, i), EVP_sha1(),
			    sha1s + 20 * i, NULL);
	SHA256(sha1s, sizeof(sha1s), fp);
	assert_memory_equal(cs.fp, fp, 32);
	chain_hold(served_sk, &cs.chain);
	chain_complete(&cs.chain, NULL, &no_der);
	buf = record_pack_chain(&cs, &len);
	assert_non_null(buf);
	c = pinshim__chain_seen__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(c);
	assert_int_equal(c->fingerprint.len, 32);
	assert_memory_equal(c->fingerprint.data, fp, 32);
	assert_string_equal(c->host, "pinned.test");
	assert_int_equal(c->total, 2);
	assert_int_equal(c->n_certs, 2);
	for (size_t i = 0; i < 2; i++) {
		X509 *x = sk_X509_value(served_sk, (int)i);
		char pin[PIN_STRLEN];
		unsigned char digest[32];

		assert_int_equal(c->certs[i]->position, i);
		spki_pin(x, pin);
		assert_string_equal(c->certs[i]->pin, pin);
		cert_sha256(x, digest);
		assert_memory_equal(c->certs[i]->sha256.data, digest, 32);
		assert_int_equal(c->certs[i]->der.len, 0);
	}
	assert_string_equal(c->certs[0]->subject, "CN=leaf.test");
	assert_string_equal(c->certs[1]->issuer, "CN=Test Root");
	b.id.data = id;
	b.id.len = sizeof(id);
	cp[0] = c;
	b.chains = cp;
	b.n_chains = 1;
	wire_frame_batch(&f, &b);
	if (!wire_validate(&f, err, sizeof(err)))
		fail_msg("collector would refuse the chain: %s", err);
	pinshim__chain_seen__free_unpacked(c, NULL);
	chain_release(&cs.chain);
}

static void assert_frame(const Pinshim__StackFrame *f, void *ip,
			 const char *module, const char *symbol,
			 uint64_t symbol_offset)
{
	Dl_info di;

	assert_true(dladdr(ip, &di) != 0);
	if (strstr(f->module, module) == NULL)
		fail_msg("frame module %s does not name %s", f->module, module);
	/* PIE and shared objects: load bias == the first mapping */
	assert_int_equal(f->offset, (uintptr_t)ip - (uintptr_t)di.dli_fbase);
	if (strstr(f->symbol, symbol) == NULL)
		fail_msg("frame symbol %s does not name %s", f->symbol, symbol);
	assert_int_equal(f->symbol_offset, symbol_offset);
	assert_true(is_hex(f->build_id, 40));
}

static void pack_names_module_build_id_offset_and_symbol(void **state)
{
	struct event *ev = make_event();
	Pinshim__Event *e = pack_unpack(ev);
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	exe[n > 0 ? n : 0] = '\0';
	assert_int_equal(e->n_stack, 3);
	assert_frame(e->stack[0], ev->stack.ip[0], exe, "telemetry_marker", 4);
	assert_string_equal(e->stack[0]->module, exe);
	assert_string_equal(e->stack[0]->build_id, context_process()->build_id);
	assert_frame(e->stack[1], ev->stack.ip[1], "libc.so.6", "getpid", 2);
	assert_frame(e->stack[2], ev->stack.ip[2], "libcmocka",
		     "_cmocka_run_group_tests", 3);
	pinshim__event__free_unpacked(e, NULL);
	event_free(ev);
}

static void pack_carries_platform_process_and_network(void **state)
{
	struct event *ev;
	Pinshim__Event *e;
	const struct platform_info *p = context_platform();
	const struct process_info *pr = context_process();
	const struct network_info *n;

	(void)state;
	context_network_refresh(0);
	n = context_network();
	ev = make_event();
	e = pack_unpack(ev);
	assert_string_equal(e->platform->os_id, p->os_id);
	assert_string_equal(e->platform->os_version, p->os_version);
	assert_string_equal(e->platform->os_name, p->os_name);
	assert_string_equal(e->platform->kernel, p->kernel);
	assert_string_equal(e->platform->arch, p->arch);
	assert_string_equal(e->platform->libssl_version, p->libssl_version);
	assert_string_equal(e->platform->host_id, p->host_id);
	assert_string_equal(e->platform->hostname, p->hostname);
	assert_string_equal(e->process->exe, pr->exe);
	assert_string_equal(e->process->build_id, pr->build_id);
	assert_string_equal(e->process->app_version, APP_VERSION);
	assert_string_equal(e->process->app_version_source, "env");
	assert_int_equal(e->process->pid, (uint32_t)getpid());
	assert_string_equal(e->process->argv0, argv0);
	assert_string_equal(e->network->label, NETWORK);
	assert_string_equal(e->network->fingerprint, n->fingerprint);
	assert_string_equal(e->network->gateway, n->gateway);
	assert_string_equal(e->network->subnet, n->subnet);
	assert_string_equal(e->network->local_address, n->local_address);
	assert_int_equal(e->network->n_resolvers, (size_t)n->nresolvers);
	for (int i = 0; i < n->nresolvers; i++)
		assert_string_equal(e->network->resolvers[i], n->resolvers[i]);
	assert_int_equal(e->network->n_proxy_vars, (size_t)n->nproxy);
	pinshim__event__free_unpacked(e, NULL);
	event_free(ev);
}

static void repeat_names_the_first_record_keeps_no_der(void **state)
{
	struct event *ev = make_event();
	struct timespec first = { 1800000000, 5000 }, last = { 1800000060, 0 };
	struct event *r = event_repeat(ev, 41, &first, &last);
	Pinshim__Event *e = pack_unpack(r);

	(void)state;
	assert_int_equal(e->count, 41);
	assert_int_equal(e->time_us, 1800000000LL * 1000000 + 5);
	assert_int_equal(e->last_time_us, 1800000060LL * 1000000);
	assert_int_equal(e->repeat_of.len, 16);
	assert_memory_equal(e->repeat_of.data, ev->id, 16);
	assert_memory_not_equal(e->id.data, ev->id, 16);
	assert_int_equal(e->n_served_chain, 2);
	assert_int_equal(e->served_chain[0]->der.len, 0);
	assert_string_equal(e->served_chain[0]->serial, SERIAL_HEX);
	pinshim__event__free_unpacked(e, NULL);
	event_free(r);
	event_free(ev);
}

/* Strings from the peer or the environment: cut to the wire's bound on a
 * character boundary, invalid UTF-8 and control bytes replaced. */
static void hostile_strings_are_bounded_and_made_valid(void **state)
{
	static char long_version[6000];
	struct event *ev = make_event();
	Pinshim__Event *e;
	json_object *o, *v;
	char *line;

	(void)state;
	memset(long_version, 'v', sizeof(long_version) - 3);
	/* an é straddling the bound */
	memcpy(long_version + WIRE_MAX_STRING - 1, "\xc3\xa9", 2);
	ev->tls_version = long_version;
	snprintf(ev->peer.host, sizeof(ev->peer.host),
		 "a\xff" "b\x01" "c\xc3\xa9\x1b[31m\xed\xa0\x80");
	e = pack_unpack(ev);
	assert_string_equal(e->host, "a?b?c\xc3\xa9?[31m???");
	assert_int_equal(strlen(e->tls_version), WIRE_MAX_STRING - 1);
	assert_collector_accepts(e);
	pinshim__event__free_unpacked(e, NULL);

	line = record_json(ev);
	assert_non_null(line);
	o = json_tokener_parse(line);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "host", &v));
	assert_string_equal(json_object_get_string(v), "a?b?c\xc3\xa9?[31m???");
	json_object_put(o);
	free(line);
	event_free(ev);
}

/* ---- record_json ---- */

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("JSON has no key %s", key);
	return v;
}

static const char *get_str(json_object *o, const char *key)
{
	return json_object_get_string(get(o, key));
}

static void json_line_has_every_key(void **state)
{
	static const char *const keys[] = {
		"id", "time", "kind", "decision", "host", "port", "peer",
		"mode", "policy_version", "expected_pins", "pinned",
		"pin_matched", "matched", "pin_expired", "verify_error",
		"verify_error_text", "tls_version", "served_chain",
		"served_total", "built_chain", "built_total", "pid", "exe",
		"message", "count", "last_time", "repeat_of", "platform",
		"process", "network", "stack",
	};
	struct event *ev = make_event();
	char *line = record_json(ev);
	json_object *o, *c, *f;
	char id[33];

	(void)state;
	assert_non_null(line);
	/* one line: its only newline ends it */
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	o = json_tokener_parse(line);
	assert_non_null(o);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		get(o, keys[i]);
	for (int i = 0; i < 16; i++)
		sprintf(id + 2 * i, "%02x", ev->id[i]);
	assert_string_equal(get_str(o, "id"), id);
	assert_string_equal(get_str(o, "kind"), "pin_mismatch");
	assert_string_equal(get_str(o, "decision"), "would_block");
	assert_string_equal(get_str(o, "matched"), "none");
	assert_int_equal(json_object_get_int(get(o, "count")), 1);
	assert_true(json_object_is_type(get(o, "repeat_of"), json_type_null));
	c = json_object_array_get_idx(get(o, "served_chain"), 0);
	assert_string_equal(get_str(c, "serial"), SERIAL_HEX);
	assert_string_equal(get_str(c, "subject"), "CN=leaf.test");
	assert_string_equal(get_str(c, "not_after"), "2027-01-15T08:00:00Z");
	assert_string_equal(get_str(get(o, "platform"), "os_id"),
			    context_platform()->os_id);
	assert_string_equal(get_str(get(o, "process"), "app_version"),
			    APP_VERSION);
	assert_string_equal(get_str(get(o, "process"), "app_version_source"),
			    "env");
	assert_true(json_object_is_type(get(get(o, "network"), "resolvers"),
					json_type_array));
	assert_true(json_object_is_type(get(get(o, "network"), "proxy_vars"),
					json_type_array));
	assert_int_equal(json_object_array_length(get(o, "stack")), 3);
	f = json_object_array_get_idx(get(o, "stack"), 1);
	assert_non_null(strstr(get_str(f, "module"), "libc.so.6"));
	assert_non_null(strstr(get_str(f, "symbol"), "getpid"));
	assert_true(is_hex(get_str(f, "build_id"), 40));
	assert_true(json_object_get_int64(get(f, "offset")) > 0);
	get(f, "symbol_offset");
	json_object_put(o);
	free(line);
	event_free(ev);
}

/* ---- context.c ---- */

static void os_release(const char *key, char *out, size_t len)
{
	FILE *f = fopen("/etc/os-release", "r");
	char line[512];
	size_t klen = strlen(key);

	out[0] = '\0';
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
			char *v = line + klen + 1;

			v[strcspn(v, "\n")] = '\0';
			if (*v == '"') {
				v++;
				v[strcspn(v, "\"")] = '\0';
			}
			snprintf(out, len, "%s", v);
		}
	fclose(f);
}

static void sha256_hex(const char *s, size_t len, char out[65])
{
	unsigned char md[32];

	SHA256((const unsigned char *)s, len, md);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void platform_is_this_machine(void **state)
{
	const struct platform_info *p = context_platform();
	struct utsname u;
	char want[256], id[128] = "pinshim:", hash[65];
	FILE *f;
	size_t n;

	(void)state;
	os_release("ID", want, sizeof(want));
	assert_string_equal(p->os_id, want);
	os_release("VERSION_ID", want, sizeof(want));
	assert_string_equal(p->os_version, want);
	os_release("PRETTY_NAME", want, sizeof(want));
	assert_string_equal(p->os_name, want);
	assert_int_equal(uname(&u), 0);
	assert_string_equal(p->kernel, u.release);
	assert_string_equal(p->arch, u.machine);
	assert_string_equal(p->libssl_version,
			    OpenSSL_version(OPENSSL_VERSION));
	gethostname(want, sizeof(want));
	assert_string_equal(p->hostname, want);
	f = fopen("/etc/machine-id", "r");
	if (f == NULL) {
		assert_string_equal(p->host_id, "");
		return;
	}
	n = fread(id + 8, 1, sizeof(id) - 9, f);
	fclose(f);
	while (n > 0 && isspace((unsigned char)id[8 + n - 1]))
		n--;
	sha256_hex(id, 8 + n, hash);
	assert_string_equal(p->host_id, hash);
}

static void process_is_this_program(void **state)
{
	const struct process_info *p = context_process();
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	exe[n > 0 ? n : 0] = '\0';
	assert_string_equal(p->exe, exe);
	assert_true(is_hex(p->build_id, 40));
	assert_string_equal(p->argv0, argv0);
	assert_string_equal(p->app_version, APP_VERSION);
	assert_string_equal(p->app_version_source, "env");
}

static void network_is_empty_before_the_first_refresh(void **state)
{
	const struct network_info *n = context_network();

	(void)state;
	assert_non_null(n);
	assert_string_equal(n->fingerprint, "");
	assert_string_equal(n->label, "");
}

/* The documented formula, recomputed from the snapshot's own fields. */
static void assert_fingerprint(const struct network_info *n)
{
	char text[1024], hash[65];
	int len = snprintf(text, sizeof(text), "gateway=%s\nsubnet=%s\n",
			   n->gateway, n->subnet);

	for (int i = 0; i < n->nresolvers; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len,
				"resolver=%s\n", n->resolvers[i]);
	sha256_hex(text, (size_t)len, hash);
	assert_string_equal(n->fingerprint, hash);
}

static bool has_proxy(const struct network_info *n, const char *name)
{
	for (int i = 0; i < n->nproxy; i++)
		if (strcmp(n->proxy_vars[i], name) == 0)
			return true;
	return false;
}

static void network_snapshots_stay_valid_and_are_reused(void **state)
{
	const struct network_info *first, *proxied;

	(void)state;
	assert_true(context_network_refresh(0));       /* "" → something */
	first = context_network();
	assert_string_equal(first->label, NETWORK);
	assert_true(is_hex(first->fingerprint, 64));
	assert_fingerprint(first);
	assert_false(context_network_refresh(0));
	assert_ptr_equal(context_network(), first);
	assert_false(context_network_refresh(3600));   /* fresh: not re-read */

	setenv("https_proxy", "http://user:secret@proxy.test:3128", 1);
	assert_false(context_network_refresh(0));      /* same fingerprint */
	proxied = context_network();
	assert_ptr_not_equal(proxied, first);
	assert_true(has_proxy(proxied, "https_proxy"));
	assert_false(has_proxy(first, "https_proxy"));  /* untouched */
	assert_string_equal(proxied->fingerprint, first->fingerprint);

	unsetenv("https_proxy");
	assert_false(context_network_refresh(0));
	assert_ptr_equal(context_network(), first);     /* reused */
}

static void network_reads_the_kernel_routes(void **state)
{
	const struct network_info *n;
	FILE *f = fopen("/proc/net/route", "r");
	char line[256], ifname[32];
	unsigned long dest, gw, mask;
	unsigned flags;
	bool has_default = false;

	(void)state;
	context_network_refresh(0);
	n = context_network();
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%31s %lx %lx %x %*d %*d %*d %lx", ifname,
			   &dest, &gw, &flags, &mask) == 5 &&
		    dest == 0 && mask == 0 && (flags & 3) == 3)
			has_default = true;
	if (f != NULL)
		fclose(f);
	if (!has_default)
		skip();
	assert_string_not_equal(n->gateway, "");
	assert_non_null(strchr(n->subnet, '/'));
	assert_string_not_equal(n->local_address, "");
}

/* An isolated network namespace: no default route, only a down loopback;
 * every field still defined. */
static void network_without_default_route_has_a_fingerprint(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	if (unshare(0) != 0)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const struct network_info *n;

		if (unshare(CLONE_NEWNET) != 0)
			_exit(77);
		unsetenv("PINSHIM_NETWORK");
		context_network_refresh(0);
		n = context_network();
		_exit(strcmp(n->gateway, "") != 0 ? 1
		      : strcmp(n->subnet, "") != 0 ? 2
		      : !is_hex(n->fingerprint, 64) ? 3
		      : strncmp(n->label, "net-", 4) != 0 ? 4
		      : strncmp(n->label + 4, n->fingerprint, 8) != 0 ? 5 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();   /* not allowed to make a network namespace */
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- stack.c ---- */

static __attribute__((noinline)) int capture_deep(struct stack_ips *s, int d)
{
	if (d > 0)
		return capture_deep(s, d - 1) + 1;
	stack_capture(s);
	return 0;
}

/* Here "the shim" is this test program (stack.c is linked into it): every
 * frame in it is left out, the callers outside it are kept. */
static void stack_capture_skips_the_shims_own_frames(void **state)
{
	struct stack_ips s;
	Dl_info self, di;
	bool cmocka = false;

	(void)state;
	capture_deep(&s, 5);
	assert_true(dladdr((void *)capture_deep, &self) != 0);
	assert_true(s.n > 0);
	assert_true(s.n <= STACK_MAX);
	for (int i = 0; i < s.n; i++) {
		assert_true(dladdr(s.ip[i], &di) != 0);
		assert_ptr_not_equal(di.dli_fbase, self.dli_fbase);
		if (strstr(di.dli_fname, "libcmocka") != NULL)
			cmocka = true;
	}
	assert_true(cmocka);
}

/* ---- setup ---- */

static int setup(void **state)
{
	X509 *leaf, *inter, *root;
	char pin[PIN_STRLEN];

	(void)state;
	OPENSSL_init_ssl(0, NULL);   /* libssl resident for ossl_resolve */
	if (!ossl_resolve())
		return -1;
	context_note_libssl();
	leaf = make_cert("leaf.test", "Test Intermediate",
			 0x0123456789ABCDEFULL);
	inter = make_cert("Test Intermediate", "Test Root", 2);
	root = make_cert("Test Root", "Test Root", 1);
	served_sk = sk_X509_new_null();
	built_sk = sk_X509_new_null();
	sk_X509_push(served_sk, leaf);
	sk_X509_push(served_sk, inter);
	sk_X509_push(built_sk, leaf);
	sk_X509_push(built_sk, inter);
	sk_X509_push(built_sk, root);
	X509_up_ref(leaf);
	X509_up_ref(inter);
	spki_pin(root, pin);
	pin_parse(pin, &expected[0]);
	pin_parse(PIN_B_TEXT, &expected[1]);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(network_is_empty_before_the_first_refresh),
		cmocka_unit_test(platform_is_this_machine),
		cmocka_unit_test(process_is_this_program),
		cmocka_unit_test(network_snapshots_stay_valid_and_are_reused),
		cmocka_unit_test(network_reads_the_kernel_routes),
		cmocka_unit_test(
			network_without_default_route_has_a_fingerprint),
		cmocka_unit_test(pack_carries_the_verdict_and_the_connection),
		cmocka_unit_test(pack_carries_both_chains_with_serials_and_der),
		cmocka_unit_test(chain_seen_names_the_counted_chain_without_der),
		cmocka_unit_test(pack_names_module_build_id_offset_and_symbol),
		cmocka_unit_test(pack_carries_platform_process_and_network),
		cmocka_unit_test(repeat_names_the_first_record_keeps_no_der),
		cmocka_unit_test(hostile_strings_are_bounded_and_made_valid),
		cmocka_unit_test(json_line_has_every_key),
		cmocka_unit_test(stack_capture_skips_the_shims_own_frames),
	};

	(void)argc;
	argv0 = argv[0];
	/* Read once per process, so set before the first look. */
	setenv("PINSHIM_APP_VERSION", APP_VERSION, 1);
	setenv("PINSHIM_NETWORK", NETWORK, 1);
	unsetenv("https_proxy");
	return cmocka_run_group_tests(tests, setup, NULL);
}
