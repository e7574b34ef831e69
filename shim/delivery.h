/* Between the delivery files of the shim: queue.c (filled on the handshake
 * path), sender.c (the sender thread) and spool.c (batches on disk).  Only
 * the sender thread calls what is marked "sender". */
#ifndef PINSHIM_DELIVERY_H
#define PINSHIM_DELIVERY_H

#include <stdint.h>

#include "shim.h"

/* Where a queued record goes: PINSHIM_EVENTS_FILE, the collector, or both.
 * The events file gets every failure as its own line while the queue has
 * room (local debugging wants them all); the collector gets them coalesced. */
#define DEST_FILE 1u
#define DEST_WIRE 2u

struct qitem {
	struct event *ev;
	unsigned dest;
};

/* Coalescing: identical failures within this window after the first become
 * one repeat record, queued when the window closes (checked every second by
 * the sender) or at exit.  A retry loop therefore yields at most two records
 * per minute per distinct failure. */
#define COALESCE_WINDOW_S 60

/* Handover: what a process counted (handshakes, repeats of a failure) goes
 * to the sender HANDOVER_IDLE_MS after the last count, or HANDOVER_MAX_MS
 * after the first not yet handed over, whichever comes first, not only at
 * exit: a process that ends without exit (_exit in a forked worker, a
 * signal) loses at most that much. */
#define HANDOVER_IDLE_MS 1000
#define HANDOVER_MAX_MS 5000

/* Sender: up to max records, oldest first (records of closed windows before
 * queued events).  Ownership of the events passes to the caller. */
size_t queue_take(struct qitem *out, size_t max);
/* Queued and ready records (a hint: the sender sleeps when it is 0). */
size_t queue_depth(void);
/* Sender: closes the coalescing windows older than COALESCE_WINDOW_S, or all
 * of them, turning their tallies into records for queue_take; the repeats
 * of the windows left open are handed over as records when due (the
 * HANDOVER rule above, now_ms on CLOCK_MONOTONIC). */
void queue_close_windows(bool all, long long now_ms);
/* Sender: count failures of host that could neither be delivered nor
 * spooled; they come back as a record from queue_take after the window. */
void queue_fold(const char *host, int port, enum event_kind kind,
		enum event_decision decision, unsigned count,
		const struct timespec *first, const struct timespec *last);
/* Sender: one line at error level for each overflow seen since last time
 * (the handshake path does no I/O, so it only sets flags). */
void queue_report(void);

/* What a counter counts (queue_count's kinds): full handshakes that
 * passed or failed, and resumed ones, of which some resumed a session
 * whose full handshake had failed (observe mode lets those resume). */
struct counts {
	unsigned long long ok, failed, resumed, resumed_failed;
};

/* One hourly counter: the key and its deltas. */
struct counter_rec {
	long long hour;               /* Unix seconds of the hour's start */
	char host[256];
	int port;
	char addr[64];
	unsigned char chain_fp[32];
	const struct network_info *net; /* snapshot at the handshake */
	struct counts n;
};
/* Sender: the counters so far (malloc'd array, *n entries, NULL when none);
 * the table starts again from zero. */
struct counter_rec *queue_counters_take(size_t *n);
/* Counters are waiting in the table. */
bool queue_counters_waiting(void);
/* Counters are due for handover (the HANDOVER rule above). */
bool queue_counters_due(long long now_ms);
/* Sender: up to max chains queued by queue_chain_seen, oldest first
 * (ownership passes: chain_release, then free). */
size_t queue_chains_take(struct chain_seen **out, size_t max);
/* Sender: adds counters back (they could not be delivered nor spooled). */
void queue_counters_put(const struct counter_rec *r, size_t n);

/* fork: queue.c's part of the sender's pthread_atfork handlers. */
void queue_atfork_prepare(void);
void queue_atfork_parent(void);
void queue_atfork_child(void);

/* Wakes the sender thread if it sleeps (non-blocking eventfd write). */
void sender_wake(void);
/* Descriptors the sender thread holds open: a forked child closes them
 * (it runs no sender of its parent's).  Own after open, disown before
 * close, so a child can only leak one, never close someone else's. */
void sender_own_fd(int fd);
void sender_disown_fd(int fd);
/* Around a wait on the disk (fsync): lets a fork in meanwhile. */
void sender_io_begin(void);
void sender_io_end(void);

/* ---- batch.c: records packed into one Frame{batch} ---- */
#define BATCH_MAX_RECORDS 500
#define BATCH_MAX_BYTES (1u << 20)

