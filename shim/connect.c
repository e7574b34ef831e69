/* The connect() witness (front).  Some programs (curl) hand OpenSSL a BIO
 * of their own with no socket behind it; their handshake follows their
 * connect() on the same thread, so the sockets that thread connected last
 * are the only remaining witnesses of the peer (peer.c decides what they
 * prove).  This wrapper runs in every process that connects anything, TLS
 * or not: it only notes the descriptor and where it went, in thread-local
 * memory, async-signal-safe and with errno untouched. */
#include "front.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

static __thread struct recent recent[RECENT_MAX]
	__attribute__((tls_model("initial-exec")));
static __thread unsigned recent_next __attribute__((tls_model("initial-exec")));

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
static _Atomic(connect_fn) real_connect;

static void note(int fd, const struct sockaddr *sa)
{
	struct recent *r = NULL;

	for (unsigned i = 0; i < RECENT_MAX && r == NULL; i++)
		if (recent[i].fd == fd + 1)
			r = &recent[i];
	if (r == NULL)
		r = &recent[recent_next++ % RECENT_MAX];
	r->fd = fd + 1;
	recent_destination(r, sa);
}

void connect_recent(struct recent out[RECENT_MAX])
{
	memcpy(out, recent, sizeof(recent));
}

/* Exported unversioned, so it binds to connect@GLIBC_* references. */
__attribute__((visibility("default")))
int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	connect_fn fn = atomic_load_explicit(&real_connect, memory_order_acquire);

	if (fn == NULL) {
		fn = (connect_fn)dlsym(RTLD_NEXT, "connect");
		if (fn == NULL || fn == connect) {
			errno = ENOSYS;
			return -1;
		}
		atomic_store_explicit(&real_connect, fn, memory_order_release);
	}
	if (sa != NULL && ((sa->sa_family == AF_INET &&
			    len >= (socklen_t)sizeof(struct sockaddr_in)) ||
			   (sa->sa_family == AF_INET6 &&
			    len >= (socklen_t)sizeof(struct sockaddr_in6))))
		note(fd, sa);
	return fn(fd, sa, len);
}
