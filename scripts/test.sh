#!/usr/bin/env bash
# Sets up, builds and runs every test: once in a plain build and once under
# AddressSanitizer + UndefinedBehaviorSanitizer.  Ends with the line
# "N passed, M failed" summed from meson's own counts.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh || exit 1

passed=0
failed=0
status=0

# Reads meson's summary ("Ok: N", "Fail: M", ...) from its output.
count() {
	local log=$1 key=$2
	sed -n "s/^${key}:[[:space:]]*\([0-9]\+\).*/\1/p" "$log" | tail -n 1
}

# run_suite BUILDDIR TIMEOUT_MULTIPLIER [meson setup options...]
run_suite() {
	local dir=$1 mult=$2
	shift 2
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" || return 1
	local log
	log=$(mktemp)
	meson test -C "$dir" --print-errorlogs --num-processes 2 \
		--timeout-multiplier "$mult" | tee "$log"
	local rc=${PIPESTATUS[0]}
	local ok fail unexp timeout
	ok=$(count "$log" "Ok")
	fail=$(count "$log" "Fail")
	unexp=$(count "$log" "Unexpected Pass")
	timeout=$(count "$log" "Timeout")
	rm -f "$log"
	passed=$((passed + ${ok:-0}))
	failed=$((failed + ${fail:-0} + ${unexp:-0} + ${timeout:-0}))
	return "$rc"
}

run_suite build 1 || status=1
# Sanitized code and a preloaded ASan runtime run a few times slower.
run_suite build-asan 3 -Db_sanitize=address,undefined -Db_lundef=false || status=1

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
	failed=1 # a build or setup failure counts, even with no test run
fi
echo "$passed passed, $failed failed"
exit "$status"
