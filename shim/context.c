/* Where a failure happened, beyond the connection itself: the platform (OS,
 * kernel, libssl, a stable host id), the process (executable, its build-id,
 * the application's version) and the network (a label and a fingerprint of
 * gateway, subnet and resolvers, which proxy variables are set).  The viewer
 * separates failing from succeeding handshakes along these dimensions.
 *
 * Everything is read off the handshake path, on the sender thread, and
 * cached: the platform and the process once, the network on each refresh.
 * The hashes (host id, network fingerprint) use OpenSSL, so they are taken
 * while OpenSSL is certainly alive; what is cached needs no OpenSSL at exit.
 * Values are stored as read (bounded); record.c makes them safe to send. */
#include "shim.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <link.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static void copy(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	while (n + 1 < size && src[n] != '\0')
		n++;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* OpenSSL is usable: resolved, and not cleaned up yet.  OPENSSL_cleanup
 * runs from atexit; once it has, OPENSSL_init_crypto answers 0 (documented:
 * the library cannot be initialised again), before it, with no options, 1
 * at the cost of a done-once check. */
bool context_openssl_alive(void)
{
	/* After cleanup the error it raises is dropped: OpenSSL's error state
	 * itself checks for cleanup first. */
	return ossl_resolve() && ossl.OPENSSL_init_crypto(0, NULL) == 1;
}

/* Hex SHA-256 of data; "" when OpenSSL is not usable. */
static bool sha256_hex(const void *data, size_t len, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];

	out[0] = '\0';
	if (!context_openssl_alive() ||
	    ossl.EVP_Digest(data, len, md, NULL, ossl.EVP_sha256(), NULL) != 1)
		return false;
	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
	return true;
}

/* ---- libssl: noted on the handshake path, one atomic load once known ---- */

enum { LIBSSL_UNKNOWN, LIBSSL_COPYING, LIBSSL_READY };
static atomic_int libssl_state;
static char libssl_version[128];

void context_note_libssl(void)
{
	int expected = LIBSSL_UNKNOWN;

	if (atomic_load_explicit(&libssl_state, memory_order_acquire) ==
	    LIBSSL_READY)
		return;
	if (ossl.OpenSSL_version == NULL ||
	    !atomic_compare_exchange_strong(&libssl_state, &expected,
					    LIBSSL_COPYING))
		return;
	copy(libssl_version, sizeof(libssl_version),
	     ossl.OpenSSL_version(OPENSSL_VERSION));
	atomic_store_explicit(&libssl_state, LIBSSL_READY,
			      memory_order_release);
}

/* ---- platform ---- */

static struct platform_info platform;
static pthread_once_t platform_once = PTHREAD_ONCE_INIT;

/* An os-release value: shell-style, optionally quoted, with \-escapes. */
static void os_release_value(const char *v, char *out, size_t len)
{
	char quote = (*v == '"' || *v == '\'') ? *v++ : '\0';
	size_t o = 0;

	for (; *v != '\0' && *v != '\n' && o + 1 < len; v++) {
		if (quote != '\0' && *v == quote)
			break;
		if (quote == '"' && *v == '\\' && v[1] != '\0' && v[1] != '\n')
			v++;
		out[o++] = *v;
	}
	out[o] = '\0';
}

static void read_os_release(struct platform_info *p)
{
	FILE *f = fopen("/etc/os-release", "re");
	char line[512];

	if (f == NULL)
		f = fopen("/usr/lib/os-release", "re");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "ID=", 3) == 0)
			os_release_value(line + 3, p->os_id, sizeof(p->os_id));
		else if (strncmp(line, "VERSION_ID=", 11) == 0)
			os_release_value(line + 11, p->os_version,
					 sizeof(p->os_version));
		else if (strncmp(line, "PRETTY_NAME=", 12) == 0)
			os_release_value(line + 12, p->os_name,
					 sizeof(p->os_name));
	}
	fclose(f);
}

/* Hashed, so the collector holds a stable id, not the machine-id itself
 * (which other software treats as confidential).  Whitespace trimmed. */
