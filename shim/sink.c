/* Where events go: the queue, which the sender thread drains to the
 * collector, the spool and PINSHIM_EVENTS_FILE.  Nothing on this path
 * touches the disk or the network. */
#include "shim.h"

void sink_emit(struct event *ev)
{
	queue_event(ev);
	sender_kick();
}
