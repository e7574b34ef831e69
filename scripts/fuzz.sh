#!/usr/bin/env bash
# Fuzzes one of pinshim's parsers with libFuzzer (clang from Debian):
#
#   scripts/fuzz.sh [frame|policy] [SECONDS]      (default: frame 60)
#   FUZZ_RUNS=10000000 scripts/fuzz.sh policy 0   stop after N inputs instead
#
#   frame   every byte the collector reads from a sender: framing, the
#           protobuf decoders, the bounds, the store's checks and inserts
#           (tests/fuzz/fuzz_frame.c)
#   policy  the policy parser, on any bytes as a policy file
#           (tests/fuzz/fuzz_policy.c)
#
# Builds the target with -fsanitize=fuzzer,address,undefined into
# build-fuzz/ (a direct clang command line: no meson option needed), starts
# from the seeds in tests/fuzz/corpus/TARGET/ and keeps what it finds in
# build-fuzz/corpus-TARGET/.  A crash leaves its input in build-fuzz/ as
# crash-*; replay it with build-fuzz/fuzz-TARGET FILE.  Exit status is
# libFuzzer's: 0 when nothing was found.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

target=${1:-frame}
seconds=${2:-60}
out=${FUZZ_BUILD:-build-fuzz}
cc=${CC_FUZZ:-clang}

case $target in
frame | policy) ;;
*)
	echo "usage: scripts/fuzz.sh [frame|policy] [SECONDS]" >&2
	exit 2
	;;
esac
command -v "$cc" >/dev/null || {
	echo "fuzz.sh: $cc not found (apt-get install clang)" >&2
	exit 1
}

mkdir -p "$out/gen" "$out/corpus-$target"
protoc-c --c_out="$out/gen" --proto_path=proto proto/pinshim.proto
protoc-c --c_out="$out/gen" --proto_path=store --proto_path=proto \
	store/batchview.proto

cflags=(-g -O1 -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -std=gnu11)

if [ "$target" = frame ]; then
	# shellcheck disable=SC2046
	# the store derives certificate fields with the shim's certinfo.c
	"$cc" "${cflags[@]}" -I"$out/gen" -Iproto -Istore -Icollector -Ishim \
		tests/fuzz/fuzz_frame.c collector/frame.c collector/arena.c \
		collector/budget.c \
		store/store.c store/schema.c store/cache.c store/keys.c \
		store/prepare.c store/certseen.c store/put.c store/rollup.c \
		store/stats.c \
		store/failures.c \
		shim/certinfo.c shim/pin.c shim/ossl.c \
		proto/wire.c proto/validate.c \
		"$out/gen/pinshim.pb-c.c" "$out/gen/batchview.pb-c.c" \
		$(pkg-config --cflags --libs libprotobuf-c sqlite3 libssl libcrypto \
			json-c) \
		-lpthread -ldl -o "$out/fuzz-frame"
	extra=(-max_len=16384)
else
	# shellcheck disable=SC2046
	"$cc" "${cflags[@]}" -Ishim \
		tests/fuzz/fuzz_policy.c shim/policy.c shim/policy_hosts.c shim/pin.c \
		shim/ossl.c \
		$(pkg-config --cflags --libs libssl libcrypto) -ldl \
		-o "$out/fuzz-policy"
	extra=(-max_len=20000)
fi

limit=(-max_total_time="$seconds")
[ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
cd "$out"
exec "./fuzz-$target" "${limit[@]}" -print_final_stats=1 \
	"${extra[@]}" "corpus-$target" "$root/tests/fuzz/corpus/$target"
