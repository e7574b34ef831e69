/* The simulated fleet behind bench/gen: hosts with their servers' chains
 * and pins, apps and their versions, networks, operating systems, and the
 * client processes that handshake with the hosts, with the causes of
 * DESIGN.md injected at known hosts.  Everything is drawn from one seed, so
 * two runs with the same options describe the same fleet (times are
 * relative to --now).
 *
 *   fleet_build      the world (real X.509 certificates: Ed25519 keys and
 *                    signatures are deterministic, so pins, SHA-1s and
 *                    SHA-256s repeat from run to run)
 *   fleet_handshake  what one handshake of a client with a host at a
 *                    moment serves and how it ends, as the shim sees it
 *   fleet_truth      the ground truth as JSON: host → cause, dimension,
 *                    value, with the handshakes the generator produced
 *
 * fleet.c builds and decides; fleet_cert.c makes the certificates. */
#ifndef PINSHIM_BENCH_FLEET_H
#define PINSHIM_BENCH_FLEET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pinshim.pb-c.h"

/* ---- the seeded random streams ------------------------------------------ */

/* splitmix64: a stream per (seed, purpose, index), so each client draws the
 * same numbers whichever sender thread simulates it. */
uint64_t rng_next(uint64_t *s);
uint64_t rng_stream(uint64_t seed, uint64_t purpose, uint64_t index);
double rng_unit(uint64_t *s);                  /* [0, 1) */
uint64_t rng_below(uint64_t *s, uint64_t n);   /* [0, n) */

/* ---- certificates and chains -------------------------------------------- */

struct fleet_cert {
	Pinshim__Cert pb;            /* with DER (position: its usual one) */
	Pinshim__Cert bare;          /* the same without DER (ChainSeen) */
	uint8_t sha1[20];            /* of the DER: the counters' chain key */
	const struct fleet_cert *issuer;       /* NULL for a root */
	int root;                    /* index of the root it chains to */
	void *key;                   /* EVP_PKEY, for issuing; NULL after */
};

/* A chain as a server serves it (leaf, intermediate) and as a client that
 * trusts its root builds it (+ root). */
struct fleet_chain {
	int id;                      /* index in fleet.chains */
	size_t nserved, nbuilt;
	Pinshim__Cert *served[3], *served_bare[3], *built[4], *built_bare[4];
	const struct fleet_cert *leaf, *intermediate, *root;
	uint8_t fp[32];              /* Counter.chain_fingerprint */
};

/* Makes the certificates of fleet_build (fleet_cert.c).  subject is
 * "C=..,O=..,CN=.." (any of them, in that order), dns the leaf's name or
 * NULL for a CA; issuer NULL makes it self-signed.  The key is drawn from
 * key_seed (the same seed, the same key: a re-issued certificate), the
 * serial from rng.  NULL with err set. */
struct fleet_cert *fleet_cert_new(const char *subject, const char *dns,
				  const struct fleet_cert *issuer,
				  int64_t not_before, int64_t not_after,
				  uint64_t key_seed, uint64_t *rng, char *err,
				  size_t errlen);
struct fleet_chain *fleet_chain_new(int id, const struct fleet_cert *leaf);
/* A random "sha256/…" pin of a key that is never deployed (a backup). */
void fleet_backup_pin(char out[64], uint64_t *rng);
void fleet_cert_free(struct fleet_cert *c);

/* ---- the world ----------------------------------------------------------- */

enum cause {
	CAUSE_NONE,                  /* healthy, or only background noise */
	CAUSE_ROLLOVER,
	CAUSE_INTERMEDIATE_CHANGE,
	CAUSE_INTERCEPTION,
	CAUSE_BACKEND_INCONSISTENCY,
	CAUSE_CLIENT_SPECIFIC,
	CAUSE_CLOCK_SKEW,
	CAUSE_EXPIRED,
	CAUSE_TRUST_STORE,
	CAUSE_COUNT,
};

const char *cause_name(enum cause c);

#define HOST_MAX_PEERS 4
#define HOST_MAX_LIST 4
#define MAX_ROOTS 64