static void read_host_id(struct platform_info *p)
{
	static const char *const paths[] = { "/etc/machine-id",
					     "/var/lib/dbus/machine-id" };
	char text[8 + 128] = "pinshim:";
	size_t n = 0;

	for (size_t i = 0; i < 2 && n == 0; i++) {
		FILE *f = fopen(paths[i], "re");

		if (f == NULL)
			continue;
		n = fread(text + 8, 1, sizeof(text) - 8, f);
		fclose(f);
		while (n > 0 && isspace((unsigned char)text[8 + n - 1]))
			n--;
	}
	if (n > 0)
		sha256_hex(text, 8 + n, p->host_id);
}

static void platform_init(void)
{
	struct utsname u;

	read_os_release(&platform);
	if (uname(&u) == 0) {
		copy(platform.kernel, sizeof(platform.kernel), u.release);
		copy(platform.arch, sizeof(platform.arch), u.machine);
	}
	if (gethostname(platform.hostname, sizeof(platform.hostname) - 1) != 0)
		platform.hostname[0] = '\0';
	/* The first event can reach the sender before the handshake that made
	 * it noted the version. */
	context_note_libssl();
	if (atomic_load_explicit(&libssl_state, memory_order_acquire) ==
	    LIBSSL_READY)
		copy(platform.libssl_version, sizeof(platform.libssl_version),
		     libssl_version);
	read_host_id(&platform);
}

const struct platform_info *context_platform(void)
{
	pthread_once(&platform_once, platform_init);
	return &platform;
}

/* ---- process ---- */

static struct process_info process;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

/* dl_iterate_phdr lists the main program first. */
static int main_build_id(struct dl_phdr_info *info, size_t size, void *arg)
{
	stack_build_id(info, arg, sizeof(process.build_id));
	return 1;
}

static void read_argv0(struct process_info *p)
{
	FILE *f = fopen("/proc/self/cmdline", "re");
	size_t n;

	if (f == NULL)
		return;
	n = fread(p->argv0, 1, sizeof(p->argv0) - 1, f);
	p->argv0[n] = '\0';   /* the first argument ends at its NUL */
	fclose(f);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* PINSHIM_APP_VERSION, else "<exe>@<build-id prefix>": two builds of one
 * program differ even when neither says its version.  (The owning package's
 * version would be nicer, but finding it means scanning dpkg's file lists.) */
static void app_version(struct process_info *p)
{
	const char *env = secure_getenv("PINSHIM_APP_VERSION");
	const char *exe = base_name(p->exe[0] != '\0' ? p->exe : p->argv0);

	if (env != NULL && env[0] != '\0') {
		copy(p->app_version, sizeof(p->app_version), env);
		copy(p->app_version_source, sizeof(p->app_version_source),
		     "env");
	} else if (p->build_id[0] != '\0') {
		snprintf(p->app_version, sizeof(p->app_version), "%.100s@%.12s",
			 exe, p->build_id);
		copy(p->app_version_source, sizeof(p->app_version_source),
		     "build-id");
	} else {
		copy(p->app_version, sizeof(p->app_version), exe);
		copy(p->app_version_source, sizeof(p->app_version_source),
		     "exe");
	}
}

static void process_init(void)
{
	ssize_t n = readlink("/proc/self/exe", process.exe,
			     sizeof(process.exe) - 1);

	process.exe[n > 0 ? n : 0] = '\0';
	dl_iterate_phdr(main_build_id, process.build_id);
	read_argv0(&process);
	app_version(&process);
}

const struct process_info *context_process(void)
{
	pthread_once(&process_once, process_init);
	return &process;
}

/* ---- network ---- */

/* Snapshots live as long as the process: the handshake path holds pointers
 * to them without a lock.  A snapshot is reused when a network comes back;
 * past the last slot the current one stays (logged). */
#define NET_SNAPSHOTS 32
static struct network_info snapshots[NET_SNAPSHOTS];
static int nsnapshots;
static const struct network_info no_network;
static _Atomic(const struct network_info *) current = &no_network;

/* One refresher at a time: the pid holding the refresh, 0 when free.  A
 * value from another pid was inherited through fork from a thread that did
 * not come along, and is taken over. */
static atomic_int refresher;
static struct timespec refreshed_at;
static bool refreshed;

struct route {
	char iface[IFNAMSIZ + 1];
	int family;                  /* AF_UNSPEC: no default route */
	char gateway[64];
};

static void route_v4(struct route *r)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], ifname[IFNAMSIZ + 1];
	unsigned long dest, gw, mask;
	unsigned flags;
	int metric, best = -1;

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%16s %lx %lx %x %*d %*d %d %lx", ifname,
			   &dest, &gw, &flags, &metric, &mask) != 6 ||
		    dest != 0 || mask != 0 || !(flags & RTF_UP) ||
		    (best >= 0 && metric >= best))
			continue;
		best = metric;
		copy(r->iface, sizeof(r->iface), ifname);
		r->family = AF_INET;
		r->gateway[0] = '\0';
		if (flags & RTF_GATEWAY) {
			/* the kernel prints the address as it lies in memory */
			struct in_addr a = { .s_addr = (uint32_t)gw };

			inet_ntop(AF_INET, &a, r->gateway, sizeof(r->gateway));
		}
	}
	fclose(f);
}

