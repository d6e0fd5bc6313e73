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

# The pinned Debian package, as "name=version", and its parts.
pin() {
	grep -v '^#' "$TOP/LINUX_SOURCE" | head -n 1
}
