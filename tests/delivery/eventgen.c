/* eventgen: synthetic failure events through the shim's real delivery code
 * (queue, coalescing, sender thread, spool), without TLS: it links the
 * shim's core library, not the preload, and calls queue_event() directly.
 *
 *   eventgen [--count N] [--same] [--rate R] [--pace] [--replay-wait SEC]
 *
 * Configuration is the shim's own: PINSHIM_POLICY, PINSHIM_COLLECTOR,
 * PINSHIM_SPOOL, PINSHIM_EVENTS_FILE, PINSHIM_LOG.
 *
 *   --count N         events to queue (default 1000), each with its own host
 *                     "gen-PID-I.test" so no two coalesce
 *   --same            every event identical (host "same.test"): coalesced
 *   --rate R          at most R events per second (default: as fast as it
 *                     can, which overflows the queue into summary records)
 *   --pace            wait while the queue holds more than half its room,
 *                     so every event travels as its own record
 *   --replay-wait SEC then start the sender (if nothing did) and wait until
 *                     the spool holds no batch, at most SEC seconds
 *
 * Exits normally (exit 0): the shim's exit flush and spool are exercised.
 * Prints "queued N" and, with --replay-wait, "spool empty" or "spool left
 * N". */
#include "delivery.h"
#include "spool_dir.h"

#include <dirent.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
	long count;
	bool same;
	double rate;
	bool pace;
	int replay_wait;
} opt = { .count = 1000 };

static void usage(void)
{
	fprintf(stderr, "usage: eventgen [--count N] [--same] [--rate R] "
		"[--pace] [--replay-wait SEC]\n");
	exit(2);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec t = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&t, NULL);
}

static struct event *make(long i)
{
	struct event *ev = event_new(EV_PIN_MISMATCH, EV_BLOCKED);
	const struct shim_config *c = config_acquire();

	if (ev == NULL) {
		config_release(c);
		return NULL;
	}
	if (opt.same)
		snprintf(ev->peer.host, sizeof(ev->peer.host), "same.test");
	else
		snprintf(ev->peer.host, sizeof(ev->peer.host), "gen-%d-%ld.test",
			 (int)getpid(), i);
	snprintf(ev->peer.addr, sizeof(ev->peer.addr), "127.0.0.1");
	ev->peer.port = 443;
	ev->mode = POLICY_ENFORCE;
	ev->pinned = true;
	if (c->policy != NULL)
		snprintf(ev->policy_version, sizeof(ev->policy_version), "%s",
			 c->policy->version);
	config_release(c);
	ev->verify_error = 0;
	ev->tls_version = "TLSv1.3";
	snprintf(ev->message, sizeof(ev->message), "eventgen %ld", i);
	return ev;
}

/* Spool files that still wait: batches and claims (not *.torn). */
static int spool_left(void)
{
	const char *dir = config_settings()->spool_dir;
	char def[4096];
	DIR *d;

	if (dir == NULL && spool_dir_default(def, sizeof(def), false, NULL,
					     0) == 0)
		dir = def;
	d = dir != NULL ? opendir(dir) : NULL;
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if ((len > 6 && strcmp(e->d_name + len - 6, ".batch") == 0) ||
		    strstr(e->d_name, ".batch.claim.") != NULL)
			n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	double t0;
	long queued = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--same") == 0)
			opt.same = true;
		else if (strcmp(argv[i], "--pace") == 0)
			opt.pace = true;
		else if (i + 1 < argc && strcmp(argv[i], "--count") == 0)
			opt.count = atol(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--rate") == 0)
			opt.rate = atof(argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "--replay-wait") == 0)
			opt.replay_wait = atoi(argv[++i]);
		else
			usage();
	}
	/* libssl resident, as in a program the shim is preloaded into: the
	 * policy's pins and the context's hashes go through it. */
	OPENSSL_init_ssl(0, NULL);
	ossl_resolve();
	context_note_libssl();
	t0 = now_s();
	for (long i = 0; i < opt.count; i++) {
		struct event *ev = make(i);

		if (ev == NULL)
			continue;
		while (opt.pace && queue_depth() > 512)
			sleep_s(0.0002);
		if (opt.rate > 0) {
			double due = t0 + (double)i / opt.rate;

			if (due > now_s())
				sleep_s(due - now_s());
		}
		queue_event(ev);
		sender_kick();
		queued++;
	}
	printf("queued %ld\n", queued);
	fflush(stdout);
	if (opt.replay_wait > 0) {
		double until = now_s() + opt.replay_wait;
		int left;

		sender_kick();
		while ((left = spool_left()) > 0 && now_s() < until)
			sleep_s(0.1);
		if (left == 0)
			printf("spool empty\n");
		else
			printf("spool left %d\n", left);
		fflush(stdout);
	}
	exit(0);
}
