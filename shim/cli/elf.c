/* What the dynamic loader will see of an executable: whether it runs at all
 * (PT_INTERP) and which TLS library it asks for (DT_NEEDED).  Only the
 * machine's own ELF class is read; anything else is "unknown", never an
 * error, since this only decides whether to print a warning. */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Bounds on what is read: a real executable is far below them. */
#define ELF_MAX_PHDRS 512
#define ELF_MAX_DYNAMIC (64 * 1024)
#define ELF_MAX_STRTAB (1024 * 1024)

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ELF_NATIVE_DATA ELFDATA2LSB
#else
#define ELF_NATIVE_DATA ELFDATA2MSB
#endif
#if __SIZEOF_POINTER__ == 8
#define ELF_NATIVE_CLASS ELFCLASS64
#else
#define ELF_NATIVE_CLASS ELFCLASS32
#endif

/* malloc'd copy of len bytes at off, or NULL. */
static void *read_at(int fd, off_t off, size_t len)
{
	void *buf = len > 0 ? malloc(len) : NULL;

	if (buf != NULL && pread(fd, buf, len, off) != (ssize_t)len) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

/* The file offset of virtual address vaddr, through the PT_LOAD holding
 * it; -1 when none does. */
static off_t vaddr_offset(const ElfW(Phdr) *ph, int n, ElfW(Addr) vaddr)
{
	for (int i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && vaddr >= ph[i].p_vaddr &&
		    vaddr - ph[i].p_vaddr < ph[i].p_filesz)
			return (off_t)(ph[i].p_offset + (vaddr - ph[i].p_vaddr));
	return -1;
}

static void classify_needed(const char *name, struct elf_info *out)
{
	if (strncmp(name, "libssl.so", 9) == 0)
		out->needs_libssl = true;
	if (strstr(name, "gnutls") != NULL)
		out->needs_gnutls = true;
	if (strncmp(name, "libnss3.so", 10) == 0)
		out->needs_nss = true;
}

/* DT_NEEDED names of the PT_DYNAMIC segment dyn, through its DT_STRTAB. */
static void read_needed(int fd, const ElfW(Phdr) *ph, int n,
			const ElfW(Phdr) *dyn, struct elf_info *out)
{
	size_t ndyn = dyn->p_filesz / sizeof(ElfW(Dyn)), strsz = 0;
	ElfW(Dyn) *d = NULL;
	ElfW(Addr) strtab = 0;
	char *str = NULL;
	off_t stroff;

	if (dyn->p_filesz > ELF_MAX_DYNAMIC)
		return;
	d = read_at(fd, (off_t)dyn->p_offset, ndyn * sizeof(*d));
	for (size_t i = 0; d != NULL && i < ndyn; i++) {
		if (d[i].d_tag == DT_STRTAB)
			strtab = d[i].d_un.d_ptr;
		if (d[i].d_tag == DT_STRSZ)
			strsz = d[i].d_un.d_val;
	}
	stroff = strtab != 0 ? vaddr_offset(ph, n, strtab) : -1;
	if (stroff < 0 || strsz == 0 || strsz > ELF_MAX_STRTAB)
		goto out;
	str = read_at(fd, stroff, strsz);
	for (size_t i = 0; str != NULL && i < ndyn; i++)
		if (d[i].d_tag == DT_NEEDED && d[i].d_un.d_val < strsz &&
		    memchr(str + d[i].d_un.d_val, '\0',
			   strsz - d[i].d_un.d_val) != NULL)
			classify_needed(str + d[i].d_un.d_val, out);
out:
	free(str);
	free(d);
}

static bool header_ok(const ElfW(Ehdr) *eh)
{
	return memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
	       eh->e_ident[EI_CLASS] == ELF_NATIVE_CLASS &&
	       eh->e_ident[EI_DATA] == ELF_NATIVE_DATA &&
	       eh->e_phentsize == sizeof(ElfW(Phdr)) &&
	       eh->e_phnum <= ELF_MAX_PHDRS;
}

int elf_inspect(const char *path, struct elf_info *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ElfW(Ehdr) eh;
	ElfW(Phdr) *ph = NULL;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    !header_ok(&eh))
		goto out;
	ph = read_at(fd, (off_t)eh.e_phoff, eh.e_phnum * sizeof(*ph));
	if (ph == NULL)
		goto out;
	out->known = true;
	for (int i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_INTERP)
			out->dynamic = true;
	for (int i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			read_needed(fd, ph, eh.e_phnum, &ph[i], out);
out:
	free(ph);
	close(fd);
	return 0;
}
