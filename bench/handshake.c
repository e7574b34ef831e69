/* bench/handshake: N sequential full TLS handshakes against HOST:PORT on
 * 127.0.0.1, timed inside the process (so process start-up is not counted).
 * Prints one line: "handshakes=N seconds=S rate=R maxrss_kb=K".
 * Run it with and without the shim preloaded: bench/handshake.py does,
 * interleaved, and reports the ratio. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int tcp_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* 0 on a completed handshake, -1 otherwise. */
static int one_handshake(SSL_CTX *ctx, const char *host, int port)
{
	SSL *s = SSL_new(ctx);
	int fd = tcp_connect(port), rc = -1;

	if (s == NULL || fd < 0)
		goto out;
	SSL_set_fd(s, fd);
	SSL_set_tlsext_host_name(s, host);
	SSL_set1_host(s, host);
	if (SSL_connect(s) == 1) {
		rc = 0;
		SSL_shutdown(s);
	}
out:
	if (rc != 0)
		ERR_print_errors_fp(stderr);
	SSL_free(s);
	if (fd >= 0)
		close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	SSL_CTX *ctx;
	double secs;
	int n, port;

	if (argc != 5) {
		fprintf(stderr, "usage: handshake HOST PORT CAFILE COUNT\n");
		return 2;
	}
	port = atoi(argv[2]);
	n = atoi(argv[4]);
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, argv[3], NULL) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* Full handshakes only: no session is ever offered. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		if (one_handshake(ctx, argv[1], port) != 0) {
			fprintf(stderr, "handshake %d failed\n", i);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	getrusage(RUSAGE_SELF, &ru);
	printf("handshakes=%d seconds=%.4f rate=%.1f maxrss_kb=%ld\n", n, secs,
	       (double)n / secs, ru.ru_maxrss);
	SSL_CTX_free(ctx);
	return 0;
}
