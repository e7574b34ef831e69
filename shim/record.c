/* An event as the collector receives it (a packed pinshim.Event) and as the
 * events file shows it (one JSON line); a chain seen as a packed
 * pinshim.ChainSeen.  Sender thread, and the exit flush:
 * no OpenSSL here (libcrypto may be cleaned up by then), only what the event
 * holds and what context.c cached.
 *
 * Here, off the handshake path, the stack's instruction pointers become
 * module, build-id, offset and symbol, and every string is made fit to send:
 * cut to WIRE_MAX_STRING on a character boundary, invalid UTF-8 and control
 * bytes replaced by '?' (the collector refuses a frame that breaks a bound;
 * a viewer must not print a terminal escape from a hostile value). */
#include "shim.h"
#include "wire.h"

#include <dlfcn.h>
#include <json-c/json.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- memory of one record: every allocation freed together ---- */

struct arena {
	void **p;
	size_t n, cap;
	bool failed;
};

static void *arena_alloc(struct arena *a, size_t size)
{
	void *m;

	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		void **p = realloc(a->p, cap * sizeof(*p));

		if (p == NULL) {
			a->failed = true;
			return NULL;
		}
		a->p = p;
		a->cap = cap;
	}
	m = calloc(1, size ? size : 1);
	if (m == NULL) {
		a->failed = true;
		return NULL;
	}
	a->p[a->n++] = m;
	return m;
}

static void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
}

/* ---- strings fit to send ---- */

/* Length of the printable, well-formed UTF-8 character at s (at most n
 * bytes), 0 when the bytes are not one (control, overlong, surrogate,
 * beyond U+10FFFF, cut): the collector refuses strings of anything else. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
	if (s[0] < 0x20 || s[0] == 0x7f)
		return 0;
	return wire_utf8_char(s, n);
}

static bool clean(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return len <= WIRE_MAX_STRING;
}

/* s itself when it is printable ASCII within the bound (nearly always),
 * else a repaired copy in the arena.  NULL reads as "". */
static char *text(struct arena *a, const char *s)
{
	size_t len, o = 0;
	char *out;

	if (s == NULL)
		return (char *)"";
	len = strnlen(s, WIRE_MAX_STRING + 1);
	if (clean(s, len))
		return (char *)s;
	out = arena_alloc(a, WIRE_MAX_STRING + 1);
	if (out == NULL)
		return (char *)"";
	for (size_t i = 0; i < len;) {
		size_t c = utf8_char((const unsigned char *)s + i, len - i);

		if (o + (c ? c : 1) > WIRE_MAX_STRING)
			break;
		if (c == 0) {
			out[o++] = '?';
			i++;
		} else {
			memcpy(out + o, s + i, c);
			o += c;
			i += c;
		}
	}
	out[o] = '\0';
	return out;
}

/* text() that always copies: for strings that may not outlive the call
 * (a library's name or symbol table, after a dlclose). */
static char *keep(struct arena *a, const char *s)
{
	char *t = text(a, s), *copy;
	size_t len;

	if (t != s)
		return t;
	len = strlen(s);
	copy = arena_alloc(a, len + 1);
	if (copy == NULL)
		return (char *)"";
	memcpy(copy, s, len);
	return copy;
}

static char *hex(struct arena *a, const unsigned char *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *out = arena_alloc(a, 2 * n + 1);

	if (out == NULL)
		return (char *)"";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	return out;
}

