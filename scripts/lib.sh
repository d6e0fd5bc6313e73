# shellcheck shell=bash
# Shared helpers for the project's host scripts. Source, do not run.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
export TOP BUILD

# One clear sentence, then stop.
die() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

warn() {
	printf '%s: warning: %s\n' "${0##*/}" "$*" >&2
}

need_root() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (it installs Debian packages and boots QEMU)"
}

# need_disk DIR GIB: stop unless DIR's file system has GIB GiB free.
need_disk() {
	local avail
	mkdir -p "$1"
	avail=$(df -Pk "$1" | awk 'NR == 2 { print int($4 / 1048576) }')
	[ "$avail" -ge "$2" ] ||
		die "only ${avail} GiB free under $1; $2 GiB are needed"
}

# stage "what it does" CMD [ARGS...]: announce a long step, run it, say how long it took.
stage() {
	local what=$1 t0 rc=0
	shift
	t0=$(date +%s)
	printf '==> %s\n' "$what"
	"$@" || rc=$?
	local verdict="failed (exit $rc)"
	[ $rc -ne 0 ] || verdict="done"
	printf '==> %s: %s in %ss\n' "$what" "$verdict" "$(($(date +%s) - t0))"
	return $rc
}

# The pinned Debian package, as "name=version".
pin() {
	grep -v '^#' "$TOP/LINUX_SOURCE" | head -n 1
}

# The patches of patches/series, one a line, in order.
series_patches() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/patches/series" 2>/dev/null | awk '{ print $1 }'
}

# Apply the whole series with quilt in tree $1 (a copy of build/orig).
# Extra arguments go to quilt before the command, such as --quiltrc=FILE.
apply_series() {
	local tree=$1
	shift
	[ -n "$(series_patches)" ] || return 0
	(cd "$tree" && QUILT_PATCHES="$TOP/patches" quilt "${@:---quiltrc=-}" push -a -q) ||
		die "a patch in patches/series does not apply; see the quilt output above"
}

# The new kernel files, at their kernel paths below these directories.
OVERLAY_DIRS="drivers include Documentation"
overlay_files() {
	local d
	for d in $OVERLAY_DIRS; do
		if [ -d "$TOP/$d" ]; then (cd "$TOP" && find "$d" -type f); fi
	done | LC_ALL=C sort
}
