/* Fuzz target: everything the collector does with bytes from the network
 * before they reach SQLite, and then SQLite too.
 *
 *   1. proto/wire.c: wire_unpack (protobuf unpack + wire_validate).
 *   2. collector/frame.c: the length prefix against the cap of each state
 *      (WIRE_MAX_HELLO before the token is checked, WIRE_MAX_FRAME after),
 *      then frame_decode as each state decodes (a small arena of its own
 *      before the hello; the shared budget after), hello bounds.
 *   3. store/prepare.c: store_prepare on every batch frame_decode returns,
 *      and the differential check: a frame wire_unpack accepts must be
 *      accepted by the store's view too, but for the two rules the store
 *      adds (a DER that is not its certificate, an absurd counter).  The
 *      view may accept more: a part repeated on the wire is merged by one
 *      decoder, replaced by the other.
 *   4. store/put.c: store_put_batch into an in-memory database.
 *
 * Built two ways (tests/fuzz/meson.build, scripts/fuzz.sh): with libFuzzer,
 * or with replay.c running the seeds in tests/fuzz/corpus/frame/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "store.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *db;
static struct store_parts *parts;
static unsigned long runs;

static void die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_frame: %s: %s\n", what, err);
	abort();
}

static void setup(void)
{
	char err[512];

	if (db != NULL && ++runs % 20000 != 0)
		return;
	/* start over now and then: the in-memory database grows */
	store_close(db);
	store_parts_free(parts);
	db = store_open(":memory:", STORE_WRITE, STORE_SYNC_NORMAL, err,
			sizeof(err));
	parts = store_parts_new();
	if (db == NULL || parts == NULL)
		die("setup", err);
}

/* The bytes as the collector takes a frame in a connection of that kind:
 * 1 frame, -1 refused. */
static int take_frame(const uint8_t *data, size_t size, enum frame_kind kind,
		      struct frame_in *in)
{
	size_t len, limit = kind == FRAME_HELLO ? WIRE_MAX_HELLO
						 : WIRE_MAX_FRAME;
	char err[256];

	if (size < 4)
		return -1;
	len = (size_t)data[0] << 24 | (size_t)data[1] << 16 |
	      (size_t)data[2] << 8 | data[3];
	if (len > limit || len != size - 4)
		return -1;
	return frame_decode(data + 4, len, kind, in, err, sizeof(err)) == 0
	       ? 1 : -1;
}

static void store_batch(const Pinshim__View__Batch *b)
{
	struct store_event_keys *keys = calloc(b->n_events + b->n_chains + 1,
					       sizeof(*keys));
	struct store_origin o = { "127.0.0.1:1", "fuzz", 1 };
	struct store_result r;
	char err[512];
	int rc;

	if (keys == NULL)
		return;
	if (store_prepare(parts, b, keys, err, sizeof(err)) == 0) {
		if (store_begin(db, err, sizeof(err)) < 0)
			die("begin", err);
		rc = store_put_batch(db, b, keys, &o, &r, err, sizeof(err));
		/* -2: counters over a real count, summed across inputs */
		if (rc != 0 && !(rc == -2 && strstr(err, "not a real count")))
			die("put of a prepared batch", err);
		if (store_commit(db, err, sizeof(err)) < 0)
			die("commit", err);
	}
	free(keys);
}

/* The refusals store_prepare makes beyond wire_validate. */
static bool store_only_rule(const char *err)
{
	return strstr(err, "DER does not hash to its sha256") != NULL ||
	       strstr(err, "DER is not an X.509 certificate") != NULL ||
	       strstr(err, "a count over") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_in in;
	Pinshim__Frame *full;
	char err[512];
	bool full_ok, view_ok;
	int r;

	setup();
	/* the length prefix is the collector's business: skip it here */
	full = size >= 4 ? wire_unpack(data + 4, size - 4, err, sizeof(err))
			 : NULL;
	full_ok = full != NULL;
	if (take_frame(data, size, FRAME_HELLO, &in) == 1) {
		/* before the token: only a hello of at most WIRE_MAX_HELLO,
		 * decoded within its own small arena */
		if (size - 4 > WIRE_MAX_HELLO || in.bytes != 0)
			die("hello", "over its cap, or took from the budget");
		frame_release(&in);
	}
	r = take_frame(data, size, FRAME_ANY, &in);
	view_ok = r == 1;
	if (r == 1 && in.msg->body_case == PINSHIM__VIEW__FRAME__BODY_BATCH) {
		struct store_event_keys *k = calloc(in.msg->batch->n_events +
						    in.msg->batch->n_chains + 1,
						    sizeof(*k));

		view_ok = k != NULL && store_prepare(parts, in.msg->batch, k, err,
						     sizeof(err)) == 0;
		free(k);
		if (view_ok)
			store_batch(in.msg->batch);
	}
	/* same length prefix check, same bounds: the view must not refuse
	 * what the full decoder accepts (when the whole frame was read) */
	if (full_ok && !view_ok && !store_only_rule(err) && size >= 4 &&
	    ((size_t)data[0] << 24 | (size_t)data[1] << 16 |
	     (size_t)data[2] << 8 | data[3]) == size - 4 &&
	    full->body_case == PINSHIM__FRAME__BODY_BATCH)
		die("view refused a frame wire_unpack accepts", err);
	if (r == 1)
		frame_release(&in);
	wire_free(full);
	return 0;
}
