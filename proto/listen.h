/* listen: the TCP listening socket of pinshim-collector (--listen) and of
 * pinshim-view serve (--listen): one parser of "HOST:PORT" / "[V6]:PORT",
 * one way to print an address. */
#ifndef PINSHIM_LISTEN_H
#define PINSHIM_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/* "1.2.3.4:80" or "[::1]:80" ("unknown" for another family). */
void listen_format_address(const struct sockaddr *sa, char *out, size_t len);

/* A listening, close-on-exec socket on spec (port 0: any free port), the
 * address it got in bound.  -1 with err set ("--listen X: expected
 * HOST:PORT", "listen on X: Address already in use"). */
int listen_open(const char *spec, int backlog, char *bound, size_t boundlen,
		char *err, size_t errlen);

#endif
