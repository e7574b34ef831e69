/* The exported face of libpinshim.so: the libssl functions it wraps.
 *
 * Verification itself is caught by one cert verify callback installed on
 * every SSL_CTX (verify.c): OpenSSL calls it on every full client handshake,
 * whatever started it.  The handshake entry points are wrapped only to stop
 * session resumption, which has no certificate, from skipping the pins
 * (session.c).  Every wrapper reaches the real function even when the shim
 * cannot work (OpenSSL not resolvable): then it only passes calls through. */
#include "shim.h"

#include <pthread.h>

struct shim_state shim = { -1, -1, -1, 0 };

/* The real definition of a wrapped function: from the resolved table when
 * the shim is active, else looked up alone (never cached as NULL). */
#define REAL(name)                                                             \
	(shim_ready() ? ossl.name                                              \
		      : (__typeof__(&name))ossl_real(#name, (const void *)name))

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int ready;

static void register_errors(void)
{
	/* Static storage: OpenSSL keeps pointers to these strings. */
	static ERR_STRING_DATA strings[4];

	shim.err_lib = ossl.ERR_get_next_error_library();
	strings[0].error = ERR_PACK(shim.err_lib, 0, 0);
	strings[0].string = "pinshim";
	strings[1].error = ERR_PACK(shim.err_lib, 0, 1);
	strings[1].string = "certificate pin mismatch";
	strings[2].error = ERR_PACK(shim.err_lib, 0, 2);
	strings[2].string = "policy not loaded (PINSHIM_FAIL=closed)";
	ossl.ERR_load_strings(shim.err_lib, strings);
}

static void init(void)
{
	if (!ossl_resolve())
		return;
	shim.ctx_cb_idx = ossl.CRYPTO_get_ex_new_index(
		CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL, NULL, NULL);
	shim.ctx_arg_idx = ossl.CRYPTO_get_ex_new_index(
		CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL, NULL, NULL);
	shim.sess_idx = ossl.CRYPTO_get_ex_new_index(
		CRYPTO_EX_INDEX_SSL_SESSION, 0, NULL, NULL, NULL, NULL);
	if (shim.ctx_cb_idx < 0 || shim.ctx_arg_idx < 0 || shim.sess_idx < 0) {
		shim_log(LOG_ERROR, "cannot allocate OpenSSL ex_data indexes; "
			 "pinning is off in this process");
		return;
	}
	register_errors();
	ready = 1;
}

int shim_ready(void)
{
	/* Retried while libssl is not resident (ossl_resolve caches no
	 * failure); pthread_once would freeze the first answer. */
	if (!ossl_resolve())
		return 0;
	pthread_once(&init_once, init);
	return ready;
}

static SSL_CTX *adopt_ctx(SSL_CTX *ctx)
{
	if (ctx != NULL && shim_ready())
		ossl.SSL_CTX_set_cert_verify_callback(ctx, verify_cert_cb, NULL);
	return ctx;
}

__attribute__((visibility("default")))
SSL_CTX *SSL_CTX_new(const SSL_METHOD *method)
{
	__typeof__(&SSL_CTX_new) real = REAL(SSL_CTX_new);

	return real != NULL ? adopt_ctx(real(method)) : NULL;
}

__attribute__((visibility("default")))
SSL_CTX *SSL_CTX_new_ex(OSSL_LIB_CTX *libctx, const char *propq,
			const SSL_METHOD *method)
{
	__typeof__(&SSL_CTX_new_ex) real = REAL(SSL_CTX_new_ex);

	return real != NULL ? adopt_ctx(real(libctx, propq, method)) : NULL;
}

/* The program's own callback keeps running: verify.c calls it in place of
 * X509_verify_cert, then checks the pins on what it decided. */
__attribute__((visibility("default")))
void SSL_CTX_set_cert_verify_callback(SSL_CTX *ctx,
				      int (*cb)(X509_STORE_CTX *, void *),
				      void *arg)
{
	__typeof__(&SSL_CTX_set_cert_verify_callback) real =
		REAL(SSL_CTX_set_cert_verify_callback);

	if (real == NULL)
		return;
	if (!shim_ready()) {
		real(ctx, cb, arg);
		return;
	}
	ossl.SSL_CTX_set_ex_data(ctx, shim.ctx_cb_idx, (void *)cb);
	ossl.SSL_CTX_set_ex_data(ctx, shim.ctx_arg_idx, arg);
	real(ctx, verify_cert_cb, NULL);
}

static void before_handshake(SSL *s)
{
	if (s != NULL && shim_ready())
		session_precheck(s);
}

/* Each entry point that can start a client handshake. */
#define ENTRY(ret, name, params, args)                                         \
	__attribute__((visibility("default"))) ret name params                 \
	{                                                                      \
		__typeof__(&name) real = REAL(name);                           \
		if (real == NULL)                                              \
			return -1;                                             \
		before_handshake(s);                                           \
		return real args;                                              \
	}

ENTRY(int, SSL_connect, (SSL *s), (s))
ENTRY(int, SSL_do_handshake, (SSL *s), (s))
ENTRY(int, SSL_read, (SSL *s, void *buf, int num), (s, buf, num))
ENTRY(int, SSL_peek, (SSL *s, void *buf, int num), (s, buf, num))
ENTRY(int, SSL_write, (SSL *s, const void *buf, int num), (s, buf, num))
ENTRY(int, SSL_read_ex, (SSL *s, void *buf, size_t num, size_t *readbytes),
      (s, buf, num, readbytes))
ENTRY(int, SSL_peek_ex, (SSL *s, void *buf, size_t num, size_t *readbytes),
      (s, buf, num, readbytes))
ENTRY(int, SSL_write_ex,
      (SSL *s, const void *buf, size_t num, size_t *written),
      (s, buf, num, written))
