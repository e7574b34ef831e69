#!/bin/sh
# libpinshim.so lands in every process it is preloaded into: it must export
# exactly the wrapped libssl functions (versioned OPENSSL_3.0.0) and connect
# (unversioned), nothing else.
set -eu
lib=$1
expected='SSL_CTX_new@@OPENSSL_3.0.0
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
connect'
# Defined dynamic symbols, minus the version node itself (type A).
actual=$(nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}' | LC_ALL=C sort)
if [ "$actual" != "$(printf '%s\n' "$expected" | LC_ALL=C sort)" ]; then
	echo "unexpected export list of $lib:"
	printf '%s\n' "$actual"
	exit 1
fi
echo "exports ok"
