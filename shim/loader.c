/* Opening the core (front): libpinshim-core.so, from the directory
 * libpinshim.so itself was loaded from (never from a search path or the
 * environment: a privileged process loads exactly what the machine's
 * preload list names, and what lies beside it).  Once per process, on the
 * first handshake or session resumption; a core that cannot be opened is
 * logged once and the process goes on unpinned. */
#include "front.h"
#include "shim.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static const struct pinshim_front lent = {
	.abi = PINSHIM_ABI,
	.recent = connect_recent,
	.text = (const void *)core_get,
};
static pthread_once_t open_once = PTHREAD_ONCE_INIT;
static _Atomic(const struct pinshim_core *) core;

/* PINSHIM_CORE_FILE beside this library.  0, or -1 logged. */
static int core_path(char *out, size_t len)
{
	Dl_info info;
	const char *slash;

	if (dladdr((const void *)core_get, &info) == 0 ||
	    info.dli_fname == NULL ||
	    (slash = strrchr(info.dli_fname, '/')) == NULL) {
		shim_log(LOG_ERROR, "cannot tell where libpinshim.so was "
			 "loaded from (preload it by absolute path); pins are "
			 "not checked in this process");
		return -1;
	}
	if ((size_t)snprintf(out, len, "%.*s/%s", (int)(slash - info.dli_fname),
			     info.dli_fname, PINSHIM_CORE_FILE) >= len)
		return -1;
	return 0;
}

static void open_core(void)
{
	char path[PATH_MAX];
	void *h;
	pinshim_core_open_fn entry;
	const struct pinshim_core *c = NULL;

	if (core_path(path, sizeof(path)) < 0)
		return;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (h == NULL) {
		shim_log(LOG_ERROR, "cannot load %s; pins are not checked in "
			 "this process", dlerror());
		return;
	}
	entry = (pinshim_core_open_fn)dlsym(h, PINSHIM_CORE_ENTRY);
	if (entry != NULL)
		c = entry(&lent);
	if (c == NULL || c->abi != PINSHIM_ABI) {
		shim_log(LOG_ERROR, "%s is not the core of this libpinshim.so "
			 "(another build?); pins are not checked in this process",
			 path);
		return;
	}
	atomic_store_explicit(&core, c, memory_order_release);
}

const struct pinshim_core *core_get(void)
{
	const struct pinshim_core *c =
		atomic_load_explicit(&core, memory_order_acquire);

	if (c != NULL)
		return c;
	pthread_once(&open_once, open_core);
	return atomic_load_explicit(&core, memory_order_acquire);
}

const struct pinshim_core *core_if_open(void)
{
	return atomic_load_explicit(&core, memory_order_acquire);
}
