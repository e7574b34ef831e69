/* OpenSSL 3, reached at run time.
 *
 * libpinshim.so must not link libssl or libcrypto: it is preloaded into every
 * process, most of which never use TLS, and some (Python) load libssl with
 * RTLD_LOCAL so its symbols are not in the global scope.  Every OpenSSL
 * function the shim calls is therefore looked up with dlvsym() in the copy of
 * libssl.so.3 that the process already has, once that copy exists.
 * The pinshim CLI uses the same table, so shared code (policy, pins) has one
 * way to call OpenSSL. */
#ifndef PINSHIM_OSSL_H
#define PINSHIM_OSSL_H

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

/* The functions the shim wraps: their real definitions. */
#define OSSL_HOOKED(X)                                                         \
	X(SSL_CTX_new) X(SSL_CTX_new_ex) X(SSL_CTX_set_cert_verify_callback)   \
	X(SSL_connect) X(SSL_do_handshake) X(SSL_read) X(SSL_read_ex)          \
	X(SSL_write) X(SSL_write_ex) X(SSL_peek) X(SSL_peek_ex)

/* The functions the shim only calls. */
#define OSSL_CALLED(X)                                                         \
	X(SSL_get_ex_data_X509_STORE_CTX_idx) X(SSL_get_SSL_CTX)               \
	X(SSL_CTX_get_ex_data) X(SSL_CTX_set_ex_data) X(SSL_is_server)         \
	X(SSL_get_servername) X(SSL_get0_param) X(SSL_get_verify_mode)         \
	X(SSL_get_verify_callback) X(SSL_set_verify) X(SSL_get_session)        \
	X(SSL_set_session) X(SSL_SESSION_get_ex_data)                          \
	X(SSL_SESSION_set_ex_data) X(SSL_in_before) X(SSL_get_rbio)            \
	X(SSL_in_init) X(SSL_session_reused) X(SSL_get_ex_data)                \
	X(SSL_set_ex_data) X(SSL_get_peer_cert_chain)                          \
	X(SSL_get_version) X(CRYPTO_get_ex_new_index)                          \
	X(X509_STORE_CTX_get_ex_data) X(X509_STORE_CTX_get0_untrusted)         \
	X(X509_STORE_CTX_get0_chain) X(X509_STORE_CTX_get0_cert)               \
	X(X509_STORE_CTX_get_error) X(X509_STORE_CTX_set_error)                \
	X(X509_STORE_CTX_get_error_depth) X(X509_verify_cert)                  \
	X(X509_verify_cert_error_string) X(X509_VERIFY_PARAM_get0_host)        \
	X(X509_VERIFY_PARAM_get1_ip_asc)                                       \
	X(OPENSSL_sk_num) X(OPENSSL_sk_value) X(X509_get_X509_PUBKEY)          \
	X(i2d_X509_PUBKEY) X(i2d_X509) X(EVP_Digest) X(EVP_sha256)             \
	X(X509_get_subject_name) X(X509_get_issuer_name) X(X509_NAME_oneline)  \
	X(X509_get_serialNumber) X(X509_get0_notBefore) X(X509_get0_notAfter)  \
	X(ASN1_TIME_to_tm) X(ASN1_INTEGER_get_int64) X(ERR_set_mark)           \
	X(ERR_pop_to_mark) X(ERR_new) X(ERR_set_debug) X(ERR_set_error)        \
	X(ERR_get_next_error_library) X(ERR_load_strings) X(EVP_DecodeBlock)   \
	X(EVP_EncodeBlock) X(BIO_ctrl) X(BIO_next) X(OpenSSL_version)          \
	X(CRYPTO_free) X(BIO_new) X(BIO_s_mem) X(BIO_read) X(BIO_free) X(X509_NAME_print_ex)   \
	X(X509_digest) X(EVP_sha1) X(X509_get0_serialNumber) X(ASN1_STRING_get0_data) \
	X(ASN1_STRING_length) X(X509_up_ref) X(X509_free) X(OPENSSL_init_crypto) \
	X(d2i_X509)

#define OSSL_MEMBER(name) __typeof__(&name) name;
struct ossl {
	OSSL_HOOKED(OSSL_MEMBER)
	OSSL_CALLED(OSSL_MEMBER)
};
#undef OSSL_MEMBER

/* Filled by ossl_resolve(); read-only afterwards. */
extern struct ossl ossl;

/* Looks every function up in the resident libssl.so.3 / libcrypto.so.3.
 * Thread-safe and idempotent; never loads a library that is not resident.
 * 1 when every function was found, 0 otherwise (the shim then stays out of
 * the way and only passes calls through). */
int ossl_resolve(void);

/* The real definition of one hooked function, or NULL when libssl is not
 * (yet) resident.  Never returns the shim's own wrapper; a NULL is not
 * cached, so a later call after dlopen("libssl.so.3") succeeds. */
void *ossl_real(const char *name, const void *self);

#endif
