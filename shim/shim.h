/* libpinshim.so internals: one prototype per line, grouped by file.
 * Read top-down: hooks.c (the exported wrappers) → verify.c (the decision)
 * → chain.c / peer (what is looked at) → event.c / sink.c (what is recorded).
 */
#ifndef PINSHIM_SHIM_H
#define PINSHIM_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ossl.h"
#include "pin.h"
#include "policy.h"

/* ---- log.c: PINSHIM_LOG, one-line "pinshim:" messages on stderr ---- */
enum log_level { LOG_OFF = 0, LOG_ERROR, LOG_INFO, LOG_DEBUG };
bool log_enabled(enum log_level level);
/* The level when PINSHIM_LOG does not set one (the policy's "log"). */
void log_set_default(enum log_level level);
void shim_log(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- lazy.c: the libraries beyond libc, opened on first use ---- */
enum lazy_lib { LAZY_JSONC, LAZY_PROTOBUFC, LAZY_ZLIB };
/* true when lib's functions can be called (opened now if need be; a library
 * that cannot be opened is logged once and stays unavailable). */
bool lazy_need(enum lazy_lib lib);

/* ---- config.c: environment and policy (see config.c) ---- */
/* Fixed for the process's life, from the environment and the policy it
 * started with. */
struct shim_settings {
	bool privileged;             /* AT_SECURE: no PINSHIM_* variable */
	const char *policy_path;     /* PINSHIM_POLICY, else the default */
	int mode_override;           /* PINSHIM_MODE: -1 or enum policy_mode */
	bool fail_closed;            /* PINSHIM_FAIL=closed */
	/* Delivery (sender.c): NULL when not configured. */
	const char *collector;       /* PINSHIM_COLLECTOR, else the policy's */
	const char *token_path;      /* the policy's token file */
	const char *spool_dir;       /* PINSHIM_SPOOL, the policy's, or NULL:
					the default (spool_dir.h) */
	const char *events_file;     /* PINSHIM_EVENTS_FILE */
};
/* Loads on the first call (thread-safe), then returns the same object. */
const struct shim_settings *config_settings(void);

/* The policy in force: immutable, held from config_acquire to
 * config_release (a reload replaces it for later acquires). */
struct shim_config {
	_Atomic int refs;
	const struct policy *policy; /* NULL when it could not be read */
	bool policy_failed;          /* unreadable/invalid */
	char policy_error[512];      /* "path:line: message" when failed */
};
/* Handshake path: at most one stat(2) a second, to see a changed file. */
const struct shim_config *config_acquire(void);
void config_release(const struct shim_config *c);
enum policy_mode config_mode(const struct shim_config *c,
			     const struct policy_host *h);

/* ---- core.c: the core's entry (front.h), its OpenSSL indexes ---- */
struct shim_state {
	int sess_idx;     /* SSL_SESSION ex_data: what its full handshake found */
	int ssl_idx;      /* SSL ex_data: its end was seen (session.c) */
	int err_lib;      /* our library code in the OpenSSL error queue */
};
extern struct shim_state shim;

/* ---- peer.c: which host and address a client SSL talks to ---- */
struct peer {
	char host[256];   /* SNI, else the verify hostname, else the address */
	char addr[64];    /* numeric peer address, "" when unknown */
	int port;         /* 0 when unknown */
};
/* The host only; the address too when it is all that names the host.  No
 * socket call when the program named the host: the success path. */
void peer_name(SSL *s, struct peer *out);
/* Fills addr and port unless already known (for events). */
void peer_address(SSL *s, struct peer *p);

/* ---- chain.c: certificates as pins and as printable details ---- */
#define CHAIN_MAX 10
#define EVENT_DER_BUDGET 32768  /* DER bytes kept per event, leaf first */
struct cert_info {
	struct pin spki;
	bool has_spki;               /* false: the key could not be encoded */
	unsigned char sha256[32];    /* of the certificate's DER */
	char subject[256];           /* RFC 2253, escaped, bounded */
	char issuer[256];
	char serial[80];             /* hex, upper case, "" when unreadable */
	char not_before[32];         /* RFC 3339, "" when unreadable */
	char not_after[32];
	long long not_before_s;      /* Unix seconds, 0 when unreadable */
	long long not_after_s;
	unsigned char *der;          /* malloc'd copy, NULL when over budget */
	size_t der_len;
	unsigned char sha1[20];      /* OpenSSL's cached digest: identity */
	X509 *held;                  /* a reference, until chain_complete */
};
struct chain {
	size_t n;                    /* certificates kept (at most CHAIN_MAX) */
	size_t total;                /* certificates the peer sent / OpenSSL built */
	struct cert_info certs[CHAIN_MAX];
};
/* SPKI pins only: the success path. */
void chain_read(STACK_OF(X509) *sk, struct chain *out);
/* Failure path, on the handshake thread: a reference to each certificate
 * and its cached SHA-1, nothing formatted.  chain_complete (the sender
 * thread) derives pins and details from the references and drops them. */
void chain_hold(STACK_OF(X509) *sk, struct chain *out);
void chain_complete(struct chain *c, const struct chain *done,
		    size_t *der_budget);
/* A copy that holds its own references (no DER). */
void chain_copy(struct chain *dst, const struct chain *src);
/* Frees the DER copies and drops held references. */
void chain_release(struct chain *c);
bool chain_has_any(const struct chain *c, const struct pin *pins, size_t n);
/* SHA-256 over the SHA-1s OpenSSL cached for each certificate of sk (no
 * re-encoding: cheap enough for every handshake).  Zeros for no chain. */
void chain_fingerprint(STACK_OF(X509) *sk, unsigned char out[32]);

/* ---- verify.c: the decision ---- */
/* A client handshake, once the program's own verification returned ok (0 or
 * 1): checks the pins, records, counts.  The cert verify callback's
 * result. */
int verify_decide(SSL *s, X509_STORE_CTX *xs, int ok);

/* ---- session.c: resumption, which has no certificate to check ---- */
/* After a full client handshake's decision: what the session's resumptions
 * may rely on (passed: no failure of verification or pins). */
void session_mark(SSL *s, const char *host, const struct policy_host *h,
		  bool passed);
/* Before a client handshake that would resume a session: in enforce mode,
 * drops a session that did not pass the pins now in force for this host,
 * so the handshake is a full one.  Observe mode leaves every session be. */
void session_before_resume(SSL *s);
/* After a client handshake ended: a resumption is counted (once). */
void session_handshake_done(SSL *s);

/* ---- stack.c: the handshake's call stack ---- */
#define STACK_MAX 48
struct stack_ips {
	int n;
	void *ip[STACK_MAX];         /* innermost first, the shim's own frames
	                                skipped */
};
/* Handshake path: instruction pointers only (libunwind, no I/O, no
 * symbol lookup).  Symbolised later by record_pack on the sender thread. */
void stack_capture(struct stack_ips *out);
/* Frames in the text around addr (the front) are the shim's too. */
void stack_skip_object(const void *addr);
/* Hex NT_GNU_BUILD_ID of a loaded object (from dl_iterate_phdr), read from
 * its PT_NOTE segments in memory (no file read); "" when it has none. */
struct dl_phdr_info;
void stack_build_id(const struct dl_phdr_info *info, char *out, size_t len);

/* ---- event.c: one record per verification failure or policy error ---- */
enum event_kind {
	EV_PIN_MISMATCH, EV_UNTRUSTED_ISSUER, EV_EXPIRED, EV_NOT_YET_VALID,
	EV_HOSTNAME_MISMATCH, EV_OTHER_VERIFY_ERROR, EV_POLICY_ERROR,
};
enum event_decision { EV_BLOCKED, EV_WOULD_BLOCK, EV_ALLOWED };
#define EVENT_PINS_MAX 16            /* expected pins an event names */
enum event_matched { EV_MATCHED_NONE, EV_MATCHED_SERVED, EV_MATCHED_BUILT };
struct network_info;

struct event {
	unsigned char id[16];        /* UUIDv7: time-ordered, then random */
	struct timespec time;
	enum event_kind kind;
	enum event_decision decision;
	struct peer peer;
	enum policy_mode mode;
	/* Copies: the policy may be reloaded before the event is sent. */
	char policy_version[128];
	struct pin expected[EVENT_PINS_MAX];
	size_t nexpected;
	bool pinned, pin_matched, pin_expired;
	enum event_matched matched;
	int verify_error;
	const char *verify_error_text; /* OpenSSL's static string, or "" */
	const char *tls_version;
	struct chain served, built;
	struct stack_ips stack;
	/* context_network() when the failure happened: the network may change
	 * before the event is sent (zeroed before the first refresh). */
	const struct network_info *network;
	char message[512];
	/* Coalescing (queue.c): count failures from time to last_time; a
	 * repeat record names the first record's id in repeat_of. */
	unsigned count;
	struct timespec last_time;
	bool is_repeat;
	unsigned char repeat_of[16];
};
/* A new heap event with id, time and count 1; NULL when out of memory. */
struct event *event_new(enum event_kind kind, enum event_decision decision);
/* A repeat record of ev standing for count more failures (same details,
 * new id, repeat_of = ev's id), or NULL. */
struct event *event_repeat(const struct event *ev, unsigned count,
			   const struct timespec *first,
			   const struct timespec *last);
void event_free(struct event *ev);
/* Sender thread: pins and printable details of held chains (idempotent).
 * Before record_pack/record_json. */
void event_complete(struct event *ev);
enum event_kind event_kind_of_verify_error(int err);
const char *event_kind_name(enum event_kind k);
const char *event_decision_name(enum event_decision d);
/* 16 fresh UUIDv7 bytes for t (events, counters, batches). */
void event_make_id(unsigned char id[16], const struct timespec *t);

/* ---- context.c: platform, process and network of this process ----
 * Gathered off the handshake path (the sender thread), cached. */
struct platform_info {
	char os_id[64], os_version[64], os_name[128];
	char kernel[128], arch[32], libssl_version[128];
	char host_id[65], hostname[256];
};
struct process_info {
	char exe[512], build_id[81], app_version[128], app_version_source[16];
	char argv0[256];
};
struct network_info {
	char label[128];
	char fingerprint[65];        /* hex SHA-256 */
	char gateway[64], subnet[64], local_address[64];
	char resolvers[4][64];
	int nresolvers;
	char proxy_vars[8][32];
	int nproxy;
};
/* Captures the libssl version string while OpenSSL is certainly alive: call
 * from the handshake path (cheap, no I/O). */
void context_note_libssl(void);
/* OpenSSL is resolved and not cleaned up yet (atexit order). */
bool context_openssl_alive(void);
/* Once, on the sender thread: platform and process. */
const struct platform_info *context_platform(void);
const struct process_info *context_process(void);
/* The network as of the last refresh: never NULL (zeroed before the first
 * refresh).  The returned snapshot stays valid for the process's life. */
const struct network_info *context_network(void);
/* Re-reads routes, addresses and resolvers when older than max_age_s
 * (sender thread).  Returns true when the fingerprint changed. */
bool context_network_refresh(int max_age_s);

/* ---- record.c: an event as protobuf (the wire) and as JSON (the events
 * file); sender thread only: fills platform/process/network and symbolises
 * the stack ---- */
#include <stdint.h>
/* Packed pinshim.Event, malloc'd; NULL when out of memory. */
uint8_t *record_pack(const struct event *ev, size_t *len);
/* One JSON object and a newline, malloc'd; NULL when out of memory. */
char *record_json(const struct event *ev);
/* Packed pinshim.ChainSeen of a completed chain (queue.c), malloc'd; NULL
 * when out of memory. */
struct chain_seen;
uint8_t *record_pack_chain(const struct chain_seen *cs, size_t *len);

/* ---- queue.c: events and counters waiting for the sender ----
 * Handshake path: no syscall that can block, bounded memory. */
/* Takes ownership of ev.  Coalesces identical failures (host, chain, error,
 * decision, network) within a window into one record with a count. */
void queue_event(struct event *ev);
/* One handshake's outcome for the hourly counters (a resumed one never
 * sees a chain of its own: chain_fp is its session's).  True when chain_fp is
 * new to this process: the caller then sends its chain (queue_chain_seen,
 * or queue_chain_forget when it cannot). */
enum count_kind { COUNT_OK, COUNT_FAILED, COUNT_RESUMED, COUNT_RESUMED_FAILED };
bool queue_count(const struct peer *p, const unsigned char chain_fp[32],
		 enum count_kind kind);
/* A served chain as its counters know it, sent once per process: held
 * references on the handshake path, completed by the sender thread
 * (pins, subjects, sha256; no DER). */
struct chain_seen {
	struct chain_seen *next;
	unsigned char fp[32];        /* chain_fingerprint */
	char host[256];
	struct chain chain;
};
/* Takes ownership of cs (freed at once when too many wait: its
 * fingerprint is then forgotten, to be sent on a later handshake). */
void queue_chain_seen(struct chain_seen *cs);
/* fp was not sent after all: a later handshake sends it. */
void queue_chain_forget(const unsigned char fp[32]);

/* ---- sender.c / spool.c: delivery (the sender thread) ---- */
/* Starts the sender thread if a collector or events file is configured and
 * it is not running in this process yet (first event or count). */
void sender_kick(void);
/* The process ends without exit (_exit): what the sender holds is handed
 * over as at exit, bounded the same way.  Only in the process whose
 * sender it is (not in a vfork child sharing its memory), and once. */
void sender_before_exit(void);

/* ---- sink.c: where events go ---- */
/* Takes ownership of ev (queue_event). */
void sink_emit(struct event *ev);

#endif
