/* pinshim-collector: receives failure events and handshake counters from
 * pinshim's shims and stores them in SQLite (store/).  main only wires the
 * pieces (collector.h): options, the database, the listening socket, the
 * writer, a thread per sender, and the shutdown on SIGTERM / SIGINT: stop
 * accepting, let every connection ack what it has in flight, commit,
 * close the database, exit 0. */
#include "collector.h"
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

static const char usage[] =
	"usage: pinshim-collector [--listen HOST:PORT] [--db FILE]\n"
	"                         [--token-file FILE] [--max-connections N]\n"
	"                         [--sync normal|full] [--frame-timeout SEC]\n"
	"                         [--idle-timeout SEC]\n"
	"       pinshim-collector --stats [--json] [--db FILE]\n"
	"\n"
	"  --listen HOST:PORT     address to listen on (default "
	COLLECTOR_DEFAULT_LISTEN ");\n"
	"                         port 0 picks a free port; the first line on\n"
	"                         stdout is always \"listening on HOST:PORT\"\n"
	"  --db FILE              SQLite database, created if missing (default\n"
	"                         ./" COLLECTOR_DEFAULT_DB ")\n"
	"  --token-file FILE      senders must present this shared token;\n"
	"                         without it every sender is accepted\n"
	"  --max-connections N    senders served at once (default 256)\n"
	"  --sync normal|full     normal: an acked batch survives a collector\n"
	"                         crash; full: also a power loss (slower)\n"
	"  --frame-timeout SEC    time a sender has to finish a frame (10)\n"
	"  --idle-timeout SEC     time a sender may stay idle (300)\n"
	"  --stats                print the statistics stored in --db and exit\n"
	"  --json                 with --stats: as JSON\n";

enum { OPT_STATS = 256, OPT_JSON, OPT_SYNC, OPT_FRAME, OPT_IDLE, OPT_MAX };

static const struct option options[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "db", required_argument, NULL, 'd' },
	{ "token-file", required_argument, NULL, 't' },
	{ "max-connections", required_argument, NULL, OPT_MAX },
	{ "sync", required_argument, NULL, OPT_SYNC },
	{ "frame-timeout", required_argument, NULL, OPT_FRAME },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "pinshim-collector: %s %s\n%s", what, arg, usage);
	return 2;
}

/* Seconds (decimals allowed) as milliseconds; -1 when malformed. */
static int seconds_ms(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 86400)
		return -1;
	return (int)(v * 1000);
}

struct args {
	struct config cfg;
	bool stats, json;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	int opt;
	char *end;

	a->cfg = (struct config){
		.listen = COLLECTOR_DEFAULT_LISTEN,
		.db = COLLECTOR_DEFAULT_DB,
		.max_connections = 256,
		.frame_timeout_ms = 10000,
		.idle_timeout_ms = 300000,
		.sync = STORE_SYNC_NORMAL,
	};
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'l': a->cfg.listen = optarg; break;
		case 'd': a->cfg.db = optarg; break;
		case 't': a->cfg.token_file = optarg; break;
		case OPT_STATS: a->stats = true; break;
		case OPT_JSON: a->json = true; break;
		case OPT_MAX: {
			unsigned long n = strtoul(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || n == 0 ||
			    n > 100000)
				return bad_usage("--max-connections: expected "
						 "1..100000, not", optarg);
			a->cfg.max_connections = (unsigned)n;
			break;
		}
		case OPT_SYNC:
			if (strcmp(optarg, "normal") == 0)
				a->cfg.sync = STORE_SYNC_NORMAL;
			else if (strcmp(optarg, "full") == 0)
				a->cfg.sync = STORE_SYNC_FULL;
			else
				return bad_usage("--sync: expected normal or "
						 "full, not", optarg);
			break;
		case OPT_FRAME:
		case OPT_IDLE: {
			int ms = seconds_ms(optarg);

			if (ms <= 0)
				return bad_usage("timeout: expected seconds, "
						 "not", optarg);
			if (opt == OPT_FRAME)
				a->cfg.frame_timeout_ms = ms;
			else
				a->cfg.idle_timeout_ms = ms;
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument", argv[optind]);
	return -1;
}

/* SIGTERM and SIGINT arrive on a descriptor, in main's poll only. */
static int signals_fd(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static void accept_one(int lfd, const struct config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char address[64];
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
			log_line("accept: %s", strerror(errno));
			usleep(100 * 1000);   /* do not spin on it */
		}
		return;
	}
	listen_format_address((struct sockaddr *)&ss, address, sizeof(address));
	conn_start(fd, address, cfg);
}

/* Accepts until a signal comes. */
static void serve(int lfd, int sfd, const struct config *cfg)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = lfd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_line("poll: %s", strerror(errno));
			return;
		}
		if (p[1].revents & POLLIN)
			return;
		if (p[0].revents & POLLIN)
			accept_one(lfd, cfg);
	}
}

static int run(const struct config *cfg)
{
	char err[512], bound[80];
	struct store *s;
	int lfd, sfd;

	if (auth_load(cfg->token_file, err, sizeof(err)) < 0) {
		log_line("%s", err);
		return 1;
	}
	sfd = signals_fd();
	if (sfd < 0) {
		log_line("signals: %s", strerror(errno));
		return 1;
	}
	s = store_open(cfg->db, STORE_WRITE, cfg->sync, err, sizeof(err));
	if (s == NULL) {
		log_line("%s", err);
		return 1;
	}
	lfd = listen_open(cfg->listen, 128, bound, sizeof(bound), err,
			  sizeof(err));
	if (lfd < 0 || writer_start(s, err, sizeof(err)) < 0) {
		log_line("%s", err);
		store_close(s);
		return 1;
	}
	if (!auth_required())
		log_line("warning: no --token-file: every sender is accepted");
	printf("listening on %s\n", bound);
	fflush(stdout);
	serve(lfd, sfd, cfg);
	close(lfd);
	conn_stop_all();
	conn_wait_all();
	writer_stop();
	store_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	int rc = parse_args(argc, argv, &a);

	if (rc >= 0)
		return rc;
	if (a.stats)
		return stats_print(a.cfg.db, a.json);
	return run(&a.cfg);
}
