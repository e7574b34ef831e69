/* Which host a client SSL is talking to, as the program named it: the SNI it
 * sent, else the name it asked OpenSSL to check, else the peer's address.
 * That is the name the policy's pins are looked up by. */
#include "shim.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* The socket under the SSL's read BIO, or -1 (memory BIOs, and BIOs of the
 * program's own, such as curl's, have none). */
static int peer_fd(SSL *s)
{
	for (BIO *b = ossl.SSL_get_rbio(s); b != NULL; b = ossl.BIO_next(b)) {
		int fd = -1;

		/* Only trust the value when the BIO wrote one. */
		if (ossl.BIO_ctrl(b, BIO_C_GET_FD, 0, &fd) >= 0 && fd >= 0)
			return fd;
	}
	return -1;
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
