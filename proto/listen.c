/* listen: see listen.h. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void listen_format_address(const struct sockaddr *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(out, len, "unknown");
	}
}

/* Splits "host:port" / "[v6]:port" in place. */
static int split(char *spec, char **host, char **port)
{
	char *colon;

	if (spec[0] == '[') {
		char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		*close = '\0';
		*host = spec + 1;
		*port = close + 2;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL)
			return -1;
		*colon = '\0';
		*host = spec;
		*port = colon + 1;
	}
	return **host != '\0' && **port != '\0' ? 0 : -1;
}

int listen_open(const char *spec, int backlog, char *bound, size_t boundlen,
		char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char *copy = strdup(spec), *host, *port;
	int fd = -1, one = 1, rc;

	if (copy == NULL || split(copy, &host, &port) < 0) {
		snprintf(err, errlen, "--listen %s: expected HOST:PORT", spec);
		goto out;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "--listen %s: %s", spec, gai_strerror(rc));
		goto out;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		snprintf(err, errlen, "listen on %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
		goto out;
	}
	listen_format_address((struct sockaddr *)&ss, bound, boundlen);
out:
	if (res != NULL)
		freeaddrinfo(res);
	free(copy);
	return fd;
}
