/* pinshim-collector's pieces and the narrow channels between them:
 *
 *   main.c     options, the file-descriptor limit, signals, start and stop
 *   loop.c     the one network thread: epoll over the listening socket and
 *              every connection, accept, timers, the writer's wake-ups; no
 *              thread per connection, so idle senders cost a few hundred
 *              bytes and no thread
 *   conn.c     one connection's bytes: frames read without blocking, the
 *              answers it still has to send, its deadlines, its end
 *   hello.c    before the token is checked: one small Hello frame, a short
 *              deadline, quotas of their own (sources.c), then Welcome
 *   session.c  after it: batch frames checked (store_prepare) and queued
 *              for the writer, acks in order, refusals after the acks
 *   sources.c  per sending address: unauthenticated connections, failed
 *              tokens, blocks, and the log lines about them in aggregate
 *   budget.c   the memory every frame in flight takes, shared, with a
 *              share per connection
 *   frame.c    one frame body decoded (store/batchview.proto) in an arena
 *   arena.c    the memory one decoded frame lives in
 *   writer.c   the one thread that owns the database: group commits, then
 *              hands each batch back to the loop, which acks it
 *   auth.c     the shared token, compared in constant time
 *   stats.c    the running numbers, and `--stats` printing them
 *   log.c      one line per problem on stderr, "pinshim-collector: ...",
 *              with a limit on how many a second
 *
 * A batch travels as a struct job: session.c reads and checks it and
 * queues it (writer_submit), writer.c stores it and hands it back
 * (loop_job_done), the loop thread marks it done and session.c sends its
 * Ack, in order, once every earlier batch of that connection is done.
 * Everything about a connection happens on the loop thread. */
#ifndef PINSHIM_COLLECTOR_H
#define PINSHIM_COLLECTOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "arena.h"
#include "store.h"
#include "wire.h"

#define COLLECTOR_DEFAULT_LISTEN "127.0.0.1:7410"
#define COLLECTOR_DEFAULT_DB "pinshim.db"
#define COLLECTOR_MAX_INFLIGHT 8      /* unacked batches per connection */
#define COLLECTOR_BUDGET (256u << 20) /* bytes of frames in flight, all */
/* What one connection may hold of the budget: a few whole frames. */
#define COLLECTOR_CONN_SHARE (4 * (size_t)WIRE_MAX_FRAME)

struct config {
	const char *listen;
	const char *db;
	const char *token_file;
	unsigned max_connections;     /* authenticated senders at once */
	unsigned max_unauthenticated; /* connections before their Hello */
	unsigned max_per_source;      /* of those, from one address */
	int hello_timeout_ms;   /* from accept to a valid Hello */
	int frame_timeout_ms;   /* to finish a frame once it started */
	int idle_timeout_ms;    /* between frames, nothing in flight */
	enum store_sync sync;
};

/* ---- log.c ---- */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_line for what a sender can cause: at most LOG_BURST lines at once
 * and LOG_RATE a second after that; what is held back is counted and said
 * in one line when lines are allowed again. */
#define LOG_BURST 100
#define LOG_RATE 10
void log_limited(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* What a sender said, fit for a log line: printable ASCII, the rest '?'. */
void log_printable(char *dst, size_t cap, const char *src);

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

/* ---- budget.c ---- */
/* Takes bytes of the shared budget if they fit: true, or false (nothing
 * taken).  Never waits: a connection that gets false waits in the loop,
 * under its frame deadline. */
bool budget_try(size_t bytes);
void budget_give(size_t bytes);
/* Changes each time bytes are given back (the loop retries waiting
 * connections when it moved). */
unsigned budget_generation(void);

/* ---- frame.c ---- */
/* One frame read, its decoded tree in its own arena. */
struct frame_in {
	Pinshim__View__Frame *msg;  /* store/batchview.proto */
	struct arena arena;
	size_t bytes;           /* of the memory budget its arena holds */
};

enum frame_kind { FRAME_HELLO, FRAME_ANY };

/* Decodes body (len bytes) into in.  FRAME_HELLO: before the token is
 * checked; a small arena of its own, nothing of the shared budget.
 * FRAME_ANY: the arena grows from the shared budget and fails when it is
 * spent.  0; -1 refused (err set); -2 the budget ran out (err set: try
 * again later).  A hello is checked against wire.h's bounds, a batch by
 * store_prepare.  Release with frame_release. */
int frame_decode(const uint8_t *body, size_t len, enum frame_kind kind,
		 struct frame_in *in, char *err, size_t errlen);
void frame_release(struct frame_in *in);
/* A buffer for a frame body of len bytes (recycled: large fresh buffers
 * fault in page by page), and its return. */
uint8_t *frame_body_get(size_t len, size_t *cap);
void frame_body_put(uint8_t *body, size_t cap);

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
	struct job *next;           /* the writer's queue, the loop's list */
	struct job *fifo;           /* the connection's, oldest first */
	struct conn *conn;
	struct frame_in frame;      /* a batch frame */
	struct store_event_keys *keys; /* per event, then chain (store_prepare) */
	struct store_origin origin;
	uint8_t batch_id[WIRE_ID_LEN];
	enum job_state state;       /* the writer's until loop_job_done */
	size_t held;                /* budget bytes its frame held */
	bool done;                  /* the loop's: back from the writer */
	struct store_result result;
	char err[256];
};

