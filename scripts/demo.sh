#!/usr/bin/env bash
# The pinshim demo: installs what is missing, builds, starts a collector on
# SQLite (build/demo.db), and runs the failure lab's `mixed` scenario into
# it: real TLS servers, real curl / python3 / openssl / C clients under the
# shim, on several networks (real network namespaces when run as root) and
# app versions, with every failure cause of the design happening at once on
# its own host, next to healthy hosts.  Then it prints what the viewer
# makes of the database (summary, then diagnose), and how to open the web
# page.
#
# Idempotent: build/demo.db is recreated on every run (and kept afterwards
# for the viewer); the collector, the lab's servers, clients, proxies and
# namespaces are stopped and removed on exit or Ctrl-C; scratch files live in
# a temporary directory removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

# PINSHIM_BUILD: another build directory than build/ (a plain one).
build=${PINSHIM_BUILD:-build}
bash scripts/deps.sh
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null
build=$(cd "$build" && pwd)

work=$(mktemp -d /tmp/pinshim-demo.XXXXXX)
collector_pid=
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$collector_pid" ]; then
		kill -TERM "$collector_pid" 2>/dev/null || true
		wait "$collector_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
view=$build/viewer/pinshim-view
db=$build/demo.db

say "pinshim-collector: stores what the shims send, in SQLite ($db)"
rm -f "$db" "$db-wal" "$db-shm"
head -c 24 /dev/urandom | base64 >"$work/token"
"$build/collector/pinshim-collector" --listen 127.0.0.1:0 --db "$db" \
	--token-file "$work/token" >"$work/collector.out" 2>"$work/collector.log" &
collector_pid=$!
for _ in $(seq 100); do
	grep -q '^listening on' "$work/collector.out" 2>/dev/null && break
	sleep 0.1
done
collector=$(sed -n 's/^listening on //p' "$work/collector.out")
[ -n "$collector" ] || { echo "demo: the collector did not start" >&2; cat "$work/collector.log" >&2; exit 1; }
echo "listening on $collector"

say "the failure lab, scenario mixed: every cause at once, on its own host"
/usr/bin/python3 tests/lab/lab.py --list | sed 's/^/  /'
echo
# The lab runs in the foreground: Ctrl-C reaches it too, and it cleans up
# its servers, clients and namespaces before exiting.
/usr/bin/python3 tests/lab/lab.py mixed --db "$db" --build "$build" \
	--collector "$collector" --token-file "$work/token"

say "pinshim-view summary: every host, its handshakes and failures"
"$view" --db "$db" summary
say "pinshim-view diagnose: the likely cause of each host's failures"
"$view" --db "$db" diagnose

echo
echo "The database stays in $db.  Its known answers: tests/lab/scenarios/*.py."
echo "The web page:"
echo "  ${build#$top/}/viewer/pinshim-view --db ${db#$top/} serve --listen 127.0.0.1:8080"
echo "  then open http://127.0.0.1:8080/"
echo "One scenario on its own:"
echo "  /usr/bin/python3 tests/lab/lab.py rollover --db /tmp/rollover.db"
