/* The handshake's call stack, captured on the failure path so an event names
 * the library that opened the connection (libcurl, Python's _ssl, ...).
 *
 * Only instruction pointers are taken here (libunwind's unw_backtrace: about
 * 0.4 µs for 35 frames once warm, against 16 µs for an unw_step loop, which
 * re-reads the unwind tables at every frame); record.c names the modules and
 * symbols later, on the sender thread.
 *
 * libunwind is opened with dlopen(RTLD_LOCAL) on the first failure, not
 * linked: libunwind.so.8 defines _Unwind_RaiseException and the rest of the
 * C++ unwinding ABI, and as a dependency of a preloaded library it would sit
 * in every program's global scope ahead of libgcc_s, taking over the
 * exceptions of every C++ program run under the shim.  Local, it serves us
 * only.  The first capture pays for the dlopen and libunwind's caches (a few
 * hundred µs, once per process, and per thread for the trace cache). */
#define UNW_LOCAL_ONLY
#include "shim.h"

#include <dlfcn.h>
#include <elf.h>
#include <libunwind.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Frames taken before the shim's own are dropped: ours (callback, decision,
 * record) and a wrapper further out. */
#define STACK_RAW (STACK_MAX + 32)

static __typeof__(&unw_backtrace) backtrace_fn;  /* in libunwind.so.8 */
/* The shim's own objects: [0] the core (this file's), [1] the front. */
struct range {
	uintptr_t lo, hi;
};
static struct range shim_text[2];
static pthread_once_t stack_once = PTHREAD_ONCE_INIT;

/* The mapped range of the object whose segments hold what->lo. */
static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct range *what = arg;
	uintptr_t self = what->lo, lo = UINTPTR_MAX, hi = 0;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD)
			continue;
		if (start < lo)
			lo = start;
		if (start + ph->p_memsz > hi)
			hi = start + ph->p_memsz;
	}
	if (self < lo || self >= hi)
		return 0;
	what->lo = lo;
	what->hi = hi;
	return 1;
}

static void find_range(struct range *r, const void *addr)
{
	r->lo = (uintptr_t)addr;
	r->hi = 0;
	if (dl_iterate_phdr(find_object, r) == 0)
		r->lo = 0;                 /* not found: no range */
}

void stack_skip_object(const void *addr)
{
	find_range(&shim_text[1], addr);
}

static void stack_init(void)
{
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);

	find_range(&shim_text[0], (const void *)stack_capture);
	if (h != NULL)
		backtrace_fn = (__typeof__(backtrace_fn))dlsym(h,
							       "unw_backtrace");
	if (backtrace_fn == NULL)
		shim_log(LOG_INFO, "libunwind.so.8: %s; events carry no stack",
			 h == NULL ? dlerror() : "no unw_backtrace");
}

static bool in_shim(const void *ip)
{
	for (size_t i = 0; i < 2; i++)
		if ((uintptr_t)ip >= shim_text[i].lo &&
		    (uintptr_t)ip < shim_text[i].hi)
			return true;
	return false;
}

void stack_capture(struct stack_ips *out)
{
	void *raw[STACK_RAW];
	int n;

	out->n = 0;
	pthread_once(&stack_once, stack_init);
	if (backtrace_fn == NULL)
		return;
	n = backtrace_fn(raw, STACK_RAW);
	for (int i = 0; i < n && out->n < STACK_MAX; i++)
		if (!in_shim(raw[i]))
			out->ip[out->n++] = raw[i];
}

/* NT_GNU_BUILD_ID among the notes of one PT_NOTE segment. */
static bool note_build_id(const unsigned char *p, size_t len, size_t align,
			  char *out, size_t outlen)
{
	static const char digits[] = "0123456789abcdef";

	while (len >= sizeof(ElfW(Nhdr))) {
		const ElfW(Nhdr) *nh = (const void *)p;
		size_t name = (nh->n_namesz + align - 1) & ~(align - 1);
		size_t desc = (nh->n_descsz + align - 1) & ~(align - 1);
		size_t step = sizeof(*nh) + name + desc;

		if (name < nh->n_namesz || desc < nh->n_descsz || step > len)
			return false;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
		    memcmp(p + sizeof(*nh), "GNU", 4) == 0 &&
		    nh->n_descsz * 2 < outlen) {
			const unsigned char *d = p + sizeof(*nh) + name;

			for (size_t i = 0; i < nh->n_descsz; i++) {
				out[2 * i] = digits[d[i] >> 4];
				out[2 * i + 1] = digits[d[i] & 15];
			}
			out[2 * nh->n_descsz] = '\0';
			return true;
		}
		p += step;
		len -= step;
	}
	return false;
}

/* A note is read only where a PT_LOAD maps it: a PT_NOTE outside every
 * loaded segment is not in memory. */
static bool mapped(const struct dl_phdr_info *info, const ElfW(Phdr) *note)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && note->p_vaddr >= ph->p_vaddr &&
		    note->p_vaddr + note->p_memsz <= ph->p_vaddr + ph->p_filesz)
			return true;
	}
	return false;
}

void stack_build_id(const struct dl_phdr_info *info, char *out, size_t len)
{
	out[0] = '\0';
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		size_t align = ph->p_align == 8 ? 8 : 4;

		if (ph->p_type != PT_NOTE || !mapped(info, ph))
			continue;
		if (note_build_id((const void *)(info->dlpi_addr + ph->p_vaddr),
				  ph->p_memsz, align, out, len))
			return;
	}
}
