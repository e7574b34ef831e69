/* Where events go.  Today: PINSHIM_EVENTS_FILE, one JSON object per line,
 * appended with a single write(2) so concurrent writers (threads, forked
 * children, other processes) never interleave within a line.
 * The collector pipeline (queue, sender thread, spool) plugs in here. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void add_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

static json_object *pins_json(const struct pin *pins, size_t n)
{
	json_object *a = json_object_new_array();
	char text[PIN_STRLEN];

	for (size_t i = 0; i < n; i++) {
		pin_format(&pins[i], text);
		json_object_array_add(a, json_object_new_string(text));
	}
	return a;
}

static json_object *chain_json(const struct chain *c)
{
	json_object *a = json_object_new_array();
	char text[PIN_STRLEN], digest[65];

	for (size_t i = 0; i < c->n; i++) {
		const struct cert_info *ci = &c->certs[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "position", json_object_new_int((int)i));
		add_str(o, "subject", ci->subject);
		add_str(o, "issuer", ci->issuer);
		pin_format(&ci->spki, text);
		add_str(o, "pin", ci->has_spki ? text : "");
		hex(ci->sha256, sizeof(ci->sha256), digest);
		add_str(o, "sha256", digest);
		add_str(o, "not_before", ci->not_before);
		add_str(o, "not_after", ci->not_after);
		json_object_array_add(a, o);
	}
	return a;
}

static void time_text(const struct timespec *t, char *out, size_t len)
{
	struct tm tm;
	char base[32];

	gmtime_r(&t->tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03ldZ", base, t->tv_nsec / 1000000L);
}

static const char *exe_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static json_object *event_json(const struct event *ev)
{
	json_object *o = json_object_new_object();
	char id[33], when[48], exe[512];

	hex(ev->id, sizeof(ev->id), id);
	time_text(&ev->time, when, sizeof(when));
	add_str(o, "id", id);
	add_str(o, "time", when);
	add_str(o, "kind", event_kind_name(ev->kind));
	add_str(o, "decision", event_decision_name(ev->decision));
	add_str(o, "host", ev->peer.host);
	json_object_object_add(o, "port", json_object_new_int(ev->peer.port));
	add_str(o, "peer", ev->peer.addr);
	add_str(o, "mode", ev->mode == POLICY_ENFORCE ? "enforce" : "observe");
	add_str(o, "policy_version", ev->policy_version);
	json_object_object_add(o, "expected_pins",
			       pins_json(ev->expected, ev->nexpected));
	json_object_object_add(o, "pinned", json_object_new_boolean(ev->pinned));
	json_object_object_add(o, "pin_matched",
			       json_object_new_boolean(ev->pin_matched));
	json_object_object_add(o, "pin_expired",
			       json_object_new_boolean(ev->pin_expired));
	json_object_object_add(o, "verify_error",
			       json_object_new_int(ev->verify_error));
	add_str(o, "verify_error_text",
		shim_ready() ? ossl.X509_verify_cert_error_string(ev->verify_error)
			     : "");
	add_str(o, "tls_version", ev->tls_version);
	json_object_object_add(o, "served_chain", chain_json(&ev->served));
	json_object_object_add(o, "built_chain", chain_json(&ev->built));
	json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	add_str(o, "exe", exe_path(exe, sizeof(exe)));
	add_str(o, "message", ev->message);
	return o;
}

static void append_line(const char *path, const char *line, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0) {
		shim_log(LOG_ERROR, "cannot open PINSHIM_EVENTS_FILE %s: %s",
			 path, strerror(errno));
		return;
	}
	if (write(fd, line, len) != (ssize_t)len)
		shim_log(LOG_ERROR, "short write to PINSHIM_EVENTS_FILE %s",
			 path);
	close(fd);
}

void sink_emit(const struct event *ev)
{
	const char *path = getenv("PINSHIM_EVENTS_FILE");
	json_object *o;
	const char *text;
	char *line;
	size_t len;

	if (path == NULL || *path == '\0')
		return;
	o = event_json(ev);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(text);
	line = malloc(len + 1);
	if (line != NULL) {
		memcpy(line, text, len);
		line[len] = '\n';
		append_line(path, line, len + 1);
		free(line);
	}
	json_object_put(o);
}
