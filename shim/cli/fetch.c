/* The chain a live TLS server serves: TCP connect with a deadline, an
 * unverified handshake, the peer's certificates. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cli.h"

#define FETCH_TIMEOUT_MS 10000
#define HOST_MAX 256
#define PORT_MAX 16

struct target {
	char host[HOST_MAX];
	char port[PORT_MAX];
};

/* "host:port" or "[v6]:port" into t.  0 on success, -1 if malformed. */
static int split_target(const char *s, struct target *t)
{
	const char *colon = strrchr(s, ':'), *host = s;
	size_t hlen;

	if (colon == NULL || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) >= PORT_MAX)
		return -1;
	hlen = (size_t)(colon - s);
	if (s[0] == '[' && hlen >= 2 && s[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	} else if (memchr(s, ':', hlen) != NULL) {
		return -1; /* a bare IPv6 address: where does it end? */
	}
	if (hlen == 0 || hlen >= HOST_MAX)
		return -1;
	memcpy(t->host, host, hlen);
	t->host[hlen] = '\0';
	strcpy(t->port, colon + 1);
	return 0;
}

bool fetch_is_target(const char *target)
{
	struct target t;

	return split_target(target, &t) == 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits for a non-blocking connect until deadline.  0 or an errno. */
static int connect_wait(int fd, long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int rc, soerr = 0;

	do {
		long left = deadline - now_ms();

		rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
	} while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return ETIMEDOUT;
	if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return errno;
	return soerr;
}

/* One address: a connected, blocking socket whose reads and writes give up
 * at the deadline, or -1 with *e set. */
static int connect_one(const struct addrinfo *ai, long deadline, int *e)
{
	int fd = socket(ai->ai_family,
			ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	long left;
	struct timeval tv;

	if (fd < 0) {
		*e = errno;
		return -1;
	}
	*e = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
	if (*e == EINPROGRESS)
		*e = connect_wait(fd, deadline);
	if (*e != 0 || fcntl(fd, F_SETFL, 0) < 0) {
		*e = *e != 0 ? *e : errno;
		close(fd);
		return -1;
	}
	left = deadline - now_ms();
	left = left > 0 ? left : 1;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Tries every address of t until one connects.  fd, or -1 with err. */
static int tcp_connect(const struct target *t, long deadline, char *err,
		       size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, e = ETIMEDOUT, rc;

	rc = getaddrinfo(t->host, t->port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", t->host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0 && now_ms() < deadline;
	     ai = ai->ai_next)
		fd = connect_one(ai, deadline, &e);
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot connect to %s port %s: %s",
			 t->host, t->port, strerror(e));
	return fd;
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

static STACK_OF(X509) *copy_chain(STACK_OF(X509) *chain)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	for (int i = 0; sk != NULL && i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		if (!X509_up_ref(x))
			goto fail;
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			goto fail;
		}
	}
	return sk;
fail:
	sk_X509_pop_free(sk, X509_free);
	return NULL;
}

static SSL_CTX *client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* Only certificates are read and nothing is sent: reach old servers
	 * too, whose chains are worth pinning as much as anyone's. */
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT);
	return ctx;
}

/* The handshake on fd; the served chain or NULL with err set. */
static STACK_OF(X509) *handshake(int fd, const struct target *t, char *err,
				 size_t errlen)
{
	SSL_CTX *ctx = client_ctx();
	SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;
	STACK_OF(X509) *chain = NULL;
	int e;

	if (ssl == NULL || !SSL_set_fd(ssl, fd) ||
	    (!is_ip_literal(t->host) && !SSL_set_tlsext_host_name(ssl, t->host))) {
		snprintf(err, errlen, "cannot set up TLS: %s",
			 certs_ossl_reason());
		goto out;
	}
	errno = 0;
	if (SSL_connect(ssl) != 1) {
		e = errno;
		snprintf(err, errlen, "TLS handshake with %s port %s failed: %s",
			 t->host, t->port,
			 ERR_peek_last_error() != 0
				 ? certs_ossl_reason()
				 : e == EAGAIN || e == EWOULDBLOCK ? "timed out"
				 : e != 0 ? strerror(e) : "connection closed");
		goto out;
	}
	chain = copy_chain(SSL_get_peer_cert_chain(ssl));
	if (chain == NULL || sk_X509_num(chain) == 0) {
		snprintf(err, errlen, "%s port %s served no certificate",
			 t->host, t->port);
		sk_X509_pop_free(chain, X509_free);
		chain = NULL;
	}
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return chain;
}

int fetch_chain(const char *target, STACK_OF(X509) **out, char *err,
		size_t errlen)
{
	long deadline = now_ms() + FETCH_TIMEOUT_MS;
	struct target t;
	int fd;

	if (split_target(target, &t) < 0) {
		snprintf(err, errlen, "%s: expected host:port", target);
		return -1;
	}
	fd = tcp_connect(&t, deadline, err, errlen);
	if (fd < 0)
		return -1;
	*out = handshake(fd, &t, err, errlen);
	close(fd);
	return *out != NULL ? 0 : -1;
}
