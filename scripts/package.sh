#!/usr/bin/env bash
# Builds pinshim's Debian packages (pinshim, pinshim-collector, pinshim-view)
# with dpkg-buildpackage, in a temporary copy of this source tree, and
# checks them with lintian (any error fails).
#   scripts/package.sh [OUTDIR]     .debs into OUTDIR (default ./dist)
# Needs what scripts/deps.sh installs (debhelper, dpkg-dev, lintian).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$src/dist}" && cd "${1:-$src/dist}" && pwd)
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
work=$(mktemp -d "${TMPDIR:-/tmp}/pinshim-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree="$work/pinshim-$version"
mkdir "$tree"

# The sources only: what git tracks (and new files not ignored), never a
# build directory.
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$src" ls-files -z --cached --others --exclude-standard |
		(cd "$src" && xargs -0 tar --no-recursion -cf - --) | tar -xf - -C "$tree"
else
	tar -C "$src" --exclude='./build*' --exclude=./dist -cf - . | tar -xf - -C "$tree"
fi

echo "pinshim: building the packages of $version in $tree"
(cd "$tree" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1 || {
	tail -40 "$work/build.log" >&2
	echo "pinshim: dpkg-buildpackage failed (log above)" >&2
	exit 1
}
changes=$(ls "$work"/pinshim_"$version"_*.changes)
cp "$work"/*.deb "$work"/*.buildinfo "$changes" "$out"/
echo "pinshim: lintian"
lintian --fail-on error --suppress-tags-from-file "$src/debian/lintian-suppressed" \
	"$out/$(basename "$changes")"
ls "$out"/*_"$version"_*.deb
