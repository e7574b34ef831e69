#!/usr/bin/env bash
# The pinshim demo: installs what is missing, builds, then shows the shim
# pinning unmodified curl and python3 against local TLS servers, and their
# failures reaching the collector and the viewer.
#
#   one server presents the pinned key; another has rolled over to a new key
#   that the policy does not list yet.  Observe mode lets the rotated server
#   through and records it; enforce mode blocks it.  Every failure is shipped
#   by the shim's sender to pinshim-collector, stored in SQLite
#   (build/demo.db) and listed with pinshim-view at the end.
#
# Idempotent: the servers and the collector are stopped on exit or Ctrl-C,
# scratch files live in a temporary directory removed on exit, and
# build/demo.db is recreated on every run (kept afterwards for the viewer).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

work=$(mktemp -d /tmp/pinshim-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pinshim=$top/build/shim/cli/pinshim
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

serve() { # serve LEAF PORT
	openssl s_server -quiet -www -accept "127.0.0.1:$2" \
		-cert "$work/pki/$1.pem" -key "$work/pki/$1.key.pem" \
		-cert_chain "$work/pki/int1.pem" </dev/null >/dev/null 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: server on port $2 did not start" >&2
	exit 1
}

say "a test PKI: root, intermediate, the pinned leaf and a rotated leaf"
tests/pki/mkpki "$work/pki" >/dev/null
good=$(free_port); serve leaf "$good"
rotated=$(free_port); serve rotated "$rotated"
echo "api.pinned.test serves the pinned key on 127.0.0.1:$good"
echo "the same name on 127.0.0.1:$rotated has rolled over to a new key"

say "pinshim pin: the pins of a live chain"
"$pinshim" pin "127.0.0.1:$good"

leaf_pin=$("$pinshim" pin "$work/pki/leaf.pem" | awk '{print $2}')
spare_pin=$("$pinshim" pin "$work/pki/ecdsa.pem" | awk '{print $2}')
cat >"$work/policy.ini" <<INI
[policy]
version = demo-1
mode = observe
token = $work/token

[host pinned.test]
pin = $leaf_pin   ; the current key
pin = $spare_pin   ; backup: a spare key, not yet deployed
mode = enforce
INI

say "the policy, and what pinshim check says of it"
cat "$work/policy.ini"
"$pinshim" check "$work/policy.ini" && echo "(clean)"

say "pinshim-collector: stores what the shims send, in SQLite"
db=$top/build/demo.db
rm -f "$db" "$db-wal" "$db-shm"
head -c 24 /dev/urandom | base64 >"$work/token"
"$top/build/collector/pinshim-collector" --listen 127.0.0.1:0 --db "$db" \
	--token-file "$work/token" >"$work/collector.out" 2>"$work/collector.log" &
pids+=($!)
for _ in $(seq 50); do
	grep -q '^listening on' "$work/collector.out" 2>/dev/null && break
	sleep 0.1
done
collector=$(sed -n 's/^listening on //p' "$work/collector.out")
[ -n "$collector" ] || { echo "demo: the collector did not start" >&2; cat "$work/collector.log" >&2; exit 1; }
echo "listening on $collector, database $db"
export PINSHIM_COLLECTOR=$collector PINSHIM_SPOOL=$work/spool
export PINSHIM_EVENTS_FILE=$work/events.jsonl
curl_to() { # curl_to PORT
	curl -sS -o /dev/null -w 'HTTP %{http_code}\n' --cacert "$work/pki/root.pem" \
		--resolve "pinned.test:$1:127.0.0.1" "https://pinned.test:$1/"
}

say "curl, pinned key, enforce: passes"
"$pinshim" run --policy "$work/policy.ini" -- bash -c "$(declare -f curl_to); work=$work curl_to $good"

say "curl, rotated key, observe: passes, and the mismatch is recorded"
"$pinshim" run --observe --policy "$work/policy.ini" -- bash -c "$(declare -f curl_to); work=$work curl_to $rotated"

say "curl, rotated key, enforce: blocked before any request byte is sent"
"$pinshim" run --enforce --policy "$work/policy.ini" -- bash -c "$(declare -f curl_to); work=$work curl_to $rotated" || echo "(curl exit status $?)"

say "python3, rotated key, enforce: an ordinary ssl.SSLError"
"$pinshim" run --enforce --policy "$work/policy.ini" -- /usr/bin/python3 - "$rotated" "$work/pki/root.pem" <<'PY' || true
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
try:
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                         server_hostname="pinned.test") as s:
        print("connected")
except ssl.SSLError as e:
    print("ssl.SSLError:", e)
PY

say "pinshim-view failures: what the collector stored"
view=$top/build/viewer/pinshim-view
for _ in $(seq 50); do
	[ "$("$view" --db "$db" failures --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["failures"]))')" -ge 3 ] && break
	sleep 0.1
done
"$view" --db "$db" failures

say "one failure in full (pinshim-view failures --json)"
"$view" --db "$db" failures --json | /usr/bin/python3 -c '
import json, sys
f = json.load(sys.stdin)["failures"][-1]
print("%s %s %s:%s peer %s, %s, app %s, network %s" % (f["kind"], f["decision"],
      f["host"], f["port"], f["peer"], f["mode"], f["app_version"], f["network"]))
for c in f["served_chain"]:
    print("  served[%d] %s  %s" % (c["position"], c["pin"], c["subject"]))
print("  expected  " + ", ".join(f["expected_pins"]))
print("  stack:")
for fr in f["stack"][:8]:
    where = "%s+0x%x" % (fr["symbol"], fr["symbol_offset"]) if fr["symbol"] else "+0x%x" % fr["offset"]
    print("    %s %s" % (fr["module"].rsplit("/", 1)[-1], where))
'
echo
echo "The database stays in $db:"
echo "  build/viewer/pinshim-view --db $db failures [--host H] [--since 1h] [--json]"
