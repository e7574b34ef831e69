/* pinshim-collector's pieces and the narrow channels between them:
 *
 *   main.c    options, the listening socket, signals, clean shutdown
 *   conn.c    one thread per sender: hello and token, frames in, acks out;
 *             it also runs store_prepare (bounds, content keys) so the
 *             writer only looks up and inserts
 *   frame.c   reading one frame within a deadline and the collector's
 *             memory budget, decoded with store/batchview.proto
 *   arena.c   the memory one decoded frame lives in
 *   writer.c  the one thread that owns the database: group commits,
 *             then marks each batch done so its connection acks it
 *   auth.c    the shared token, compared in constant time
 *   stats.c   the running numbers, and `--stats` printing them
 *   log.c     one line per problem on stderr, "pinshim-collector: ..."
 *
 * A batch travels as a struct job: conn.c reads it and queues it
 * (writer_submit), writer.c stores it and marks it done, conn.c sends its
 * Ack, in order, once every earlier batch of that connection is done.  A
 * frame refused while batches are in flight is answered (Error, close)
 * after their Acks: the sender pairs answers with batches in order.
 */
#ifndef PINSHIM_COLLECTOR_H
#define PINSHIM_COLLECTOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "store.h"
#include "wire.h"

#define COLLECTOR_DEFAULT_LISTEN "127.0.0.1:7410"
#define COLLECTOR_DEFAULT_DB "pinshim.db"
#define COLLECTOR_MAX_INFLIGHT 8      /* unacked batches per connection */
#define COLLECTOR_BUDGET (256u << 20) /* bytes of frames in flight, all */

struct config {
	const char *listen;
	const char *db;
	const char *token_file;
	unsigned max_connections;
	int frame_timeout_ms;   /* to finish a frame once it started */
	int idle_timeout_ms;    /* between frames, nothing in flight */
	enum store_sync sync;
};

/* ---- log.c ---- */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- auth.c ---- */
/* Loads the token file (trailing whitespace is not part of the token).
 * path NULL: every sender is accepted.  0, or -1 with err set. */
int auth_load(const char *path, char *err, size_t errlen);
bool auth_required(void);
/* Constant time in the token's content. */
bool auth_check(const ProtobufCBinaryData *token);

/* ---- stats.c ---- */
/* The numbers since the database was created: loaded at start, updated
 * with atomics by every thread, written by the writer with each commit. */
extern struct store_stats stats;
void stats_add(uint64_t *field, uint64_t n);
void stats_snapshot(struct store_stats *out);
/* --stats: prints the numbers stored in db; exit status. */
int stats_print(const char *db, bool json);

/* ---- frame.c ---- */
/* One frame read, its decoded tree in its own arena. */
struct frame_in {
	Pinshim__View__Frame *msg;  /* store/batchview.proto */
	struct arena arena;
	size_t bytes;           /* of the memory budget it holds */
};

/* Reads the next frame (the caller saw the fd readable): 1 with in set
 * (release it with frame_release), 0 clean end of stream between frames,
 * -1 refused or broken, -2 timed out inside the frame; err set.  A hello is checked against wire.h's bounds; a
 * batch is checked by store_prepare. */
int frame_read(int fd, int timeout_ms, struct frame_in *in, char *err,
	       size_t errlen);
void frame_release(struct frame_in *in);

int64_t now_us(void);

/* ---- writer.c ---- */
enum job_state {
	JOB_QUEUED,
	JOB_STORED,       /* committed: ack it */
	JOB_REFUSED,      /* its content was refused: error, close */
	JOB_FAILED,       /* the database failed: error, close */
};

struct conn;

struct job {
	struct job *next;           /* the writer's queue */
	struct job *fifo;           /* the connection's, oldest first */
	struct conn *conn;
	struct frame_in frame;      /* a batch frame */
	struct store_event_keys *keys; /* per event, then chain (store_prepare) */
	int64_t received_us;
	uint8_t batch_id[WIRE_ID_LEN];
	enum job_state state;       /* the writer's until conn_job_done */
	bool done;                  /* under the connection's lock */
	struct store_result result;
	char err[256];
};

/* Starts the writer on s.  0, or -1 with err set. */
int writer_start(struct store *s, char *err, size_t errlen);
/* Queues job; its connection is woken (conn_job_done) when it is done. */
void writer_submit(struct job *job);
/* Drains the queue, commits, stops the thread. */
void writer_stop(void);

/* The memory budget: blocks until bytes fit (a frame over the whole
 * budget is refused earlier, by its length). */
void budget_take(size_t bytes);
/* Accounts bytes already spent (the budget may overshoot by them). */
void budget_take_over(size_t bytes);
void budget_give(size_t bytes);

/* ---- conn.c ---- */
/* Starts a thread serving fd (accepted from address).  -1 when the
 * thread cannot be started (fd is then closed). */
int conn_start(int fd, const char *address, const struct config *cfg);
/* The writer's view of a connection: who it is. */
const char *conn_address(const struct conn *c);
const char *conn_name(const struct conn *c);
/* Called by the writer when job (state set) is done: wakes its
 * connection, which acks it and frees it. */
void conn_job_done(struct job *job);
/* Live connections, and the shutdown: stop reading, ack what is in
 * flight, close.  conn_wait_all returns when none is left. */
unsigned conn_count(void);
void conn_stop_all(void);
void conn_wait_all(void);

#endif
