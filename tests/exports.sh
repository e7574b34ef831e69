#!/bin/sh
# libpinshim.so lands in every process it is preloaded into: it must export
# exactly the wrapped libssl functions (versioned OPENSSL_3.0.0), connect,
# _exit and _Exit (unversioned), nothing else, and need nothing but libc at load time (an
# idle process must pay almost nothing).  libpinshim-core.so, opened by it
# on the first handshake, exports its one entry and needs only libc too: the
# libraries it uses are opened when first used (shim/lazy.c).
set -eu
front=$1
core=$2
fail=0

# check WHAT LIB EXPECTED ACTUAL
check() {
	if [ "$4" != "$(printf '%s\n' "$3" | LC_ALL=C sort)" ]; then
		echo "unexpected $1 of $2:"
		printf '%s\n' "$4"
		fail=1
	fi
}
# Defined dynamic symbols, minus the version node itself (type A).
exports() {
	nm -D --defined-only "$1" | awk '$2 != "A" {print $3}' | LC_ALL=C sort
}
# The sanitizer build's runtimes aside: -fsanitize links them on purpose.
needed() {
	readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
		grep -Ev '^lib(asan|ubsan|tsan|lsan|hwasan)\.so' | LC_ALL=C sort
}

check "export list" "$front" 'SSL_CTX_new@@OPENSSL_3.0.0
SSL_CTX_new_ex@@OPENSSL_3.0.0
SSL_CTX_set_cert_verify_callback@@OPENSSL_3.0.0
SSL_connect@@OPENSSL_3.0.0
SSL_do_handshake@@OPENSSL_3.0.0
SSL_peek@@OPENSSL_3.0.0
SSL_peek_ex@@OPENSSL_3.0.0
SSL_read@@OPENSSL_3.0.0
SSL_read_ex@@OPENSSL_3.0.0
SSL_write@@OPENSSL_3.0.0
SSL_write_ex@@OPENSSL_3.0.0
_Exit
_exit
connect' "$(exports "$front")"
check "export list" "$core" 'pinshim_core_open' "$(exports "$core")"
for lib in "$front" "$core"; do
	check "NEEDED list" "$lib" 'libc.so.6' "$(needed "$lib")"
done
[ "$fail" -eq 0 ] || exit 1
echo "exports and NEEDED ok"