/* "sha256/<base64>" without OpenSSL (pin_format needs it). */
static char *pin_text(struct arena *a, const struct pin *pin)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *d = pin->digest;
	char *out = arena_alloc(a, PIN_STRLEN), *o;
	size_t i;

	if (out == NULL)
		return (char *)"";
	memcpy(out, "sha256/", 7);
	o = out + 7;
	for (i = 0; i + 3 <= PIN_DIGEST_LEN; i += 3) {
		unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 |
			     d[i + 2];

		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	/* 32 = 10 * 3 + 2: two bytes left, one '=' */
	*o++ = b64[d[i] >> 2];
	*o++ = b64[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
	*o++ = b64[(d[i + 1] & 15) << 2];
	*o++ = '=';
	*o = '\0';
	return out;
}

static int64_t usec(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000 + t->tv_nsec / 1000;
}

/* ---- the stack, symbolised ---- */

struct frame {
	char *module, *build_id, *symbol;
	uint64_t offset, symbol_offset;
};

struct frames_walk {
	const struct stack_ips *ips;
	struct frame *out;
	struct arena *a;
	const char *exe;
	unsigned long long subs;     /* libraries unloaded so far */
};

/* For one loaded object: the frames whose address it maps. */
static int frames_in_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct frames_walk *w = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	char build_id[81] = "";

	w->subs = info->dlpi_subs;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	for (int i = 0; i < w->ips->n && i < STACK_MAX; i++) {
		uintptr_t ip = (uintptr_t)w->ips->ip[i];
		struct frame *f = &w->out[i];

		if (f->module != NULL || ip < lo || ip >= hi)
			continue;
		if (build_id[0] == '\0')
			stack_build_id(info, build_id, sizeof(build_id));
		/* The main program has no name in the loader's list. */
		f->module = keep(w->a, info->dlpi_name[0] != '\0'
					       ? info->dlpi_name : w->exe);
		f->build_id = keep(w->a, build_id);
		/* From the load bias: what addr2line -e module takes. */
		f->offset = ip - info->dlpi_addr;
	}
	return 0;
}

/* The symbols are the dynamic ones dladdr sees; a return address points
 * after its call, so the call's own byte is looked up. */
static void lookup_symbol(uintptr_t ip, const char **name, uint64_t *offset)
{
	Dl_info di;

	*name = NULL;
	*offset = 0;
	if (dladdr((void *)(ip - 1), &di) != 0 && di.dli_sname != NULL &&
	    di.dli_saddr != NULL) {
		*name = di.dli_sname;
		*offset = ip - (uintptr_t)di.dli_saddr;
	}
}

/* dladdr scans a library's whole symbol table (7 µs a frame in libc), and
 * a retry loop repeats its stack: symbols are kept per address until a
 * library is unloaded (dlpi_subs moves).  trylock: a lock held by a thread
 * that did not survive a fork is simply bypassed. */
#define SYMBOL_CACHE 512           /* the hash below keeps 9 bits */
static struct symbol_entry {
	uintptr_t ip;
	char *name;                  /* malloc'd, NULL: no symbol */
	uint64_t offset;
} symbol_cache[SYMBOL_CACHE];
static unsigned long long symbol_cache_subs;
static pthread_mutex_t symbol_lock = PTHREAD_MUTEX_INITIALIZER;

static void symbol_cache_flush(unsigned long long subs)
{
	for (size_t i = 0; i < SYMBOL_CACHE; i++) {
		free(symbol_cache[i].name);
		symbol_cache[i] = (struct symbol_entry){ 0 };
	}
	symbol_cache_subs = subs;
}

static void frame_symbol(struct arena *a, uintptr_t ip, unsigned long long subs,
			 struct frame *f)
{
	size_t slot = (size_t)((ip * 0x9e3779b97f4a7c15ULL) >> 55);
	struct symbol_entry *e = &symbol_cache[slot];
	const char *name;
	uint64_t offset;

	if (pthread_mutex_trylock(&symbol_lock) != 0) {
		lookup_symbol(ip, &name, &offset);
		f->symbol = keep(a, name);
		f->symbol_offset = offset;
		return;
	}
	if (subs != symbol_cache_subs)
		symbol_cache_flush(subs);
	if (e->ip != ip) {
		lookup_symbol(ip, &name, &offset);
		free(e->name);
		e->ip = ip;
		e->name = name != NULL ? strdup(name) : NULL;
		e->offset = e->name != NULL ? offset : 0;
	}
	f->symbol = keep(a, e->name);
	f->symbol_offset = e->offset;
	pthread_mutex_unlock(&symbol_lock);
}

static struct frame *symbolise(struct arena *a, const struct stack_ips *ips)
{
	struct frame *out = arena_alloc(a, sizeof(*out) * STACK_MAX);
	/* read before the walk: not while the loader's lock is held */
	struct frames_walk w = { ips, out, a, context_process()->exe, 0 };

	if (out == NULL)
		return NULL;
	dl_iterate_phdr(frames_in_object, &w);
	for (int i = 0; i < ips->n && i < STACK_MAX; i++) {
		if (out[i].module == NULL) {   /* unloaded since */
			out[i].module = out[i].build_id = (char *)"";
			out[i].offset = (uintptr_t)ips->ip[i];
		}
		frame_symbol(a, (uintptr_t)ips->ip[i], w.subs, &out[i]);
	}
	return out;
}

