/* OpenSSL 3 looked up at run time: see ossl.h for why. */
#include "ossl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define OSSL_VERSION_NODE "OPENSSL_3.0.0"

struct ossl ossl;

static pthread_mutex_t resolve_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int resolved;

/* Resident libssl / libcrypto only: RTLD_NOLOAD never pulls OpenSSL into a
 * process that does not already have it. */
static void *resident(const char *soname)
{
	return dlopen(soname, RTLD_LAZY | RTLD_NOLOAD);
}

static void *lookup(void *ssl, void *crypto, const char *name)
{
	void *p = NULL;

	if (ssl != NULL)
		p = dlvsym(ssl, name, OSSL_VERSION_NODE);
	if (p == NULL && crypto != NULL)
		p = dlvsym(crypto, name, OSSL_VERSION_NODE);
	return p;
}

static int fill(void *ssl, void *crypto)
{
	int ok = 1;

#define OSSL_FILL(name)                                                        \
	ossl.name = (__typeof__(ossl.name))lookup(ssl, crypto, #name);         \
	ok &= ossl.name != NULL;
	OSSL_HOOKED(OSSL_FILL)
	OSSL_CALLED(OSSL_FILL)
#undef OSSL_FILL
	return ok;
}

int ossl_resolve(void)
{
	void *ssl, *crypto;
	int ok;

	if (atomic_load_explicit(&resolved, memory_order_acquire))
		return 1;
	pthread_mutex_lock(&resolve_lock);
	ok = atomic_load_explicit(&resolved, memory_order_relaxed);
	if (!ok) {
		ssl = resident("libssl.so.3");
		crypto = resident("libcrypto.so.3");
		ok = ssl != NULL && crypto != NULL && fill(ssl, crypto);
		/* The handles stay open on purpose: libssl must outlive the
		 * pointers taken from it. */
		if (ok)
			atomic_store_explicit(&resolved, 1, memory_order_release);
	}
	pthread_mutex_unlock(&resolve_lock);
	return ok;
}

void *ossl_real(const char *name, const void *self)
{
	void *ssl = resident("libssl.so.3");
	void *p = NULL;

	if (ssl != NULL)
		p = dlvsym(ssl, name, OSSL_VERSION_NODE);
	/* An unversioned or differently named libssl: the next definition
	 * after ours in the lookup order. */
	if (p == NULL)
		p = dlsym(RTLD_NEXT, name);
	if (p == self)
		p = NULL;
	return p;
}
