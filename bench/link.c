/* link: see link.h. */
#include "link.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire.h"

int link_dial(const char *collector)
{
	char *host = strdup(collector), *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int fd = -1;

	if (host == NULL || (port = strrchr(host, ':')) == NULL)
		goto out;
	*port++ = '\0';
	if (getaddrinfo(host, port, &hints, &res) != 0)
		goto out;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
out:
	free(host);
	return fd;
}

int link_hello(int fd, const char *prog, const char *collector,
	       const char *token, const char *name)
{
	Pinshim__Hello h = PINSHIM__HELLO__INIT;
	Pinshim__Frame f, *in = NULL;
	char err[256] = "";

	h.protocol = WIRE_PROTOCOL;
	h.sender = (char *)name;
	if (token != NULL) {
		h.token.data = (uint8_t *)token;
		h.token.len = strlen(token);
	}
	wire_frame_hello(&f, &h);
	if (wire_send(fd, &f, 10000) < 0 ||
	    wire_read(fd, WIRE_MAX_FRAME, 10000, &in, err, sizeof(err)) <= 0) {
		fprintf(stderr, "%s: %s: hello: %s\n", prog, collector,
			err[0] ? err : "connection closed");
		return -1;
	}
	if (in->body_case != PINSHIM__FRAME__BODY_WELCOME) {
		fprintf(stderr, "%s: %s: hello refused: %s\n", prog, collector,
			in->body_case == PINSHIM__FRAME__BODY_ERROR
			? in->error->message : "?");
		wire_free(in);
		return -1;
	}
	wire_free(in);
	return 0;
}

size_t link_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return n;
}

void link_uuid7(uint8_t id[16], int64_t ms, uint64_t r1, uint64_t r2)
{
	for (int i = 0; i < 6; i++)
		id[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
	memcpy(id + 6, &r1, 2);
	memcpy(id + 8, &r2, 8);
	id[6] = 0x70 | (id[6] & 0x0f);
	id[8] = 0x80 | (id[8] & 0x3f);
}