/* ---- context: the event's network, else the current one ---- */

static const struct network_info *event_network(const struct event *ev)
{
	if (ev->network != NULL && ev->network->fingerprint[0] != '\0')
		return ev->network;
	return context_network();
}

static const char *matched_name(enum event_matched m)
{
	return m == EV_MATCHED_SERVED ? "served"
	       : m == EV_MATCHED_BUILT ? "built" : "none";
}

/* ---- protobuf ---- */

static Pinshim__Cert **certs_pb(struct arena *a, const struct chain *c)
{
	Pinshim__Cert **v = arena_alloc(a, sizeof(*v) * CHAIN_MAX);

	for (size_t i = 0; v != NULL && i < c->n && i < WIRE_MAX_CHAIN; i++) {
		const struct cert_info *ci = &c->certs[i];
		Pinshim__Cert *pc = arena_alloc(a, sizeof(*pc));

		if (pc == NULL)
			return NULL;
		pinshim__cert__init(pc);
		pc->position = (uint32_t)i;
		pc->subject = text(a, ci->subject);
		pc->issuer = text(a, ci->issuer);
		pc->serial = text(a, ci->serial);
		pc->not_before = ci->not_before_s;
		pc->not_after = ci->not_after_s;
		pc->pin = ci->has_spki ? pin_text(a, &ci->spki) : (char *)"";
		pc->sha256.data = (uint8_t *)ci->sha256;
		pc->sha256.len = sizeof(ci->sha256);
		if (ci->der != NULL && ci->der_len <= WIRE_MAX_DER) {
			pc->der.data = ci->der;
			pc->der.len = ci->der_len;
		}
		v[i] = pc;
	}
	return v;
}

static Pinshim__Platform *platform_pb(struct arena *a)
{
	const struct platform_info *p = context_platform();
	Pinshim__Platform *pb = arena_alloc(a, sizeof(*pb));

	if (pb == NULL)
		return NULL;
	pinshim__platform__init(pb);
	pb->os_id = text(a, p->os_id);
	pb->os_version = text(a, p->os_version);
	pb->os_name = text(a, p->os_name);
	pb->kernel = text(a, p->kernel);
	pb->arch = text(a, p->arch);
	pb->libssl_version = text(a, p->libssl_version);
	pb->host_id = text(a, p->host_id);
	pb->hostname = text(a, p->hostname);
	return pb;
}

static Pinshim__Process *process_pb(struct arena *a)
{
	const struct process_info *p = context_process();
	Pinshim__Process *pb = arena_alloc(a, sizeof(*pb));

	if (pb == NULL)
		return NULL;
	pinshim__process__init(pb);
	pb->exe = text(a, p->exe);
	pb->build_id = text(a, p->build_id);
	pb->app_version = text(a, p->app_version);
	pb->app_version_source = text(a, p->app_version_source);
	pb->pid = (uint32_t)getpid();
	pb->argv0 = text(a, p->argv0);
	return pb;
}

/* n strings of a fixed-size array (the snapshot outlives the record). */
static char **strings_pb(struct arena *a, const char *first, size_t stride,
			 int n)
{
	char **v = arena_alloc(a, sizeof(*v) * (size_t)(n > 0 ? n : 1));

	for (int i = 0; v != NULL && i < n; i++)
		v[i] = text(a, first + (size_t)i * stride);
	return v;
}

static Pinshim__Network *network_pb(struct arena *a, const struct event *ev)
{
	const struct network_info *n = event_network(ev);
	Pinshim__Network *pb = arena_alloc(a, sizeof(*pb));

	if (pb == NULL)
		return NULL;
	pinshim__network__init(pb);
	pb->label = text(a, n->label);
	pb->fingerprint = text(a, n->fingerprint);
	pb->gateway = text(a, n->gateway);
	pb->subnet = text(a, n->subnet);
	pb->local_address = text(a, n->local_address);
	pb->resolvers = strings_pb(a, n->resolvers[0], sizeof(n->resolvers[0]),
				   n->nresolvers);
	pb->n_resolvers = pb->resolvers != NULL ? (size_t)n->nresolvers : 0;
	pb->proxy_vars = strings_pb(a, n->proxy_vars[0],
				    sizeof(n->proxy_vars[0]), n->nproxy);
	pb->n_proxy_vars = pb->proxy_vars != NULL ? (size_t)n->nproxy : 0;
	return pb;
}