struct fleet_host {
	char name[96];
	uint32_t port;
	int app;
	int npeers;
	char peer[HOST_MAX_PEERS][48];
	double weight;               /* within its app */
	bool enforce;
	bool quiet;                  /* designated healthy: not even noise */
	enum cause cause;
	const struct fleet_chain *chain;     /* served until change_at */
	const struct fleet_chain *next;      /* from change_at on (or NULL) */
	const struct fleet_chain *stale;     /* served by peer stale_peer */
	int stale_peer;
	int64_t change_at;
	char *pins[3];               /* the policy's pins for this host */
	size_t npins;
	char *alt_pins[3];           /* client_specific: what `versions` ship */
	size_t nalt_pins;
	int nversions, versions[HOST_MAX_LIST];   /* client_specific */
	const struct fleet_chain *forged[HOST_MAX_LIST];  /* per proxy */
};

struct fleet_version {
	int app;
	char name[24];
	double weight;               /* within its app */
	bool old_bundle;             /* CA bundle without the newest root */
	char build_id[41];
	char policy_version[32];
	Pinshim__StackFrame **stack;
	size_t nstack;
};

struct fleet_app {
	const char *name, *exe, *argv0, *lib;
	double share;                /* of the clients */
	int first_version, nversions;
	int *hosts, nhosts;
	double *cum;                 /* cumulative host weights */
	bool kiosk;                  /* its clients may have a wrong clock */
};

struct fleet_network {
	char label[48];
	char fingerprint[65];
	char gateway[40], subnet[48], resolver[40], local_prefix[32];
	int proxy;                   /* -1, or the intercepting proxy */
	bool proxy_trusted;          /* its clients trust the proxy's CA */
};

struct fleet_os {
	const char *id, *version, *name, *kernel, *libssl;
	double weight;
};

/* A client process: the unit that runs a shim and sends its records. */
struct fleet_client {
	int app, version, network, os;
	bool daemon;
	int32_t skew_s;              /* its clock minus the true time */
	int64_t start_ms, end_ms;    /* true time, Unix milliseconds */
	uint32_t handshakes;
};

struct fleet_opts {
	uint64_t seed;
	long long handshakes;
	int hosts, networks, versions, clients, per_cause;
	double days, noise;
	int64_t now;
};

struct fleet {
	struct fleet_opts o;
	int64_t start, end;          /* the simulated window, Unix seconds */
	struct fleet_cert **certs;
	size_t ncerts, certs_cap;
	struct fleet_chain **chains;
	size_t nchains, chains_cap;
	int nroots;
	uint64_t public_roots;       /* bit per root every bundle holds */
	int new_root;                /* missing from old bundles */
	struct fleet_host *hosts;
	int nhosts;
	struct fleet_app *apps;
	int napps;
	struct fleet_version *versions;
	int nversions;
	struct fleet_network *networks;
	int nnetworks;
	double *net_cum;
	int nproxies;
	int proxy_root[HOST_MAX_LIST];
	const struct fleet_os *oses;
	int noses;
	double *os_cum;
	struct fleet_client *clients;
	int nclients;
	const struct fleet_chain *noise_chain;   /* a captive portal's */
};

/* Builds the world; NULL with err set. */
struct fleet *fleet_build(const struct fleet_opts *o, char *err,
			  size_t errlen);
void fleet_free(struct fleet *f);

/* ---- one handshake ------------------------------------------------------- */

struct outcome {
	const struct fleet_chain *chain;     /* served */
	bool built;                  /* the client's store anchored it */
	bool failed;
	Pinshim__Kind kind;
	Pinshim__Decision decision;
	Pinshim__Matched matched;
	int verify_error;            /* X509_V_ERR_*, 0 when verification passed */
	char *const *pins;           /* the client's pins for the host */
	size_t npins;
};

/* A client's root store: a bit per root. */
uint64_t fleet_trust(const struct fleet *f, const struct fleet_client *c);

/* How a handshake of client c (trusting `trust`) with host h at peer p
 * at true time t ends; noise_draw in [0, 1) decides background noise. */
void fleet_handshake(const struct fleet *f, const struct fleet_client *c,
		     uint64_t trust, int h, int p, int64_t t,
		     double noise_draw, struct outcome *out);

/* Whether this handshake has the value that separates the host's failures
 * (the truth's dimension = value): the generator counts both sides. */
bool fleet_in_value(const struct fleet *f, const struct fleet_client *c,
		    int h, int p, int64_t t);

/* ---- the ground truth ----------------------------------------------------- */

/* Per host: handshakes [in value][failed] as generated. */
struct tally {
	uint64_t n[2][2];
};

/* Writes the truth JSON; 0, or -1 with errno. */
int fleet_truth(const struct fleet *f, const struct tally *t, FILE *out);

#endif
