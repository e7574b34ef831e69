#!/usr/bin/env bash
# Installs what pinshim needs to build, test and demo on Debian 12.
# Idempotent: asks apt only when a package is missing.
set -euo pipefail

packages=(
	build-essential pkg-config meson ninja-build
	libssl-dev libjson-c-dev libcmocka-dev
	libprotobuf-c-dev protobuf-c-compiler libunwind-dev libsqlite3-dev
	zlib1g-dev sqlite3
	openssl curl python3 faketime valgrind
	libmicrohttpd-dev chromium sslsplit iptables iproute2
	debhelper dpkg-dev lintian fakeroot systemd
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "pinshim: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "pinshim: run as root (or with sudo) to install packages" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