static bool hex_addr6(const char *hex, struct in6_addr *a)
{
	for (int i = 0; i < 16; i++) {
		unsigned b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return false;
		a->s6_addr[i] = (unsigned char)b;
	}
	return true;
}

static void route_v6(struct route *r)
{
	FILE *f = fopen("/proc/net/ipv6_route", "re");
	char line[256], dest[33], src[33], hop[33], ifname[IFNAMSIZ + 1];
	unsigned plen, splen, metric, flags, best = UINT32_MAX;
	struct in6_addr a;

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%32s %x %32s %x %32s %x %*x %*x %x %16s",
			   dest, &plen, src, &splen, hop, &metric, &flags,
			   ifname) != 8 ||
		    plen != 0 || strspn(dest, "0") != 32 ||
		    !(flags & RTF_UP) || (flags & RTF_REJECT) ||
		    strcmp(ifname, "lo") == 0 || metric >= best)
			continue;
		best = metric;
		copy(r->iface, sizeof(r->iface), ifname);
		r->family = AF_INET6;
		r->gateway[0] = '\0';
		if (strspn(hop, "0") != 32 && hex_addr6(hop, &a))
			inet_ntop(AF_INET6, &a, r->gateway, sizeof(r->gateway));
	}
	fclose(f);
}

static int prefix_len(const unsigned char *mask, size_t len)
{
	int bits = 0;

	for (size_t i = 0; i < len; i++)
		bits += __builtin_popcount(mask[i]);
	return bits;
}

/* "192.0.2.0/24" and "192.0.2.7" from one interface address. */
static void subnet_of(const struct ifaddrs *ifa, struct network_info *n)
{
	unsigned char addr[16], net[16], mask[16] = { 0 };
	size_t len;
	char text[INET6_ADDRSTRLEN];
	const struct sockaddr_in *a4 = (const void *)ifa->ifa_addr;
	const struct sockaddr_in *m4 = (const void *)ifa->ifa_netmask;
	const struct sockaddr_in6 *a6 = (const void *)ifa->ifa_addr;
	const struct sockaddr_in6 *m6 = (const void *)ifa->ifa_netmask;

	if (ifa->ifa_addr->sa_family == AF_INET) {
		len = 4;
		memcpy(addr, &a4->sin_addr, 4);
		if (m4 != NULL)
			memcpy(mask, &m4->sin_addr, 4);
	} else {
		len = 16;
		memcpy(addr, &a6->sin6_addr, 16);
		if (m6 != NULL)
			memcpy(mask, &m6->sin6_addr, 16);
	}
	for (size_t i = 0; i < len; i++)
		net[i] = addr[i] & mask[i];
	inet_ntop(ifa->ifa_addr->sa_family, addr, n->local_address,
		  sizeof(n->local_address));
	inet_ntop(ifa->ifa_addr->sa_family, net, text, sizeof(text));
	snprintf(n->subnet, sizeof(n->subnet), "%s/%d", text,
		 prefix_len(mask, len));
}

static bool usable(const struct ifaddrs *ifa, const struct route *r, int family)
{
	const struct sockaddr_in6 *s6 = (const void *)ifa->ifa_addr;

	if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != family ||
	    !(ifa->ifa_flags & IFF_UP))
		return false;
	if (family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr))
		return false;
	if (r->family != AF_UNSPEC)
		return strcmp(ifa->ifa_name, r->iface) == 0;
	return !(ifa->ifa_flags & IFF_LOOPBACK);
}

/* The default route's interface; without a default route (an isolated
 * network namespace, a lab net) the first interface that is up. */
