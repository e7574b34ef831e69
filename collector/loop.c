/* The network thread (collector.h): one epoll over the listening socket,
 * the writer's wake-ups and every connection, so a connection costs its
 * struct and a descriptor, never a thread.
 *
 * Connections are kept in three lists by state.  Unauthenticated ones
 * (CONN_HELLO) are also listed per source, oldest first, and have quotas
 * of their own: --max-unauthenticated in all and --max-per-source from one
 * address; a new connection over a quota evicts the oldest one waiting
 * there (so a flood of silent sockets can hold a slot for at most the
 * time the next ones take to arrive, and a real sender's Hello, sent at
 * once, gets through).  Only authenticated senders count against
 * --max-connections.
 *
 * Every TICK_MS the deadlines are checked: unauthenticated connections
 * oldest first (their deadlines come in that order), the others all. */
#include "collector.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#define TICK_MS 250
#define ACCEPTS_PER_TURN 64
#define EVENTS_PER_WAIT 256

static char tag_listen, tag_wake;     /* epoll data of the non-connections */

static struct {
	int epfd, lfd, wake, spare;
	pthread_t thread;
	const struct config *cfg;
	struct conn_list unauth, ready, closing, park;
	struct conn_list dead;            /* freed after this turn's events */
	atomic_bool stopping;
	bool stop_applied;
	pthread_mutex_t lock;             /* done */
	struct job *done;                 /* back from the writer */
	long long now, next_tick, next_second;
	unsigned budget_gen;
} L = {
	.epfd = -1, .lfd = -1, .wake = -1, .spare = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

const struct config *loop_config(void)
{
	return L.cfg;
}

long long loop_now_ms(void)
{
	return L.now;
}

bool loop_stopping(void)
{
	return atomic_load_explicit(&L.stopping, memory_order_relaxed);
}

/* ---- lists -------------------------------------------------------------- */

static struct conn_link *link_at(struct conn *c, size_t off)
{
	return (struct conn_link *)((char *)c + off);
}

static void list_append(struct conn_list *l, struct conn *c, size_t off)
{
	struct conn_link *k = link_at(c, off);

	k->prev = l->tail;
	k->next = NULL;
	if (l->tail != NULL)
		link_at(l->tail, off)->next = c;
	else
		l->head = c;
	l->tail = c;
	l->n++;
}

static void list_remove(struct conn_list *l, struct conn *c, size_t off)
{
	struct conn_link *k = link_at(c, off);

	if (k->prev != NULL)
		link_at(k->prev, off)->next = k->next;
	else
		l->head = k->next;
	if (k->next != NULL)
		link_at(k->next, off)->prev = k->prev;
	else
		l->tail = k->prev;
	k->prev = k->next = NULL;
	l->n--;
}

#define BY_STATE offsetof(struct conn, by_state)
#define BY_SOURCE offsetof(struct conn, by_source)
#define BY_PARK offsetof(struct conn, by_park)

static struct conn_list *list_of(enum conn_state st)
{
	return st == CONN_HELLO ? &L.unauth : st == CONN_READY ? &L.ready
							       : &L.closing;
}

/* Moves c to the list of its state (and out of its source's once it has
 * left CONN_HELLO). */
static void place(struct conn *c)
{
	struct conn_list *want = list_of(c->state);

	if (c->list == want)
		return;
	if (c->list == &L.unauth)
		list_remove(source_unauth(c->source), c, BY_SOURCE);
	if (c->list != NULL)
		list_remove(c->list, c, BY_STATE);
	list_append(want, c, BY_STATE);
	c->list = want;
}

static void unlist(struct conn *c)
{
	if (c->list == &L.unauth)
		list_remove(source_unauth(c->source), c, BY_SOURCE);
	list_remove(c->list, c, BY_STATE);
	if (c->in_park)
		list_remove(&L.park, c, BY_PARK);
}

/* ---- a connection after any event --------------------------------------- */

/* Sends what can be sent, retires c when it is finished, else keeps its
 * lists and its epoll registration up to date.  A retired connection is
 * freed after the turn: events of this turn may still name it. */
static void settle(struct conn *c)
{
	unsigned want;

	if (c->dead)
		return;
	conn_writable(c);
	place(c);
	if (conn_finished(c)) {
		unlist(c);
		epoll_ctl(L.epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->dead = true;
		list_append(&L.dead, c, BY_STATE);
		return;
	}
	if (c->parked && !c->in_park) {
		list_append(&L.park, c, BY_PARK);
		c->in_park = true;
	}
	want = conn_wanted_events(c);
	if (want != c->events) {
		struct epoll_event ev = { .events = want, .data.ptr = c };

		epoll_ctl(L.epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->events = want;
	}
}

static void bury(void)
{
	for (struct conn *c = L.dead.head, *next; c != NULL; c = next) {
		next = c->by_state.next;
		conn_free(c);
	}
	L.dead = (struct conn_list){ 0 };
}

static void on_conn(struct conn *c, uint32_t ev)
{
	if (c->dead)
		return;
	/* hang-ups come whether asked for or not: a connection that does
	 * not read now would hear of them forever */
	if ((ev & (EPOLLHUP | EPOLLERR)) && !(c->events & EPOLLIN))
		conn_abort(c);
	else if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_readable(c);
	settle(c);
}

/* Retries every parked connection (budget was given back, or one of
 * theirs came back from the writer). */
static void unpark_all(void)
{
	struct conn_list waiting = L.park;

	L.park = (struct conn_list){ 0 };
	for (struct conn *c = waiting.head, *next; c != NULL; c = next) {
		next = c->by_park.next;
		c->by_park.prev = c->by_park.next = NULL;
		c->in_park = false;
		conn_unpark(c);
		settle(c);
	}
}

/* ---- accepting ---------------------------------------------------------- */

/* At the descriptor limit: the connection waiting is taken with the
 * spare descriptor and closed at once, so that it does not wake the loop
 * again and again; the cause is said (at the log's rate). */
static void fds_exhausted(int err)
{
	struct rlimit r = { 0 };
	int fd;

	getrlimit(RLIMIT_NOFILE, &r);
	log_limited("accept: %s: %llu descriptors open at most "
		    "(RLIMIT_NOFILE): new connections are closed", strerror(err),
		    (unsigned long long)r.rlim_cur);
	if (L.spare < 0)
		return;
	close(L.spare);
	fd = accept4(L.lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	L.spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Closes the oldest unauthenticated connection of list l for a new one. */
static void evict(struct conn_list *l, unsigned quota, const char *whose)
{
	struct conn *old = l->head;
	char line[256];

	snprintf(line, sizeof(line), "%s: closed before its hello for a newer "
		 "connection: %u unauthenticated connections %s at most",
		 old->address, quota, whose);
	source_problem(old->source, SRC_QUOTA, L.now, line);
	conn_abort(old);
	settle(old);
}

/* Refused connections linger a moment for their Error to arrive; no more
 * than --max-unauthenticated of them, oldest cut first, so that a flood
 * of refusals cannot take the descriptors either. */
static void cut_lingering(void)
{
	struct conn *c = L.closing.head;

	if (L.closing.n < L.cfg->max_unauthenticated)
		return;
	for (; c != NULL && c->inflight > 0; c = c->by_state.next)
		;
	if (c != NULL) {
		conn_abort(c);
		settle(c);
	}
}

static void admit(int fd, const struct sockaddr *sa)
{
	struct source *src = source_of(sa);
	struct conn_list *mine = source_unauth(src);
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c;
	char line[128];

	if (source_blocked(src, L.now)) {
		snprintf(line, sizeof(line), "%s: connection closed: the "
			 "address is blocked for failed tokens",
			 source_label(src));
		source_problem(src, SRC_BLOCKED, L.now, line);
		close(fd);
		return;
	}
	if (mine->n >= L.cfg->max_per_source)
		evict(mine, L.cfg->max_per_source, "from one address");
	else if (L.unauth.n >= L.cfg->max_unauthenticated)
		evict(&L.unauth, L.cfg->max_unauthenticated, "in all");
	cut_lingering();
	c = conn_new(fd, sa, src);
	if (c == NULL) {
		log_limited("out of memory for a new connection");
		close(fd);
		return;
	}
	ev.data.ptr = c;
	if (epoll_ctl(L.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		/* not listed anywhere yet: freed at once */
		log_limited("epoll: %s", strerror(errno));
		conn_free(c);
		return;
	}
	c->events = EPOLLIN;
	place(c);
	list_append(mine, c, BY_SOURCE);
}

static void accept_some(void)
{
	for (int i = 0; i < ACCEPTS_PER_TURN; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(L.lfd, (struct sockaddr *)&ss, &len,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				fds_exhausted(errno);
			else if (errno != EAGAIN && errno != EWOULDBLOCK &&
				 errno != EINTR && errno != ECONNABORTED)
				log_limited("accept: %s", strerror(errno));
			return;
		}
		stats_add(&stats.connections, 1);
		admit(fd, (struct sockaddr *)&ss);
	}
}

bool loop_authenticated(struct conn *c)
{
	if (L.ready.n >= L.cfg->max_connections) {
		conn_say(c, "refused: too many connections (%u senders, "
			 "--max-connections)", L.ready.n);
		conn_refuse(c, "too many connections", true);
		return false;
	}
	c->state = CONN_READY;
	return true;
}

/* ---- the writer's jobs -------------------------------------------------- */

void loop_job_done(struct job *job)
{
	uint64_t one = 1;

	pthread_mutex_lock(&L.lock);
	job->next = L.done;
	L.done = job;
	pthread_mutex_unlock(&L.lock);
	if (write(L.wake, &one, sizeof(one)) < 0)
		log_line("wake: %s", strerror(errno));
}

/* Each job back from the writer, oldest first (the writer hands them
 * back in commit order; a connection answers in its own order anyway). */
static void jobs_back(void)
{
	struct job *list, *rev = NULL;
	uint64_t n;

	if (read(L.wake, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_line("wake: %s", strerror(errno));
	pthread_mutex_lock(&L.lock);
	list = L.done;
	L.done = NULL;
	pthread_mutex_unlock(&L.lock);
	while (list != NULL) {
		struct job *next = list->next;

		list->next = rev;
		rev = list;
		list = next;
	}
	for (struct job *j = rev, *next; j != NULL; j = next) {
		struct conn *c = j->conn;

		next = j->next;
		session_job_done(c, j);
		settle(c);
	}
}

/* ---- time --------------------------------------------------------------- */

/* Every connection's deadlines; the settling may move c to the closing
 * list, whose walk then sees it again (harmless). */
static void check_list(struct conn_list *l)
{
	for (struct conn *c = l->head, *next; c != NULL; c = next) {
		next = c->by_state.next;
		conn_check_deadlines(c, L.now);
		settle(c);
	}
}

static void tick(void)
{
	while (L.unauth.head != NULL && L.now >= L.unauth.head->born_ms +
					     L.cfg->hello_timeout_ms) {
		struct conn *c = L.unauth.head;

		conn_check_deadlines(c, L.now);
		settle(c);
	}
	check_list(&L.ready);
	check_list(&L.closing);
	if (L.now >= L.next_second) {
		sources_tick(L.now);
		L.next_second = L.now + 1000;
	}
	L.next_tick = L.now + TICK_MS;
}

/* ---- stop --------------------------------------------------------------- */

static void apply_stop(void)
{
	struct conn *c, *next;

	L.stop_applied = true;
	epoll_ctl(L.epfd, EPOLL_CTL_DEL, L.lfd, NULL);
	for (c = L.unauth.head; c != NULL; c = next) {
		next = c->by_state.next;
		conn_abort(c);
		settle(c);
	}
	for (c = L.ready.head; c != NULL; c = next) {
		next = c->by_state.next;
		session_stop(c);
		settle(c);
	}
	for (c = L.closing.head; c != NULL; c = next) {
		next = c->by_state.next;
		settle(c);
	}
}

static bool all_gone(void)
{
	return L.stop_applied && L.unauth.n == 0 && L.ready.n == 0 &&
	       L.closing.n == 0;
}

/* ---- the thread --------------------------------------------------------- */

static void dispatch(struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		if (ev[i].data.ptr == &tag_listen)
			accept_some();
		else if (ev[i].data.ptr == &tag_wake)
			jobs_back();
		else
			on_conn(ev[i].data.ptr, ev[i].events);
	}
}

static void *loop_main(void *arg)
{
	struct epoll_event ev[EVENTS_PER_WAIT];

	(void)arg;
	pthread_setname_np(pthread_self(), "pinshim-loop");
	while (!all_gone()) {
		long long wait = L.next_tick - L.now;
		int n = epoll_wait(L.epfd, ev, EVENTS_PER_WAIT,
				   wait > 0 ? (int)wait : 0);

		L.now = wire_now_ms();
		if (n < 0 && errno != EINTR) {
			log_line("epoll_wait: %s", strerror(errno));
			break;
		}
		if (loop_stopping() && !L.stop_applied)
			apply_stop();
		dispatch(ev, n > 0 ? n : 0);
		if (budget_generation() != L.budget_gen) {
			L.budget_gen = budget_generation();
			unpark_all();
		}
		if (L.now >= L.next_tick)
			tick();
		bury();
	}
	return NULL;
}

static int watch(int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(L.epfd, EPOLL_CTL_ADD, fd, &ev);
}

int loop_start(int lfd, const struct config *cfg, char *err, size_t errlen)
{
	int rc;

	L.cfg = cfg;
	L.lfd = lfd;
	L.now = wire_now_ms();
	L.next_tick = L.now + TICK_MS;
	L.next_second = L.now + 1000;
	L.epfd = epoll_create1(EPOLL_CLOEXEC);
	L.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	L.spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (L.epfd < 0 || L.wake < 0 || fcntl(lfd, F_SETFL, O_NONBLOCK) < 0 ||
	    watch(lfd, &tag_listen) < 0 || watch(L.wake, &tag_wake) < 0) {
		snprintf(err, errlen, "event loop: %s", strerror(errno));
		return -1;
	}
	rc = pthread_create(&L.thread, NULL, loop_main, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "loop thread: %s", strerror(rc));
		return -1;
	}
	return 0;
}

void loop_stop(void)
{
	uint64_t one = 1;

	atomic_store(&L.stopping, true);
	if (write(L.wake, &one, sizeof(one)) < 0)
		log_line("stop: %s", strerror(errno));
	pthread_join(L.thread, NULL);
}