/* Starts the writer on s, which it owns from then on (it may reopen it,
 * with sync, see writer.c).  0, or -1 with err set. */
int writer_start(struct store *s, enum store_sync sync, char *err,
		 size_t errlen);
/* Queues job; it comes back through loop_job_done. */
void writer_submit(struct job *job);
/* Drains the queue, commits, stops the thread, closes the store. */
void writer_stop(void);

/* ---- main.c ---- */
/* The collector cannot go on (its database is gone): it stops as on
 * SIGTERM and exits with status 1. */
void collector_fail(void);

/* A list of connections (loop.c: by state; sources.c: per source), oldest
 * first, linked through one struct conn_link of each. */
struct conn_link {
	struct conn *prev, *next;
};
struct conn_list {
	struct conn *head, *tail;
	unsigned n;
};

/* ---- sources.c ---- */
struct source;
/* The record of the address in sa (port ignored), created on first use;
 * NULL when the table is full (the connection is refused). */
struct source *source_of(const struct sockaddr *sa);
/* A connection points at it (the record stays while one does). */
void source_hold(struct source *s);
void source_drop(struct source *s);
/* "1.2.3.4", "2001:db8::/64", "other addresses". */
const char *source_label(const struct source *s);
/* Connections from it are refused for now (too many failed tokens). */
bool source_blocked(const struct source *s, long long now_ms);
/* A Hello with a wrong token from it, already counted by source_problem
 * (blocks it after a burst). */
void source_auth_failed(struct source *s, long long now_ms);
/* Counts a pre-authentication problem (reason one of enum source_reason)
 * for the aggregated log: the first of each reason in a window is logged
 * at once (msg, naming the connection), the rest once when it ends. */
enum source_reason {
	SRC_AUTH_FAILED, SRC_BLOCKED, SRC_QUOTA, SRC_NO_HELLO, SRC_BAD_HELLO,
	SRC_REASONS
};
void source_problem(struct source *s, enum source_reason why,
		    long long now_ms, const char *msg);
/* Its unauthenticated connections, oldest first (loop.c keeps the list;
 * sprev/snext link them). */
struct conn_list *source_unauth(struct source *s);
/* Every second: the aggregated lines of ended windows, and records no
 * longer needed dropped. */
void sources_tick(long long now_ms);

/* ---- conn.c, hello.c, session.c: one connection (loop thread only) ---- */
enum conn_state {
	CONN_HELLO,       /* before the token is checked */
	CONN_READY,       /* authenticated: batches */
	CONN_CLOSING,     /* no more reads; waits for jobs, then the last
			     bytes, then closes */
};

