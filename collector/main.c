/* pinshim-collector: receives failure events and handshake counters from
 * pinshim's shims and stores them in SQLite (store/).  main only wires the
 * pieces (collector.h): options, the descriptor limit, the database, the
 * listening socket, the writer, the network loop, and the shutdown on
 * SIGTERM / SIGINT: stop accepting, let every connection ack what it has
 * in flight, commit, close the database, exit 0. */
#include "collector.h"
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

static const char usage[] =
	"usage: pinshim-collector [--listen HOST:PORT] [--db FILE]\n"
	"                         [--token-file FILE] [--max-connections N]\n"
	"                         [--max-unauthenticated N] [--max-per-source N]\n"
	"                         [--sync normal|full] [--hello-timeout SEC]\n"
	"                         [--frame-timeout SEC] [--idle-timeout SEC]\n"
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
	"  --max-connections N    authenticated senders at once (default\n"
	"                         10000; lowered to fit RLIMIT_NOFILE)\n"
	"  --max-unauthenticated N  connections that have not yet sent a valid\n"
	"                         hello (default 1024): a new one over the\n"
	"                         limit closes the oldest\n"
	"  --max-per-source N     of those, from one address or IPv6 /64\n"
	"                         (default 128)\n"
	"  --sync normal|full     normal: an acked batch survives a collector\n"
	"                         crash; full: also a power loss (slower)\n"
	"  --hello-timeout SEC    time from connecting to a valid hello (2)\n"
	"  --frame-timeout SEC    time a sender has to finish a frame (10)\n"
	"  --idle-timeout SEC     time a sender may stay idle (300)\n"
	"  --stats                print the statistics stored in --db and exit\n"
	"  --json                 with --stats: as JSON\n";

enum { OPT_STATS = 256, OPT_JSON, OPT_SYNC, OPT_FRAME, OPT_IDLE, OPT_HELLO,
       OPT_MAX, OPT_UNAUTH, OPT_PER_SOURCE };

static const struct option options[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "db", required_argument, NULL, 'd' },
	{ "token-file", required_argument, NULL, 't' },
	{ "max-connections", required_argument, NULL, OPT_MAX },
	{ "max-unauthenticated", required_argument, NULL, OPT_UNAUTH },
	{ "max-per-source", required_argument, NULL, OPT_PER_SOURCE },
	{ "hello-timeout", required_argument, NULL, OPT_HELLO },
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

/* A count option, 1..1000000; 0 when malformed. */
static unsigned count_arg(const char *s)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || n == 0 || n > 1000000)
		return 0;
	return (unsigned)n;
}

static int set_count(unsigned *field, const char *name, const char *arg)
{
	char what[64];

	*field = count_arg(arg);
	if (*field != 0)
		return -1;
	snprintf(what, sizeof(what), "%s: expected 1..1000000, not", name);
	return bad_usage(what, arg);
}

static int parse_args(int argc, char **argv, struct args *a)
{
	int opt, rc;

	a->cfg = (struct config){
		.listen = COLLECTOR_DEFAULT_LISTEN,
		.db = COLLECTOR_DEFAULT_DB,
		.max_connections = 10000,
		.max_unauthenticated = 1024,
		.max_per_source = 128,
		.hello_timeout_ms = 2000,
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
		case OPT_MAX:
			if ((rc = set_count(&a->cfg.max_connections,
					    "--max-connections", optarg)) >= 0)
				return rc;
			break;
		case OPT_UNAUTH:
			if ((rc = set_count(&a->cfg.max_unauthenticated,
					    "--max-unauthenticated", optarg)) >= 0)
				return rc;
			break;
		case OPT_PER_SOURCE:
			if ((rc = set_count(&a->cfg.max_per_source,
					    "--max-per-source", optarg)) >= 0)
				return rc;
			break;
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
		case OPT_IDLE:
		case OPT_HELLO: {
			int ms = seconds_ms(optarg);

			if (ms <= 0)
				return bad_usage("timeout: expected seconds, "
						 "not", optarg);
			*(opt == OPT_FRAME ? &a->cfg.frame_timeout_ms
			  : opt == OPT_IDLE ? &a->cfg.idle_timeout_ms
			  : &a->cfg.hello_timeout_ms) = ms;
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

/* Descriptors the collector needs besides its connections: the database
 * and its WAL, the listening socket, epoll, eventfds, stdio, a spare. */
#define FD_RESERVE 64

/* Raises the soft RLIMIT_NOFILE to the hard one, then makes the
 * connection limits fit in it (said in one line when they are lowered),
 * so that the collector runs out of connections before descriptors.  -1
 * when not even a few connections fit. */
static int fit_fd_limit(struct config *cfg)
{
	struct rlimit r;
	unsigned long long avail, want;

	if (getrlimit(RLIMIT_NOFILE, &r) != 0)
		return 0;
	if (r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
		getrlimit(RLIMIT_NOFILE, &r);
	}
	/* unauthenticated ones, and as many refused ones lingering */
	want = (unsigned long long)cfg->max_connections +
	       2ull * cfg->max_unauthenticated + FD_RESERVE;
	if (r.rlim_cur == RLIM_INFINITY || want <= r.rlim_cur)
		return 0;
	if (r.rlim_cur < FD_RESERVE + 32) {
		log_line("the file descriptor limit (RLIMIT_NOFILE %llu) is "
			 "too low for a collector", (unsigned long long)r.rlim_cur);
		return -1;
	}
	avail = r.rlim_cur - FD_RESERVE;
	if (cfg->max_unauthenticated > avail / 8)
		cfg->max_unauthenticated = (unsigned)(avail / 8);
	if (cfg->max_per_source > cfg->max_unauthenticated)
		cfg->max_per_source = cfg->max_unauthenticated;
	log_line("warning: RLIMIT_NOFILE is %llu: --max-connections lowered "
		 "from %u to %llu, --max-unauthenticated to %u",
		 (unsigned long long)r.rlim_cur, cfg->max_connections,
		 avail - 2ull * cfg->max_unauthenticated,
		 cfg->max_unauthenticated);
	cfg->max_connections = (unsigned)(avail - 2ull *
					  cfg->max_unauthenticated);
	return 0;
}

static atomic_bool failed;

void collector_fail(void)
{
	atomic_store(&failed, true);
	kill(getpid(), SIGTERM);
}

/* Waits for SIGTERM or SIGINT. */
static void wait_signal(int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) < 0 && errno == EINTR)
		;
}

static int run(struct config *cfg)
{
	char err[512], bound[80];
	struct store *s;
	int lfd, sfd;

	if (auth_load(cfg->token_file, err, sizeof(err)) < 0) {
		log_line("%s", err);
		return 1;
	}
	if (fit_fd_limit(cfg) < 0)
		return 1;
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
	lfd = listen_open(cfg->listen, 4096, bound, sizeof(bound), err,
			  sizeof(err));
	if (lfd < 0 || writer_start(s, cfg->sync, err, sizeof(err)) < 0) {
		log_line("%s", err);
		store_close(s);
		return 1;
	}
	if (loop_start(lfd, cfg, err, sizeof(err)) < 0) {
		log_line("%s", err);
		writer_stop();
		return 1;
	}
	if (!auth_required())
		log_line("warning: no --token-file: every sender is accepted");
	printf("listening on %s\n", bound);
	fflush(stdout);
	wait_signal(sfd);
	loop_stop();
	close(lfd);
	writer_stop();
	return atomic_load(&failed) ? 1 : 0;
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
