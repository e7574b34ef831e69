/* _exit and _Exit (front).  A process that ends without exit() runs no
 * atexit handler: Python's os._exit, multiprocessing's pool workers, most
 * forked children.  What the shim counted there would die with it.  When
 * the core is open in this process, it hands over what its sender holds,
 * bounded as at exit (sender.c: a few milliseconds to a live collector,
 * EXIT_WAIT_MS at most); then the real _exit.  A process that never
 * handshaked has no core open: the call goes straight through.
 *
 * Exported unversioned, like connect (connect.c), so that references to
 * _exit@GLIBC_2.2.5 bind here first. */
#include "front.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef void (*exit_fn)(int);

/* The next definition of name (libc's, or another preload's). */
static exit_fn real(const char *name, void *self, _Atomic(exit_fn) *cache)
{
	exit_fn fn = atomic_load_explicit(cache, memory_order_acquire);

	if (fn == NULL) {
		fn = (exit_fn)dlsym(RTLD_NEXT, name);
		if ((void *)fn == self)
			fn = NULL;
		atomic_store_explicit(cache, fn, memory_order_release);
	}
	return fn;
}

static void hand_over(void)
{
	const struct pinshim_core *core = core_if_open();

	if (core != NULL && core->before_exit != NULL)
		core->before_exit();
}

__attribute__((noreturn)) static void end(exit_fn fn, int status)
{
	if (fn != NULL)
		fn(status);
	for (;;)
		syscall(SYS_exit_group, status);
}

__attribute__((visibility("default"), noreturn))
void _exit(int status)
{
	static _Atomic(exit_fn) cache;

	hand_over();
	end(real("_exit", (void *)_exit, &cache), status);
}

__attribute__((visibility("default"), noreturn))
void _Exit(int status)
{
	static _Atomic(exit_fn) cache;

	hand_over();
	end(real("_Exit", (void *)_Exit, &cache), status);
}