static void local_subnet(const struct route *r, struct network_info *n)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct ifaddrs *all;

	if (getifaddrs(&all) != 0)
		return;
	for (int f = 0; f < 2 && n->subnet[0] == '\0'; f++) {
		if (r->family != AF_UNSPEC && r->family != families[f])
			continue;
		struct ifaddrs *ifa = all;

		while (ifa != NULL && !usable(ifa, r, families[f]))
			ifa = ifa->ifa_next;
		if (ifa != NULL)
			subnet_of(ifa, n);
	}
	freeifaddrs(all);
}

static void resolvers(struct network_info *n)
{
	FILE *f = fopen("/etc/resolv.conf", "re");
	char line[512], addr[64];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL && n->nresolvers < 4)
		if (sscanf(line, " nameserver %63s", addr) == 1)
			copy(n->resolvers[n->nresolvers++],
			     sizeof(n->resolvers[0]), addr);
	fclose(f);
}

/* Names only: proxy URLs can carry credentials. */
static void proxy_vars(struct network_info *n)
{
	static const char *const names[] = {
		"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
		"all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = secure_getenv(names[i]);

		if (v != NULL && v[0] != '\0')
			copy(n->proxy_vars[n->nproxy++],
			     sizeof(n->proxy_vars[0]), names[i]);
	}
}

/* Gateway, subnet and resolvers, one per line, hashed: defined (if
 * uninformative) even with none of them. */
static bool fingerprint(struct network_info *n)
{
	char text[1024];
	int len = snprintf(text, sizeof(text), "gateway=%s\nsubnet=%s\n",
			   n->gateway, n->subnet);

	for (int i = 0; i < n->nresolvers; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len,
				"resolver=%s\n", n->resolvers[i]);
	return sha256_hex(text, (size_t)len, n->fingerprint);
}

static bool network_read(struct network_info *n)
{
	struct route r = { .family = AF_UNSPEC };
	const char *label = secure_getenv("PINSHIM_NETWORK");

	memset(n, 0, sizeof(*n));   /* snapshots are compared with memcmp */
	route_v4(&r);
	if (r.family == AF_UNSPEC)
		route_v6(&r);
	copy(n->gateway, sizeof(n->gateway), r.gateway);
	local_subnet(&r, n);
	resolvers(n);
	proxy_vars(n);
	if (!fingerprint(n))
		return false;
	if (label != NULL && label[0] != '\0')
		copy(n->label, sizeof(n->label), label);
	else
		snprintf(n->label, sizeof(n->label), "net-%.8s",
			 n->fingerprint);
	return true;
}

static void publish(const struct network_info *n)
{
	for (int i = 0; i < nsnapshots; i++)
		if (memcmp(&snapshots[i], n, sizeof(*n)) == 0) {
			atomic_store_explicit(&current, &snapshots[i],
					      memory_order_release);
			return;
		}
	if (nsnapshots == NET_SNAPSHOTS) {
		shim_log(LOG_INFO, "network %s: %d networks seen, events keep "
			 "naming the last one", n->label, NET_SNAPSHOTS);
		return;
	}
	snapshots[nsnapshots] = *n;
	atomic_store_explicit(&current, &snapshots[nsnapshots++],
			      memory_order_release);
}

const struct network_info *context_network(void)
{
	return atomic_load_explicit(&current, memory_order_acquire);
}

static bool refresh_begin(void)
{
	int me = (int)getpid(), holder = 0;

	if (atomic_compare_exchange_strong(&refresher, &holder, me))
		return true;
	return holder != me &&
	       atomic_compare_exchange_strong(&refresher, &holder, me);
}

static bool fresh(int max_age_s, const struct timespec *now)
{
	return refreshed && now->tv_sec - refreshed_at.tv_sec < max_age_s;
}

bool context_network_refresh(int max_age_s)
{
	struct network_info n;
	struct timespec now;
	bool changed = false;

	if (!refresh_begin())
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!fresh(max_age_s, &now) && network_read(&n)) {
		changed = strcmp(context_network()->fingerprint,
				 n.fingerprint) != 0;
		if (memcmp(context_network(), &n, sizeof(n)) != 0)
			publish(&n);
		refreshed_at = now;
		refreshed = true;
	}
	atomic_store(&refresher, 0);
	return changed;
}
