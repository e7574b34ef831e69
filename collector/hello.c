/* Before the token is checked (collector.h): a connection may send one
 * frame of at most WIRE_MAX_HELLO bytes, decoded in a small arena of its
 * own (nothing of the shared budget), within --hello-timeout of its
 * accept.  Every problem here is counted per source and logged in
 * aggregate (sources.c): a flood of bad connections is a line per address
 * per window, not a line per connection. */
#include "collector.h"

#include <stdio.h>
#include <string.h>

/* Counted for the source's aggregated log, refused with msg. */
static void refuse(struct conn *c, enum source_reason why, uint64_t *counter,
		   const char *msg)
{
	char line[600];

	stats_add(counter, 1);
	if (c->name[0] != '\0')
		snprintf(line, sizeof(line), "%s (%s): %s", c->address, c->name,
			 msg);
	else
		snprintf(line, sizeof(line), "%s: %s", c->address, msg);
	source_problem(c->source, why, loop_now_ms(), line);
	conn_refuse(c, msg, false);
}

void hello_refuse(struct conn *c, const char *msg)
{
	refuse(c, SRC_BAD_HELLO, &stats.frames_rejected, msg);
}

void hello_timed_out(struct conn *c)
{
	refuse(c, SRC_NO_HELLO, &stats.timeouts, "no hello in time");
}

static void welcome(struct conn *c)
{
	Pinshim__Welcome wl = PINSHIM__WELCOME__INIT;
	Pinshim__Frame f;

	wl.protocol = WIRE_PROTOCOL;
	wl.max_frame = WIRE_MAX_FRAME;
	wire_frame_welcome(&f, &wl);
	conn_send(c, &f);
}

/* The checks of a Hello, in order: protocol, token, room. */
static void check(struct conn *c, const Pinshim__Hello *h)
{
	char msg[128];

	if (h->protocol != WIRE_PROTOCOL) {
		snprintf(msg, sizeof(msg), "protocol %u not supported (this "
			 "collector speaks %d)", h->protocol, WIRE_PROTOCOL);
		hello_refuse(c, msg);
		return;
	}
	log_printable(c->name, sizeof(c->name), h->sender);
	if (!auth_check(&h->token)) {
		refuse(c, SRC_AUTH_FAILED, &stats.auth_failures,
		       "authentication failed");
		source_auth_failed(c->source, loop_now_ms());
		return;
	}
	c->parts = store_parts_new();
	if (c->parts == NULL) {
		conn_say(c, "out of memory for a new sender");
		conn_refuse(c, "the collector is out of memory: try again "
			    "later", true);
		return;
	}
	if (loop_authenticated(c)) {
		c->idle_deadline = loop_now_ms() + loop_config()->idle_timeout_ms;
		welcome(c);
	}
}

void hello_frame(struct conn *c, struct frame_in *in)
{
	if (in->msg->body_case != PINSHIM__VIEW__FRAME__BODY_HELLO)
		hello_refuse(c, "expected a hello first");
	else
		check(c, in->msg->hello);
	frame_release(in);
}
