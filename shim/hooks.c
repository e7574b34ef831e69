/* The exported face of libpinshim.so (the front, see front.h): the libssl
 * functions it wraps.
 *
 * Verification itself is caught by one cert verify callback installed on
 * every SSL_CTX: OpenSSL calls it on every full handshake, whatever started
 * it.  The callback runs the program's own verification (its callback, or
 * X509_verify_cert) and hands a client's result to the core, which decides
 * (verify.c).  The handshake entry points are wrapped for sessions only: a
 * resumed handshake has no certificate (session.c).  Every wrapper reaches
 * the real function even when the shim cannot work (OpenSSL or the core not
 * loadable): then it only passes calls through. */
#include "front.h"
#include "shim.h"

#include <pthread.h>

/* The program's own cert verify callback and its argument, per context. */
static int ctx_cb_idx = -1, ctx_arg_idx = -1;

/* The real definition of a wrapped function: from the resolved table when
 * the shim is active, else looked up alone (never cached as NULL). */
#define REAL(name)                                                             \
	(front_ready() ? ossl.name                                             \
		       : (__typeof__(&name))ossl_real(#name, (const void *)name))

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int ready;

static void init(void)
{
	ctx_cb_idx = ossl.CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0,
						  NULL, NULL, NULL, NULL);
	ctx_arg_idx = ossl.CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0,
						   NULL, NULL, NULL, NULL);
	if (ctx_cb_idx < 0 || ctx_arg_idx < 0) {
		shim_log(LOG_ERROR, "cannot allocate OpenSSL ex_data indexes; "
			 "pinning is off in this process");
		return;
	}
	ready = 1;
}

/* 1 when OpenSSL is resolved and the shim active, 0: pass through. */
static int front_ready(void)
{
	/* Retried while libssl is not resident (ossl_resolve caches no
	 * failure); pthread_once would freeze the first answer. */
	if (!ossl_resolve())
		return 0;
	pthread_once(&init_once, init);
	return ready;
}

/* The program's own verification: its cert verify callback, else
 * OpenSSL's. */
static int program_verify(SSL *s, X509_STORE_CTX *xs)
{
	SSL_CTX *ctx = s != NULL ? ossl.SSL_get_SSL_CTX(s) : NULL;
	int (*cb)(X509_STORE_CTX *, void *) = NULL;
	int ok;

	if (ctx != NULL)
		cb = (int (*)(X509_STORE_CTX *, void *))ossl.SSL_CTX_get_ex_data(
			ctx, ctx_cb_idx);
	if (cb != NULL)
		return cb(xs, ossl.SSL_CTX_get_ex_data(ctx, ctx_arg_idx));
	ok = ossl.X509_verify_cert(xs);
	return ok < 0 ? 0 : ok; /* as OpenSSL itself treats it */
}

/* The cert verify callback of every context. */
static int verify_cb(X509_STORE_CTX *xs, void *unused)
{
	SSL *s = ossl.X509_STORE_CTX_get_ex_data(
		xs, ossl.SSL_get_ex_data_X509_STORE_CTX_idx());
	int ok = program_verify(s, xs);
	const struct pinshim_core *core;

	/* < 0: the program asked OpenSSL to retry verification later; it will
	 * call us again then. */
	if (ok < 0 || s == NULL || ossl.SSL_is_server(s))
		return ok;
	core = core_get();
	return core != NULL ? core->decide(s, xs, ok) : ok;
}

static SSL_CTX *adopt_ctx(SSL_CTX *ctx)
{
	if (ctx != NULL && front_ready())
		ossl.SSL_CTX_set_cert_verify_callback(ctx, verify_cb, NULL);
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

/* The program's own callback keeps running: verify_cb calls it in place
 * of X509_verify_cert, then the core checks the pins on what it decided. */
__attribute__((visibility("default")))
void SSL_CTX_set_cert_verify_callback(SSL_CTX *ctx,
				      int (*cb)(X509_STORE_CTX *, void *),
				      void *arg)
{
	__typeof__(&SSL_CTX_set_cert_verify_callback) real =
		REAL(SSL_CTX_set_cert_verify_callback);

	if (real == NULL)
		return;
	if (!front_ready()) {
		real(ctx, cb, arg);
		return;
	}
	ossl.SSL_CTX_set_ex_data(ctx, ctx_cb_idx, (void *)cb);
	ossl.SSL_CTX_set_ex_data(ctx, ctx_arg_idx, arg);
	real(ctx, verify_cb, NULL);
}

/* Before an entry point: whether a client handshake is under way, so that
 * its end is seen.  A client about to resume a session needs the core
 * (the policy) now; nothing else here opens it. */
static bool before_call(SSL *s)
{
	const struct pinshim_core *core;

	if (s == NULL || !front_ready() || !ossl.SSL_in_init(s) ||
	    ossl.SSL_is_server(s))
		return false;
	if (ossl.SSL_in_before(s) && ossl.SSL_get_session(s) != NULL &&
	    (core = core_get()) != NULL)
		core->before_resume(s);
	return true;
}

static void after_call(SSL *s, bool in_handshake)
{
	const struct pinshim_core *core;

	if (in_handshake && !ossl.SSL_in_init(s) &&
	    (core = core_if_open()) != NULL)
		core->handshake_done(s);
}

/* Each entry point that can start a client handshake. */
#define ENTRY(ret, name, params, args)                                         \
	__attribute__((visibility("default"))) ret name params                 \
	{                                                                      \
		__typeof__(&name) real = REAL(name);                           \
		bool hs;                                                       \
		ret r;                                                         \
		if (real == NULL)                                              \
			return -1;                                             \
		hs = before_call(s);                                           \
		r = real args;                                                 \
		after_call(s, hs);                                             \
		return r;                                                      \
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