struct sum {                          /* an event of a batch, for folding */
	char *host;
	int port;
	enum event_kind kind;
	enum event_decision decision;
	unsigned count;
	struct timespec first, last;
};

struct batch {
	struct batch *next;
	unsigned char id[16];
	uint8_t *buf;                     /* the allocation */
	uint8_t *frame;                   /* wire bytes (prefix + Frame) */
	size_t len;
	char *claim;                      /* replayed spool file, or NULL */
	struct sum *sums;                 /* what its records counted */
	size_t nsums;
	struct counter_rec *ctrs;
	size_t nctrs;
	unsigned char (*chains)[32];      /* its ChainSeen fingerprints */
	size_t nchains;
	long long written_at;             /* ms, 0 while not fully sent */
};

struct builder {                      /* the batch being filled */
	uint8_t *buf;
	size_t len, cap;
	size_t nrec;
	struct sum *sums;
	size_t nsums, sums_cap;
	struct counter_rec *ctrs;
	size_t nctrs, ctrs_cap;
	unsigned char (*chains)[32];
	size_t nchains, chains_cap;
	long long opened;                 /* CLOCK_MONOTONIC ms */
};

/* Packs ev (record_pack) into b; what cannot be packed (out of memory) is
 * folded back into the queue, so its count survives. */
void batch_add_event(struct builder *b, const struct event *ev);
/* A pinshim.Counter for r, or r back into the counter table. */
void batch_add_counter(struct builder *b, const struct counter_rec *r);
/* A pinshim.ChainSeen for a completed cs, or its fingerprint forgotten
 * (queue_chain_forget: a later handshake sends it). */
void batch_add_chain(struct builder *b, const struct chain_seen *cs);
/* BATCH_MAX_RECORDS, or BATCH_MAX_BYTES (half the collector's max_frame
 * when it announced a smaller one). */
bool batch_full(const struct builder *b, size_t max_frame);
/* The filled batch, framed; b starts over.  NULL when empty (or out of
 * memory: b keeps its records). */
struct batch *batch_seal(struct builder *b);
/* Its counts back into the queue (it can be neither sent nor spooled);
 * its chains' fingerprints forgotten, to be sent again later. */
void batch_fold_back(const struct batch *b);
void batch_free(struct batch *b);
void batch_builder_free(struct builder *b);

/* ---- spool.c: batches on disk, one Frame per file ----
 * File: "PSPOOL01", the frame's length (4 bytes, big-endian), its CRC-32
 * (4 bytes, big-endian), then the frame exactly as sent on the wire (length
 * prefix + Frame{batch}).  Written under a temporary name, fsync'ed, renamed
 * to <batch id>.batch; claimed by renaming to <id>.batch.claim.<pid>.<start>
 * while a process sends it, unlinked after the collector's Ack. */
#define SPOOL_MAX_BYTES (64u << 20)
#define SPOOL_MAX_FILES 10000

/* Sender: writes one frame.  0, or -1 (full, refused directory, I/O error:
 * logged once per outage). */
int spool_write(const unsigned char id[16], const uint8_t *frame, size_t len);
/* Sender: claims the oldest spooled batch (or one whose claimer died) and
 * reads it: 1 with *frame (malloc'd), *len, the batch id and *claim
 * (malloc'd path to pass to spool_done/spool_release), 0 when there is
 * none.  Torn files are logged and moved aside, never returned. */
int spool_claim(uint8_t **frame, size_t *len, unsigned char id[16],
		char **claim);
/* After the Ack: deletes the claimed file and frees claim. */
void spool_done(char *claim);
/* Not acked: gives the claimed file back for a later attempt, frees claim. */
void spool_release(char *claim);
/* Refused by the collector: moved aside as *.torn (logged), frees claim. */
void spool_reject(char *claim, const char *why);
/* Whether spool files may wait to be sent (a cheap hint, refreshed by
 * spool_claim and spool_write). */
bool spool_pending(void);
/* Re-reads the directory on the next spool_pending/spool_claim. */
void spool_rescan(void);
/* A new outage: the next write failure is logged again. */
void spool_new_outage(void);
/* The directory was refused (and that was logged). */
bool spool_refused(void);
/* Sender, after an Ack: the time of the last delivery, in the spool
 * directory's SPOOL_LAST_DELIVERY (Unix seconds and a newline), at most
 * every DELIVERY_NOTE_S, and only when the directory exists (`pinshim
 * status` reads it). */
#define SPOOL_LAST_DELIVERY "last-delivery"
#define DELIVERY_NOTE_S 60
void spool_note_delivery(void);

#endif