static Pinshim__StackFrame **stack_pb(struct arena *a, const struct frame *f,
				      int n)
{
	Pinshim__StackFrame **v = arena_alloc(a, sizeof(*v) * STACK_MAX);

	for (int i = 0; v != NULL && f != NULL && i < n; i++) {
		Pinshim__StackFrame *pf = arena_alloc(a, sizeof(*pf));

		if (pf == NULL)
			return NULL;
		pinshim__stack_frame__init(pf);
		pf->module = f[i].module;
		pf->build_id = f[i].build_id;
		pf->offset = f[i].offset;
		pf->symbol = f[i].symbol;
		pf->symbol_offset = f[i].symbol_offset;
		v[i] = pf;
	}
	return v;
}

static void verdict_pb(Pinshim__Event *e, const struct event *ev)
{
	/* The proto's enums start at 1 where ours start at 0. */
	e->kind = (Pinshim__Kind)(ev->kind + 1);
	e->decision = (Pinshim__Decision)(ev->decision + 1);
	e->mode = ev->mode == POLICY_ENFORCE ? PINSHIM__MODE__ENFORCE
					     : PINSHIM__MODE__OBSERVE;
	e->matched = ev->matched == EV_MATCHED_SERVED
			     ? PINSHIM__MATCHED__MATCHED_SERVED
		     : ev->matched == EV_MATCHED_BUILT
			     ? PINSHIM__MATCHED__MATCHED_BUILT
			     : PINSHIM__MATCHED__MATCHED_NONE;
	e->pinned = ev->pinned;
	e->pin_expired = ev->pin_expired;
	e->verify_error = ev->verify_error;
}

static void chains_pb(struct arena *a, Pinshim__Event *e,
		      const struct event *ev)
{
	e->served_chain = certs_pb(a, &ev->served);
	e->n_served_chain = e->served_chain != NULL ? ev->served.n : 0;
	e->served_total = (uint32_t)ev->served.total;
	e->built_chain = certs_pb(a, &ev->built);
	e->n_built_chain = e->built_chain != NULL ? ev->built.n : 0;
	e->built_total = (uint32_t)ev->built.total;
}

static void fill_pb(struct arena *a, Pinshim__Event *e, const struct event *ev)
{
	size_t npins = ev->nexpected < WIRE_MAX_LIST ? ev->nexpected
						     : WIRE_MAX_LIST;
	int nframes = ev->stack.n < STACK_MAX ? ev->stack.n : STACK_MAX;

	e->id.data = (uint8_t *)ev->id;
	e->id.len = sizeof(ev->id);
	e->time_us = usec(&ev->time);
	verdict_pb(e, ev);
	e->host = text(a, ev->peer.host);
	e->port = ev->peer.port > 0 && ev->peer.port <= 65535
			  ? (uint32_t)ev->peer.port : 0;
	e->peer = text(a, ev->peer.addr);
	e->policy_version = text(a, ev->policy_version);
	e->expected_pins = arena_alloc(a, sizeof(char *) * (npins ? npins : 1));
	for (size_t i = 0; e->expected_pins != NULL && i < npins; i++)
		e->expected_pins[i] = pin_text(a, &ev->expected[i]);
	e->n_expected_pins = e->expected_pins != NULL ? npins : 0;
	e->verify_error_text = text(a, ev->verify_error_text);
	e->tls_version = text(a, ev->tls_version);
	e->message = text(a, ev->message);
	chains_pb(a, e, ev);
	e->platform = platform_pb(a);
	e->process = process_pb(a);
	e->network = network_pb(a, ev);
	e->stack = stack_pb(a, symbolise(a, &ev->stack), nframes);
	e->n_stack = e->stack != NULL ? (size_t)nframes : 0;
	e->count = ev->count;
	e->last_time_us = usec(&ev->last_time);
	if (ev->is_repeat) {
		e->repeat_of.data = (uint8_t *)ev->repeat_of;
		e->repeat_of.len = sizeof(ev->repeat_of);
	}
}

