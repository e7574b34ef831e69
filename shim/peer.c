/* Which host a client SSL is talking to, as the program named it: the SNI it
 * sent, else the name or address it asked OpenSSL to check, else the peer's
 * address.  That is the name the policy's pins are looked up by, so an
 * ambiguous guess of the address must never choose it (see recent_peer). */
#include "front.h"
#include "shim.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* The socket under the SSL's read BIO, or -1 (memory BIOs, and BIOs of the
 * program's own, such as curl's, have none). */
static int bio_fd(SSL *s)
{
	for (BIO *b = ossl.SSL_get_rbio(s); b != NULL; b = ossl.BIO_next(b)) {
		int fd = -1;

		/* Only trust the value when the BIO wrote one. */
		if (ossl.BIO_ctrl(b, BIO_C_GET_FD, 0, &fd) >= 0 && fd >= 0)
			return fd;
	}
	return -1;
}

/* The numeric address and port of a connected TCP socket: 0, or -1; -1
 * too when it does not lead to want's destination (want may be NULL). */
static int socket_peer(int fd, char *addr, size_t len, int *port,
		       const struct recent *want)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type = 0;
	socklen_t tl = sizeof(type);
	struct recent got;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
	    type != SOCK_STREAM ||
	    getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (want != NULL) {
		if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
			return -1;
		recent_destination(&got, (const struct sockaddr *)&ss);
		if (got.family != want->family || got.port != want->port ||
		    memcmp(got.addr, want->addr, sizeof(got.addr)) != 0)
			return -1;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)len);
		*port = ntohs(in->sin_port);
		return 0;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)len);
		*port = ntohs(in6->sin6_port);
		return 0;
	}
	return -1;
}

/* The peer of this thread's recently connected sockets, when they all (the
 * ones still connected) lead to one address and port; else nothing.  Event
 * loops (asyncio) connect many sockets before their memory-BIO handshakes,
 * and guessing among them would pick the wrong host's pins. */
static void recent_peer(struct peer *p)
{
	struct recent recent[RECENT_MAX];
	char addr[sizeof(p->addr)];
	int port, found = 0;

	front->recent(recent);
	for (unsigned i = 0; i < RECENT_MAX; i++) {
		if (recent[i].fd == 0 ||
		    socket_peer(recent[i].fd - 1, addr, sizeof(addr), &port,
				&recent[i]) != 0)
			continue;
		if (found && (port != p->port || strcmp(addr, p->addr) != 0)) {
			p->addr[0] = '\0';
			p->port = 0;
			return;
		}
		memcpy(p->addr, addr, sizeof(addr));
		p->port = port;
		found = 1;
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

static void named_host(SSL *s, char *host, size_t len)
{
	X509_VERIFY_PARAM *param = ossl.SSL_get0_param(s);
	const char *name = ossl.SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
	char *ip;

	if (name == NULL || *name == '\0')
		name = ossl.X509_VERIFY_PARAM_get0_host(param, 0);
	if (name != NULL && *name != '\0') {
		host_copy(host, len, name);
		return;
	}
	/* Python checks an IP literal this way, and sends no SNI for it. */
	ip = ossl.X509_VERIFY_PARAM_get1_ip_asc(param);
	host_copy(host, len, ip != NULL ? ip : "");
	ossl.CRYPTO_free(ip, __FILE__, __LINE__);
}

void peer_address(SSL *s, struct peer *p)
{
	int fd;

	if (p->addr[0] != '\0')
		return;
	fd = bio_fd(s);
	if (fd >= 0)
		socket_peer(fd, p->addr, sizeof(p->addr), &p->port, NULL);
	else
		recent_peer(p);
}

void peer_name(SSL *s, struct peer *out)
{
	memset(out, 0, sizeof(*out));
	named_host(s, out->host, sizeof(out->host));
	if (out->host[0] != '\0')
		return;
	peer_address(s, out);
	snprintf(out->host, sizeof(out->host), "%s", out->addr);
}
