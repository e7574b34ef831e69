/* Which host a client SSL is talking to, as the program named it: the SNI it
 * sent, else the name it asked OpenSSL to check, else the peer's address.
 * That is the name the policy's pins are looked up by. */
#include "shim.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* The TCP socket this thread connected last.  Some programs (curl) hand
 * OpenSSL a BIO of their own with no socket behind it; their handshake
 * follows their connect() on the same thread, so that socket is the best
 * remaining witness of the peer. */
static __thread int last_connected_fd
	__attribute__((tls_model("initial-exec"))) = -1;

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
static _Atomic(connect_fn) real_connect;

/* Exported unversioned, so it binds to connect@GLIBC_*; it only notes the
 * descriptor (async-signal-safe, errno untouched). */
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
	if (sa != NULL && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
		last_connected_fd = fd;
	return fn(fd, sa, len);
}

/* The socket under the SSL's read BIO; else (memory BIOs, and BIOs of the
 * program's own, such as curl's) the socket this thread connected last. */
static int peer_fd(SSL *s)
{
	for (BIO *b = ossl.SSL_get_rbio(s); b != NULL; b = ossl.BIO_next(b)) {
		int fd = -1;

		/* Only trust the value when the BIO wrote one. */
		if (ossl.BIO_ctrl(b, BIO_C_GET_FD, 0, &fd) >= 0 && fd >= 0)
			return fd;
	}
	return last_connected_fd;
}

static void peer_address(SSL *s, struct peer *p)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = peer_fd(s);

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, p->addr, sizeof(p->addr));
		p->port = ntohs(in->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, p->addr, sizeof(p->addr));
		p->port = ntohs(in6->sin6_port);
	}
}

/* Lower case, no trailing dot: the policy stores names that way. */
static void host_copy(char *dst, size_t len, const char *src)
{
	size_t n = 0;

	for (; src[n] != '\0' && n + 1 < len; n++) {
		char c = src[n];

		dst[n] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	dst[n] = '\0';
	if (n > 0 && dst[n - 1] == '.')
		dst[n - 1] = '\0';
}

void peer_host(SSL *s, char *host, size_t len)
{
	const char *name = ossl.SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);

	if (name == NULL || *name == '\0')
		name = ossl.X509_VERIFY_PARAM_get0_host(ossl.SSL_get0_param(s), 0);
	host_copy(host, len, name != NULL ? name : "");
}

void peer_of(SSL *s, struct peer *out)
{
	memset(out, 0, sizeof(*out));
	peer_host(s, out->host, sizeof(out->host));
	peer_address(s, out);
	if (out->host[0] == '\0')
		snprintf(out->host, sizeof(out->host), "%s", out->addr);
}