uint8_t *record_pack(const struct event *ev, size_t *len)
{
	Pinshim__Event e = PINSHIM__EVENT__INIT;
	struct arena a = { 0 };
	uint8_t *buf = NULL;

	*len = 0;
	fill_pb(&a, &e, ev);
	if (!a.failed) {
		size_t size = pinshim__event__get_packed_size(&e);

		buf = malloc(size ? size : 1);
		if (buf != NULL)
			*len = pinshim__event__pack(&e, buf);
	}
	arena_free(&a);
	return buf;
}

uint8_t *record_pack_chain(const struct chain_seen *cs, size_t *len)
{
	Pinshim__ChainSeen c = PINSHIM__CHAIN_SEEN__INIT;
	struct arena a = { 0 };
	uint8_t *buf = NULL;

	*len = 0;
	c.fingerprint.data = (uint8_t *)cs->fp;
	c.fingerprint.len = sizeof(cs->fp);
	c.host = text(&a, cs->host);
	c.certs = certs_pb(&a, &cs->chain);
	c.n_certs = c.certs != NULL ? cs->chain.n : 0;
	c.total = (uint32_t)cs->chain.total;
	if (!a.failed) {
		size_t size = pinshim__chain_seen__get_packed_size(&c);

		buf = malloc(size ? size : 1);
		if (buf != NULL)
			*len = pinshim__chain_seen__pack(&c, buf);
	}
	arena_free(&a);
	return buf;
}

/* ---- JSON (the events file) ---- */

static void add_str(struct arena *a, json_object *o, const char *key,
		    const char *v)
{
	json_object_object_add(o, key, json_object_new_string(text(a, v)));
}

