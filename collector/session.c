/* After the hello (collector.h): batch frames are checked against every
 * bound (store_prepare, here, so the writer only looks up and inserts)
 * and queued for the writer, up to COLLECTOR_MAX_INFLIGHT unacked; each
 * Ack goes out, in order, once the writer has committed that batch.
 * Anything wrong (garbage, a bound broken, a frame out of order, a sender
 * too slow inside a frame or idle too long) ends the connection with an
 * Error after the acks of the batches before it, and one log line; other
 * connections never notice. */
#include "collector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void session_refuse(struct conn *c, uint64_t *counter, const char *msg,
		    bool transient)
{
	if (loop_stopping()) {
		conn_close(c);          /* cut short: the sender sends again */
		return;
	}
	if (counter != NULL)
		stats_add(counter, 1);
	conn_say(c, "%s", msg);
	if (c->inflight == 0) {
		conn_refuse(c, msg, transient);
		return;
	}
	/* the sender pairs answers with batches in order: this one is
	 * about the oldest batch it has not seen acked */
	snprintf(c->refusal, sizeof(c->refusal), "%s", msg);
	c->refusal_pending = true;
	c->refusal_transient = transient;
	conn_close(c);
}

static void send_ack(struct conn *c, const struct job *j)
{
	Pinshim__Ack a = PINSHIM__ACK__INIT;
	Pinshim__Frame f;

	a.batch_id.data = (uint8_t *)j->batch_id;
	a.batch_id.len = WIRE_ID_LEN;
	a.stored = j->result.events_stored + j->result.counters_stored;
	a.duplicates = j->result.events_duplicate +
		       j->result.counters_duplicate;
	wire_frame_ack(&f, &a);
	conn_send(c, &f);
}

/* Answers one finished job (unless the connection answers no more). */
static void answer(struct conn *c, struct job *j)
{
	char msg[300];

	if (c->silent)
		return;
	switch (j->state) {
	case JOB_STORED:
		send_ack(c, j);
		break;
	case JOB_REFUSED:
		snprintf(msg, sizeof(msg), "batch refused: %s", j->err);
		stats_add(&stats.frames_rejected, 1);
		conn_say(c, "%s", msg);
		conn_refuse(c, msg, false);
		break;
	default:
		conn_say(c, "batch not stored: database error");
		conn_refuse(c, "the collector could not store the batch", true);
		break;
	}
}

void session_job_done(struct conn *c, struct job *j)
{
	j->done = true;
	c->held -= j->held;
	while (c->head != NULL && c->head->done) {
		j = c->head;
		c->head = j->fifo;
		if (c->head == NULL)
			c->tail = NULL;
		c->inflight--;
		answer(c, j);
		free(j);
	}
	if (c->inflight > 0)
		return;
	c->idle_deadline = loop_now_ms() + loop_config()->idle_timeout_ms;
	if (c->refusal_pending) {
		c->refusal_pending = false;
		conn_refuse(c, c->refusal, c->refusal_transient);
	}
}

/* Checks the batch against every bound and computes its events' keys.
 * NULL with err set: refuse the frame. */
static struct store_event_keys *prepare(struct conn *c,
					const Pinshim__View__Batch *b,
					char *err, size_t errlen)
{
	size_t n = b->n_events + b->n_chains;
	struct store_event_keys *k = malloc((n ? n : 1) * sizeof(*k));

	if (k == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (store_prepare(c->parts, b, k, err, errlen) < 0) {
		free(k);
		return NULL;
	}
	return k;
}

static void queue_batch(struct conn *c, struct frame_in *in)
{
	struct store_event_keys *keys;
	struct job *j;
	char err[256];

	keys = prepare(c, in->msg->batch, err, sizeof(err));
	j = keys != NULL ? calloc(1, sizeof(*j)) : NULL;
	if (j == NULL) {
		c->held -= in->bytes;
		frame_release(in);
		free(keys);
		session_refuse(c, &stats.frames_rejected, keys == NULL ? err
			       : "out of memory", false);
		return;
	}
	j->conn = c;
	j->frame = *in;
	j->held = in->bytes;
	j->keys = keys;
	j->origin.address = c->address;
	j->origin.name = c->name;
	j->origin.received_us = now_us();
	memcpy(j->batch_id, in->msg->batch->id.data, WIRE_ID_LEN);
	if (c->tail != NULL)
		c->tail->fifo = j;
	else
		c->head = j;
	c->tail = j;
	c->inflight++;
	c->idle_deadline = 0;
	writer_submit(j);
}

static const char *body_name(const Pinshim__View__Frame *f)
{
	switch (f->body_case) {
	case PINSHIM__VIEW__FRAME__BODY_HELLO: return "hello";
	case PINSHIM__VIEW__FRAME__BODY_WELCOME: return "welcome";
	case PINSHIM__VIEW__FRAME__BODY_ACK: return "ack";
	case PINSHIM__VIEW__FRAME__BODY_ERROR: return "error";
	default: return "unknown";
	}
}

void session_frame(struct conn *c, struct frame_in *in)
{
	Pinshim__View__Frame *f = in->msg;
	char err[256];

	if (f->body_case == PINSHIM__VIEW__FRAME__BODY_BATCH) {
		queue_batch(c, in);
		return;
	}
	if (f->body_case == PINSHIM__VIEW__FRAME__BODY_ERROR) {
		log_printable(err, sizeof(err), f->error->message);
		conn_say(c, "the sender gave up: %s", err);
		conn_close(c);
	} else {
		snprintf(err, sizeof(err), "unexpected %s frame", body_name(f));
		session_refuse(c, &stats.frames_rejected, err, false);
	}
	c->held -= in->bytes;
	frame_release(in);
}

void session_stop(struct conn *c)
{
	conn_close(c);
}
