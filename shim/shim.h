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
void shim_log(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- config.c: environment and policy, read once on first use ---- */
struct shim_config {
	const struct policy *policy; /* NULL when none could be read */
	bool policy_failed;          /* PINSHIM_POLICY unreadable/invalid */
	bool fail_closed;            /* PINSHIM_FAIL=closed */
	int mode_override;           /* PINSHIM_MODE: -1 or enum policy_mode */
	char policy_error[512];      /* "path:line: message" when failed */
};
/* Loads on the first call (thread-safe), then returns the same object. */
const struct shim_config *config_get(void);
enum policy_mode config_mode(const struct shim_config *c,
			     const struct policy_host *h);

/* ---- init (hooks.c): resolve OpenSSL, ex_data indexes, error strings ---- */
struct shim_state {
	int ctx_cb_idx;   /* SSL_CTX ex_data: the program's cert verify cb */
	int ctx_arg_idx;  /* ... and its argument */
	int sess_idx;     /* SSL_SESSION ex_data: pin check passed for host */
	int err_lib;      /* our library code in the OpenSSL error queue */
};
/* 1 when the shim is active (OpenSSL resolved), 0: pass everything through */
int shim_ready(void);
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
struct cert_info {
	struct pin spki;
	bool has_spki;               /* false: the key could not be encoded */
	unsigned char sha256[32];    /* of the certificate's DER */
	char subject[256];           /* RFC 2253, escaped, bounded */
	char issuer[256];
	char not_before[32];         /* RFC 3339, "" when unreadable */
	char not_after[32];
};
struct chain {
	size_t n;                    /* certificates kept (at most CHAIN_MAX) */
	size_t total;                /* certificates the peer sent / OpenSSL built */
	struct cert_info certs[CHAIN_MAX];
};
/* SPKI pins only (the success path); details adds the printable fields. */
void chain_read(STACK_OF(X509) *sk, struct chain *out, bool details);
bool chain_has_any(const struct chain *c, const struct pin *pins, size_t n);

/* ---- verify.c: the decision, as the cert verify callback of every ctx ---- */
int verify_cert_cb(X509_STORE_CTX *xs, void *unused);

/* ---- session.c: resumption without a certificate must not skip pins ---- */
void session_mark(SSL *s, const char *host);
/* Before a client handshake starts: drop a session that did not pass the
 * pin check for this host, so the handshake is a full one. */
void session_precheck(SSL *s);

/* ---- event.c: one record per verification failure or policy error ---- */
enum event_kind {
	EV_PIN_MISMATCH, EV_UNTRUSTED_ISSUER, EV_EXPIRED, EV_NOT_YET_VALID,
	EV_HOSTNAME_MISMATCH, EV_OTHER_VERIFY_ERROR, EV_POLICY_ERROR,
};
enum event_decision { EV_BLOCKED, EV_WOULD_BLOCK, EV_ALLOWED };

struct event {
	unsigned char id[16];        /* UUIDv7: time-ordered, then random */
	struct timespec time;
	enum event_kind kind;
	enum event_decision decision;
	struct peer peer;
	enum policy_mode mode;
	const char *policy_version;  /* owned by the policy (lives forever) */
	const struct pin *expected;  /* likewise */
	size_t nexpected;
	bool pinned, pin_matched, pin_expired;
	int verify_error;
	const char *tls_version;
	struct chain served, built;
	char message[512];
};
void event_init(struct event *ev, enum event_kind kind,
		enum event_decision decision);
enum event_kind event_kind_of_verify_error(int err);
const char *event_kind_name(enum event_kind k);
const char *event_decision_name(enum event_decision d);

/* ---- sink.c: where events go ---- */
void sink_emit(const struct event *ev);

#endif
