/* libpinshim-core.so's entry (see front.h): the front calls
 * pinshim_core_open once, on the process's first handshake, from a thread
 * inside OpenSSL (libssl is resident). */
#include "front.h"
#include "shim.h"

const struct pinshim_front *front;
struct shim_state shim = { -1, -1, 0 };

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

static const struct pinshim_core core = {
	.abi = PINSHIM_ABI,
	.decide = verify_decide,
	.before_resume = session_before_resume,
	.handshake_done = session_handshake_done,
	.before_exit = sender_before_exit,
};

__attribute__((visibility("default")))
const struct pinshim_core *pinshim_core_open(const struct pinshim_front *f)
{
	if (f == NULL || f->abi != PINSHIM_ABI || !ossl_resolve())
		return NULL;
	shim.sess_idx = ossl.CRYPTO_get_ex_new_index(
		CRYPTO_EX_INDEX_SSL_SESSION, 0, NULL, NULL, NULL, NULL);
	shim.ssl_idx = ossl.CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0,
						    NULL, NULL, NULL, NULL);
	if (shim.sess_idx < 0 || shim.ssl_idx < 0) {
		shim_log(LOG_ERROR, "cannot allocate OpenSSL ex_data indexes; "
			 "pinning is off in this process");
		return NULL;
	}
	register_errors();
	stack_skip_object(f->text);
	front = f;
	return &core;
}