struct conn {
	int fd;
	enum conn_state state;
	char address[64];
	char name[128];             /* Hello.sender, printable */
	struct source *source;
	long long born_ms;
	/* what is being read: the length prefix, then the body */
	uint8_t hdr[4];
	size_t hdr_got;
	uint8_t *body;
	size_t body_len, body_got, body_cap;
	size_t body_taken;          /* of it, taken from the budget */
	long long frame_deadline;   /* 0 between frames */
	long long idle_deadline;    /* 0 while batches are in flight */
	bool parked;                /* waiting for budget */
	/* what is still to be sent, and by when */
	uint8_t *out;
	size_t out_len, out_sent, out_cap;
	long long write_deadline;
	bool silent;                /* answers no more (its Error is queued) */
	bool shut;                  /* our side is shut: all was sent */
	bool eof;                   /* the peer's side is closed (or gone) */
	long long close_deadline;   /* shut: stop waiting for the peer */
	/* batches queued for the writer, oldest first */
	struct job *head, *tail;
	unsigned inflight;
	size_t held;                /* budget bytes its frames hold */
	/* a frame refused while earlier batches were in flight: their acks
	 * go first, then this Error (acks and errors answer in order) */
	char refusal[300];
	bool refusal_pending;
	bool refusal_transient;
	struct store_parts *parts;  /* parts this sender sent, checked */
	unsigned events;            /* EPOLL* bits registered */
	/* the loop's lists: every connection is in the one of its state;
	 * in CONN_HELLO also in its source's; parked ones in the park */
	struct conn_list *list;
	struct conn_link by_state, by_source, by_park;
	bool in_park;
	bool dead;                  /* retired: freed at the end of the turn */
};

/* conn.c */
/* A new connection on fd (non-blocking, accepted from sa), in
 * CONN_HELLO.  NULL when out of memory (fd is then the caller's). */
struct conn *conn_new(int fd, const struct sockaddr *sa, struct source *src);
/* Reads what the socket has (a few frames at most: then the others' turn);
 * frames go whole to hello_frame or session_frame. */
void conn_readable(struct conn *c);
/* Sends what is queued, as far as the socket takes it. */
void conn_writable(struct conn *c);
/* Queues a frame (and tries to send it at once); -1 when the connection
 * answers no more, or its queue is over its cap (it is then dropped). */
int conn_send(struct conn *c, const Pinshim__Frame *f);
/* Sends an Error and closes once it is out.  transient: the sender keeps
 * its batches and tries again later. */
void conn_refuse(struct conn *c, const char *msg, bool transient);
/* Starts closing: reads stop; its answers still go out. */
void conn_close(struct conn *c);
/* Closes without another byte (the peer left, broke the connection, or
 * is evicted). */
void conn_abort(struct conn *c);
/* One log line naming the connection (log_limited). */
void conn_say(const struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The hello, frame, idle, write and linger deadlines at now. */
void conn_check_deadlines(struct conn *c, long long now);
/* Closing, no job with the writer, nothing left to send or read. */
bool conn_finished(const struct conn *c);
void conn_free(struct conn *c);
/* The EPOLL* bits the connection wants now. */
unsigned conn_wanted_events(const struct conn *c);
/* Tries again to take room for a frame it waits for (parked). */
void conn_unpark(struct conn *c);

/* hello.c: before the token is checked */
void hello_frame(struct conn *c, struct frame_in *in);
/* A frame before the hello that cannot be read. */
void hello_refuse(struct conn *c, const char *msg);
/* The Hello deadline passed. */
void hello_timed_out(struct conn *c);

/* session.c: after it */
void session_frame(struct conn *c, struct frame_in *in);
/* A job of c is back from the writer: answers what can be answered. */
void session_job_done(struct conn *c, struct job *j);
/* Refuses the frame being read: at once when nothing is in flight, else
 * after the acks of the batches before it.  counter: what to count it as
 * (NULL: nothing).  When the collector is stopping: just closes. */
void session_refuse(struct conn *c, uint64_t *counter, const char *msg,
		    bool transient);
/* The collector stops: reads stop, what is in flight is acked. */
void session_stop(struct conn *c);

/* ---- loop.c ---- */
/* Starts the loop thread on the listening socket lfd.  0, or -1. */
int loop_start(int lfd, const struct config *cfg, char *err, size_t errlen);
/* The configuration it runs with. */
const struct config *loop_config(void);
/* Called by the writer (any thread) when job is stored or failed. */
void loop_job_done(struct job *job);
/* c said a valid Hello: it is CONN_READY and counts against
 * max_connections (true), or it is refused for their number (false). */
bool loop_authenticated(struct conn *c);
/* Stops accepting, lets every connection ack what is in flight, closes
 * them, returns when the loop thread has ended. */
void loop_stop(void);
/* Whether the collector is stopping (reads in progress are cut). */
bool loop_stopping(void);
long long loop_now_ms(void);

#endif
