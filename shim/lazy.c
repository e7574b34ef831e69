/* The libraries the core (libpinshim-core.so) uses beyond libc, each
 * opened when first needed.
 *
 * The core is opened on a process's first handshake, but most handshaking
 * processes never need most of these: json-c, protobuf-c and zlib serve
 * only delivery (the sender thread).  So the core
 * links none of them: its code calls json-c, protobuf-c and zlib
 * by their usual names, and the definitions it binds to are the hidden
 * trampolines below, which open the library (RTLD_LOCAL: it stays out of
 * the program's symbol scope) the first time one of its functions is
 * needed and jump to the real function.  libunwind is opened the same way
 * by stack.c.
 *
 * Programs that link these libraries (the CLI, the test drivers) use
 * lazy_linked.c instead of this file.
 *
 * A library that cannot be opened is reported once and stays unavailable;
 * its trampolines then return their function's failure value, and callers
 * that cannot live with that ask lazy_need() first. */
#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>
#include <zlib.h>

/* The generated protobuf code refers to this default for empty strings;
 * ours keeps defaults and their comparisons inside this library. */
const char protobuf_c_empty_string[] = "";

#define JSONC_FNS(X)                                                           \
	X(json_object_new_object) X(json_object_new_array)                     \
	X(json_object_new_string) X(json_object_new_int64)                     \
	X(json_object_new_boolean) X(json_object_object_add)                   \
	X(json_object_array_add) X(json_object_to_json_string_ext)             \
	X(json_object_put)
#define PROTOBUFC_FNS(X)                                                       \
	X(protobuf_c_message_get_packed_size) X(protobuf_c_message_pack)       \
	X(protobuf_c_message_pack_to_buffer) X(protobuf_c_message_unpack)      \
	X(protobuf_c_message_free_unpacked)
#define ZLIB_FNS(X) X(crc32)

#define MEMBER(name) __typeof__(&name) name;
static struct {
	JSONC_FNS(MEMBER)
	PROTOBUFC_FNS(MEMBER)
	ZLIB_FNS(MEMBER)
} real;
#undef MEMBER

struct lib {
	const char *soname;
	const char *const *names;    /* NULL-terminated */
	void **slots;                /* where each name's address goes */
	atomic_int state;            /* 0 not tried, 1 open, -1 unavailable */
};

#define NAME(name) #name,
#define SLOT(name) (void **)&real.name,
static const char *const jsonc_names[] = { JSONC_FNS(NAME) NULL };
static const char *const protobufc_names[] = { PROTOBUFC_FNS(NAME) NULL };
static const char *const zlib_names[] = { ZLIB_FNS(NAME) NULL };
static void *jsonc_slots[] = { JSONC_FNS(SLOT) };
static void *protobufc_slots[] = { PROTOBUFC_FNS(SLOT) };
static void *zlib_slots[] = { ZLIB_FNS(SLOT) };
#undef NAME
#undef SLOT

static struct lib libs[] = {
	[LAZY_JSONC] = { "libjson-c.so.5", jsonc_names, jsonc_slots, 0 },
	[LAZY_PROTOBUFC] = { "libprotobuf-c.so.1", protobufc_names,
			     protobufc_slots, 0 },
	[LAZY_ZLIB] = { "libz.so.1", zlib_names, zlib_slots, 0 },
};

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

/* 1 when every name was found; the slots are written before state says
 * so (release), and read only after (acquire). */
static int open_lib(struct lib *l)
{
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		shim_log(LOG_ERROR, "cannot load %s: %s", l->soname, dlerror());
		return -1;
	}
	for (size_t i = 0; l->names[i] != NULL; i++) {
		void **slot = (void **)l->slots[i];

		*slot = dlsym(h, l->names[i]);
		if (*slot == NULL) {
			shim_log(LOG_ERROR, "%s has no %s", l->soname,
				 l->names[i]);
			return -1;
		}
	}
	return 1;
}

bool lazy_need(enum lazy_lib which)
{
	struct lib *l = &libs[which];
	int st = atomic_load_explicit(&l->state, memory_order_acquire);

	if (st != 0)
		return st > 0;
	pthread_mutex_lock(&open_lock);
	st = atomic_load_explicit(&l->state, memory_order_relaxed);
	if (st == 0) {
		st = open_lib(l);
		atomic_store_explicit(&l->state, st, memory_order_release);
	}
	pthread_mutex_unlock(&open_lock);
	return st > 0;
}

/* One trampoline: the real function, or fail when its library is absent. */
#define TRAMPOLINE(lib, ret, name, params, args, fail)                         \
	ret name params                                                        \
	{                                                                      \
		if (!lazy_need(lib))                                           \
			return fail;                                           \
		return real.name args;                                         \
	}

TRAMPOLINE(LAZY_JSONC, struct json_object *, json_object_new_object, (void),
	   (), NULL)
TRAMPOLINE(LAZY_JSONC, struct json_object *, json_object_new_array, (void),
	   (), NULL)
TRAMPOLINE(LAZY_JSONC, struct json_object *, json_object_new_string,
	   (const char *s), (s), NULL)
TRAMPOLINE(LAZY_JSONC, struct json_object *, json_object_new_int64,
	   (int64_t i), (i), NULL)
TRAMPOLINE(LAZY_JSONC, struct json_object *, json_object_new_boolean,
	   (json_bool b), (b), NULL)
TRAMPOLINE(LAZY_JSONC, int, json_object_object_add,
	   (struct json_object *obj, const char *key, struct json_object *val),
	   (obj, key, val), -1)
TRAMPOLINE(LAZY_JSONC, int, json_object_array_add,
	   (struct json_object *obj, struct json_object *val), (obj, val), -1)
TRAMPOLINE(LAZY_JSONC, const char *, json_object_to_json_string_ext,
	   (struct json_object *obj, int flags), (obj, flags), NULL)
TRAMPOLINE(LAZY_JSONC, int, json_object_put, (struct json_object *obj),
	   (obj), 0)

TRAMPOLINE(LAZY_PROTOBUFC, size_t, protobuf_c_message_get_packed_size,
	   (const ProtobufCMessage *m), (m), 0)
TRAMPOLINE(LAZY_PROTOBUFC, size_t, protobuf_c_message_pack,
	   (const ProtobufCMessage *m, uint8_t *out), (m, out), 0)
TRAMPOLINE(LAZY_PROTOBUFC, size_t, protobuf_c_message_pack_to_buffer,
	   (const ProtobufCMessage *m, ProtobufCBuffer *buf), (m, buf), 0)
TRAMPOLINE(LAZY_PROTOBUFC, ProtobufCMessage *, protobuf_c_message_unpack,
	   (const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a,
	    size_t len, const uint8_t *data), (d, a, len, data), NULL)

void protobuf_c_message_free_unpacked(ProtobufCMessage *m,
				      ProtobufCAllocator *a)
{
	if (lazy_need(LAZY_PROTOBUFC))
		real.protobuf_c_message_free_unpacked(m, a);
}

TRAMPOLINE(LAZY_ZLIB, uLong, crc32, (uLong crc, const Bytef *buf, uInt len),
	   (crc, buf, len), 0)
