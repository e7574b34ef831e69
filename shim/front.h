/* The two halves of the shim and the one interface between them.
 *
 * libpinshim.so, the front, is what gets preloaded, machine-wide into every
 * process: the exported wrappers (hooks.c), the connect() witness
 * (connect.c), _exit (exit.c: a last handover of what was counted), the
 * program's own verification, and loader.c.  It NEEDs only
 * libc and holds little, because everything a preloaded library holds is
 * mapped and relocated in every process, the thousands that never open a
 * TLS connection included.
 *
 * libpinshim-core.so, the core, is everything else (policy, decision,
 * events, delivery).  The front opens it (RTLD_LOCAL, from its own
 * directory) on a process's first handshake, or when a client is about to
 * resume a session, and never before. */
#ifndef PINSHIM_FRONT_H
#define PINSHIM_FRONT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "ossl.h"

#define PINSHIM_CORE_FILE "libpinshim-core.so"
#define PINSHIM_CORE_ENTRY "pinshim_core_open"
/* Bumped whenever either struct below changes: a front and a core from
 * different builds refuse each other. */
#define PINSHIM_ABI 3

/* The TCP sockets a thread connected last, with where each went (connect.c
 * keeps them, peer.c reads them). */
#define RECENT_MAX 8
struct recent {
	int fd;                      /* fd + 1: zeroed means "none" */
	unsigned short port;         /* network order, as connect() got it */
	unsigned char addr[16];      /* 4 bytes for AF_INET */
	unsigned char family;
};

/* r's destination from an AF_INET / AF_INET6 sockaddr (connect.c notes
 * it, peer.c compares a socket's peer with it). */
static inline void recent_destination(struct recent *r,
				      const struct sockaddr *sa)
{
	memset(r->addr, 0, sizeof(r->addr));
	r->family = (unsigned char)sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		memcpy(r->addr, &in->sin_addr, 4);
		r->port = in->sin_port;
	} else {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		memcpy(r->addr, &in6->sin6_addr, 16);
		r->port = in6->sin6_port;
	}
}

/* What the front lends the core. */
struct pinshim_front {
	int abi;
	/* Copies the calling thread's recently connected sockets. */
	void (*recent)(struct recent out[RECENT_MAX]);
	/* An address inside the front's text (stack.c skips its frames). */
	const void *text;
};

/* What the core does for the front. */
struct pinshim_core {
	int abi;
	/* verify.c: a client handshake's decision, once the program's own
	 * verification returned ok (0 or 1); returns the callback's result. */
	int (*decide)(SSL *s, X509_STORE_CTX *xs, int ok);
	/* session.c: a client handshake with a session set is about to
	 * start. */
	void (*before_resume)(SSL *s);
	/* session.c: a client handshake just completed (resumed or not). */
	void (*handshake_done)(SSL *s);
	/* sender.c: the process ends without exit() (exit.c). */
	void (*before_exit)(void);
};

/* The core's only export.  NULL when f is from another build. */
const struct pinshim_core *pinshim_core_open(const struct pinshim_front *f);
typedef __typeof__(&pinshim_core_open) pinshim_core_open_fn;

/* ---- loader.c (front): the core, opened on first use ---- */
/* The core, or NULL when it cannot be opened (logged once). */
const struct pinshim_core *core_get(void);
/* The core if it is already open; never opens it. */
const struct pinshim_core *core_if_open(void);

/* ---- connect.c (front) ---- */
void connect_recent(struct recent out[RECENT_MAX]);

/* ---- core.c (core): the front that opened this core ---- */
extern const struct pinshim_front *front;

#endif