static void add_int(json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

static void add_bool(json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

static void time_text(const struct timespec *t, char *out, size_t len)
{
	struct tm tm;
	char base[32];

	gmtime_r(&t->tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03ldZ", base, t->tv_nsec / 1000000L);
}

static json_object *chain_json(struct arena *a, const struct chain *c)
{
	json_object *v = json_object_new_array();

	for (size_t i = 0; i < c->n; i++) {
		const struct cert_info *ci = &c->certs[i];
		json_object *o = json_object_new_object();

		add_int(o, "position", (int64_t)i);
		add_str(a, o, "subject", ci->subject);
		add_str(a, o, "issuer", ci->issuer);
		add_str(a, o, "serial", ci->serial);
		add_str(a, o, "pin",
			ci->has_spki ? pin_text(a, &ci->spki) : "");
		add_str(a, o, "sha256", hex(a, ci->sha256, sizeof(ci->sha256)));
		add_str(a, o, "not_before", ci->not_before);
		add_str(a, o, "not_after", ci->not_after);
		json_object_array_add(v, o);
	}
	return v;
}

static json_object *strings_json(struct arena *a, const char *first,
				 size_t stride, int n)
{
	json_object *v = json_object_new_array();

	for (int i = 0; i < n; i++) {
		const char *s = text(a, first + (size_t)i * stride);

		json_object_array_add(v, json_object_new_string(s));
	}
	return v;
}

static json_object *platform_json(struct arena *a)
{
	const struct platform_info *p = context_platform();
	json_object *o = json_object_new_object();

	add_str(a, o, "os_id", p->os_id);
	add_str(a, o, "os_version", p->os_version);
	add_str(a, o, "os_name", p->os_name);
	add_str(a, o, "kernel", p->kernel);
	add_str(a, o, "arch", p->arch);
	add_str(a, o, "libssl_version", p->libssl_version);
	add_str(a, o, "host_id", p->host_id);
	add_str(a, o, "hostname", p->hostname);
	return o;
}

static json_object *process_json(struct arena *a)
{
	const struct process_info *p = context_process();
	json_object *o = json_object_new_object();

	add_str(a, o, "exe", p->exe);
	add_str(a, o, "build_id", p->build_id);
	add_str(a, o, "app_version", p->app_version);
	add_str(a, o, "app_version_source", p->app_version_source);
	add_int(o, "pid", getpid());
	add_str(a, o, "argv0", p->argv0);
	return o;
}

static json_object *network_json(struct arena *a, const struct event *ev)
{
	const struct network_info *n = event_network(ev);
	json_object *o = json_object_new_object();

	add_str(a, o, "label", n->label);
	add_str(a, o, "fingerprint", n->fingerprint);
	add_str(a, o, "gateway", n->gateway);
	add_str(a, o, "subnet", n->subnet);
	add_str(a, o, "local_address", n->local_address);
	json_object_object_add(o, "resolvers",
			       strings_json(a, n->resolvers[0],
					    sizeof(n->resolvers[0]),
					    n->nresolvers));
	json_object_object_add(o, "proxy_vars",
			       strings_json(a, n->proxy_vars[0],
					    sizeof(n->proxy_vars[0]),
					    n->nproxy));
	return o;
}

static json_object *stack_json(struct arena *a, const struct stack_ips *ips)
{
	json_object *v = json_object_new_array();
	const struct frame *f = symbolise(a, ips);

	for (int i = 0; f != NULL && i < ips->n && i < STACK_MAX; i++) {
		json_object *o = json_object_new_object();

		add_str(a, o, "module", f[i].module);
		add_str(a, o, "build_id", f[i].build_id);
		add_int(o, "offset", (int64_t)f[i].offset);
		add_str(a, o, "symbol", f[i].symbol);
		add_int(o, "symbol_offset", (int64_t)f[i].symbol_offset);
		json_object_array_add(v, o);
	}
	return v;
}

static json_object *pins_json(struct arena *a, const struct event *ev)
{
	json_object *v = json_object_new_array();

	for (size_t i = 0; i < ev->nexpected && i < WIRE_MAX_LIST; i++)
		json_object_array_add(v, json_object_new_string(
					      pin_text(a, &ev->expected[i])));
	return v;
}

static void verdict_json(struct arena *a, json_object *o,
			 const struct event *ev)
{
	add_str(a, o, "kind", event_kind_name(ev->kind));
	add_str(a, o, "decision", event_decision_name(ev->decision));
	add_str(a, o, "host", ev->peer.host);
	add_int(o, "port", ev->peer.port);
	add_str(a, o, "peer", ev->peer.addr);
	add_str(a, o, "mode",
		ev->mode == POLICY_ENFORCE ? "enforce" : "observe");
	add_str(a, o, "policy_version", ev->policy_version);
	json_object_object_add(o, "expected_pins", pins_json(a, ev));
	add_bool(o, "pinned", ev->pinned);
	add_bool(o, "pin_matched", ev->pin_matched);
	add_str(a, o, "matched", matched_name(ev->matched));
	add_bool(o, "pin_expired", ev->pin_expired);
	add_int(o, "verify_error", ev->verify_error);
	add_str(a, o, "verify_error_text", ev->verify_error_text);
	add_str(a, o, "tls_version", ev->tls_version);
	add_str(a, o, "message", ev->message);
}

static json_object *event_json(struct arena *a, const struct event *ev)
{
	json_object *o = json_object_new_object();
	char when[48];

	add_str(a, o, "id", hex(a, ev->id, sizeof(ev->id)));
	time_text(&ev->time, when, sizeof(when));
	add_str(a, o, "time", when);
	verdict_json(a, o, ev);
	json_object_object_add(o, "served_chain", chain_json(a, &ev->served));
	add_int(o, "served_total", (int64_t)ev->served.total);
	json_object_object_add(o, "built_chain", chain_json(a, &ev->built));
	add_int(o, "built_total", (int64_t)ev->built.total);
	add_int(o, "count", ev->count);
	time_text(&ev->last_time, when, sizeof(when));
	add_str(a, o, "last_time", when);
	json_object_object_add(o, "repeat_of", ev->is_repeat
		? json_object_new_string(hex(a, ev->repeat_of, 16)) : NULL);
	add_int(o, "pid", getpid());
	add_str(a, o, "exe", context_process()->exe);
	json_object_object_add(o, "platform", platform_json(a));
	json_object_object_add(o, "process", process_json(a));
	json_object_object_add(o, "network", network_json(a, ev));
	json_object_object_add(o, "stack", stack_json(a, &ev->stack));
	return o;
}

char *record_json(const struct event *ev)
{
	struct arena a = { 0 };
	json_object *o = event_json(&a, ev);
	const char *s = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = s != NULL ? strlen(s) : 0;
	char *line = s != NULL && !a.failed ? malloc(len + 2) : NULL;

	if (line != NULL) {
		memcpy(line, s, len);
		line[len] = '\n';
		line[len + 1] = '\0';
	}
	json_object_put(o);
	arena_free(&a);
	return line;
}
