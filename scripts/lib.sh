# shellcheck shell=bash
# Shared helpers for the project's host scripts. Source, do not run.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
export TOP BUILD

# KERNEL picks the kernel that is built and tested: 7.3 (the default, in
# port-7.3/) or 6.12 (the top level, no longer tested; make check
# KERNEL=6.12). KSRC holds that kernel's LINUX_SOURCE, config/, patches/
# and new files; KBUILD its tree, objects and images. Tools and rdma-core
# stay in BUILD.
KERNEL=${KERNEL:-7.3}
case $KERNEL in
6.12) KSRC=$TOP KBUILD=$BUILD ;;
7.3) KSRC=$TOP/port-7.3 KBUILD=$BUILD/k7.3 ;;
*)
	printf '%s: KERNEL=%s: only 6.12 and 7.3 are known\n' "${0##*/}" "$KERNEL" >&2
	exit 1
	;;
esac
export KERNEL KSRC KBUILD

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

# ccache for the kernel and rdma-core builds: one cache, paths taken
# relative to the clone, so that a fresh clone reuses what another built.
use_ccache() {
	export CCACHE_DIR=${CCACHE_DIR:-/root/.cache/ccache}
	export CCACHE_BASEDIR=$TOP CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
}

# The pinned Debian package, as "name=version".
pin() {
	pin_field 1
}

# pin_field N: field N of LINUX_SOURCE's line: 1 "name=version", 2 the
# Debian suite that carries it (empty: the machine's own), 3 the SHA-256
# of the pinned version's /usr/src tarball (empty: none).
pin_field() {
	grep -v '^#' "$KSRC/LINUX_SOURCE" | head -n 1 | awk -v n="$1" '{ print $n }'
}

# apt_install PACKAGE...: refresh apt's lists and install, quietly.
apt_install() {
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Install the pinned linux-source (scripts/deps and prepare-tree), from the suite LINUX_SOURCE names when
# the machine's own release does not carry it. A pin that has left the
# archive (backports keep only their newest version) falls back to the
# newest version of the same package, which is the same kernel series.
ensure_linux_source() {
	local pin name want suite have
	pin=$(pin) name=${pin%%=*} want=${pin#*=}
	suite=$(pin_field 2)
	have=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)
	[ "$have" = "$want" ] && return
	need_root
	[ -z "$suite" ] || apt_sources deb "$suite" >/dev/null || true
	stage "installing $pin${suite:+ from $suite}" apt_install "$pin" && return
	stage "installing the newest $name instead" apt_install "$name" || [ -n "$have" ] ||
		die "cannot install $pin, nor any $name"
	have=$(dpkg-query -W -f='${Version}' "$name")
	warn "$pin is not in the archive; using $name $have, of the same series"
}

# The patches of patches/series, one a line, in order.
series_patches() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$KSRC/patches/series" 2>/dev/null | awk '{ print $1 }'
}

# Apply the whole series with quilt in tree $1 (a copy of build/orig).
# Extra arguments go to quilt before the command, such as --quiltrc=FILE.
apply_series() {
	local tree=$1
	shift
	[ -n "$(series_patches)" ] || return 0
	(cd "$tree" && QUILT_PATCHES="$KSRC/patches" quilt "${@:---quiltrc=-}" push -a -q) ||
		die "a patch in patches/series does not apply; see the quilt output above"
}

# The test series, patches/test-series: test-only kernel code (KUnit
# suites that need a live device, the benchmark driver) that the trees of
# make check and make bench get after the series, and that make series
# never exports. Its new files are listed in patches/test-new-files.
test_series_patches() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$KSRC/patches/test-series" 2>/dev/null | awk '{ print $1 }'
}

apply_test_series() {
	local tree=$1 p
	for p in $(test_series_patches); do
		patch -d "$tree" -p1 -s -F0 --no-backup-if-mismatch <"$KSRC/patches/$p" ||
			die "patch $p of patches/test-series does not apply"
	done
}

# The new files the test series brings, one a line.
test_files() {
	sed -n 's/^[^:#]*:[[:space:]]*//p' "$KSRC/patches/test-new-files" 2>/dev/null |
		tr ' ' '\n' | sed '/^$/d'
}

# The new kernel files, at their kernel paths below these directories.
OVERLAY_DIRS="drivers include Documentation"
overlay_files() {
	local d
	for d in $OVERLAY_DIRS; do
		if [ -d "$KSRC/$d" ]; then (cd "$KSRC" && find "$d" -type f); fi
	done | LC_ALL=C sort
}

# apt_sources TYPE SUITE: make apt read TYPE (deb or deb-src) of SUITE from
# the Debian mirror the machine's own apt sources already name, by adding
# /etc/apt/sources.list.d/p2pmem-rdma-SUITE-TYPE.sources. The mirror and
# its keyring are copied from the enabled sources entry of the machine's
# release, so no host name is written into the project. Prints the entry's
# path; returns 0 when it was added, 1 when it was there already.
apt_sources() {
	local type=$1 suite=$2 codename entry tmp
	codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
	entry=/etc/apt/sources.list.d/p2pmem-rdma-$suite-$type.sources
	echo "$entry"
	[ ! -e "$entry" ] || return 1
	need_root
	tmp=$(mktemp)
	# deb822 files, each stanza on its own (a file may lack its last blank line)
	awk -v want="$codename" -v type="$type" -v suite="$suite" '
		function flush() {
			if (!done && enabled != "no" && types ~ /(^| )deb( |$)/ &&
			    (" " suites " ") ~ (" " want " ") && uris != "") {
				print "Types: " type
				print "URIs: " uris
				print "Suites: " suite
				print "Components: main"
				if (key ~ /^\//) print "Signed-By: " key
				done = 1
			}
			types = uris = suites = key = enabled = ""
		}
		FNR == 1 { flush() }
		/^[[:space:]]*$/ { flush(); next }
		/^Types:/ { sub(/^Types:[[:space:]]*/, ""); types = $0 }
		/^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $1 }
		/^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
		/^Signed-By:/ { sub(/^Signed-By:[[:space:]]*/, ""); key = $0 }
		/^Enabled:/ { sub(/^Enabled:[[:space:]]*/, ""); enabled = $0 }
		END { flush() }' /dev/null /etc/apt/sources.list.d/*.sources >"$tmp" 2>/dev/null || true
	if [ ! -s "$tmp" ]; then
		# one-line style: "deb [options] URI CODENAME COMPONENTS..."
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk -v want="$codename" -v type="$type" -v suite="$suite" '
			$1 == "deb" {
				i = 2; key = ""
				if ($2 ~ /^\[/) {
					for (; i <= NF; i++) {
						if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key); sub(/\]$/, "", key) }
						if ($i ~ /\]$/) break
					}
					i++
				}
				if (i + 1 <= NF && $(i + 1) == want) {
					printf "Types: %s\nURIs: %s\nSuites: %s\nComponents: main\n", type, $i, suite
					if (key ~ /^\//) print "Signed-By: " key
					exit
				}
			}' >"$tmp"
	fi
	if [ ! -s "$tmp" ]; then
		rm -f "$tmp"
		die "no enabled apt source of Debian $codename to take the mirror from"
	fi
	chmod 644 "$tmp"
	mv "$tmp" "$entry" || die "could not write $entry"
}

# update_sources SUITES: make apt's source lists of the comma-separated
# SUITES current. A suite whose entry was just added and cannot be read is
# removed again, so apt is never left broken.
update_sources() {
	local suite entry added
	for suite in ${1//,/ }; do
		added=1
		entry=$(apt_sources deb-src "$suite") || added=0
		if ! apt-get update -qq -o Dir::Etc::SourceList="$entry" -o Dir::Etc::SourceParts=- \
			-o APT::Get::List-Cleanup=0; then
			[ "$added" -eq 0 ] || rm -f "$entry"
			warn "apt could not read deb-src $suite"
		fi
	done
}

# pick_version NAME VERSION: the newest source version of NAME whose
# upstream part is VERSION, else the newest of the same major version,
# else the newest of all.
pick_version() {
	apt-cache showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -Vru |
		awk -v v="$2" -v major="${2%%.*}" '
		{ u = $1; sub(/^[0-9]+:/, "", u); sub(/-[^-]*$/, "", u) }
		u == v && exact == "" { exact = $1 }
		index(u, major ".") == 1 && same == "" { same = $1 }
		NR == 1 { newest = $1 }
		END { print (exact != "" ? exact : same != "" ? same : newest) }'
}

# fetch_orig NAME VERSION SUITES SHA256 DIR: set TARBALL to the orig
# tarball of Debian's NAME source package at upstream VERSION, from the
# deb-src of SUITES on the machine's own mirror, checked against SHA256
# and kept in DIR (a cached one is reused). When no suite has VERSION any
# more, the newest of the same major version, or else the newest of all,
# is taken with a warning, checked against apt's own index hash.
fetch_orig() {
	local name=$1 version=$2 suites=$3 sha256=$4 dir=$5 cached uri file hash tmp
	cached=$(compgen -G "$dir/${name}_$version.orig.tar.*" | head -n 1) || true
	if [ -n "$cached" ] && echo "$sha256  $cached" | sha256sum --quiet -c - 2>/dev/null; then
		TARBALL=$cached
		return
	fi
	update_sources "$suites"
	version=$(pick_version "$name" "$version")
	[ -n "$version" ] || die "apt knows no $name source package in deb-src $suites"
	# apt lists only what the current directory lacks: ask from an empty one.
	tmp=$(mktemp -d)
	read -r uri file _ hash < <(cd "$tmp" && apt-get source -qq --print-uris "$name=$version" |
		awk -F"[' ]+" '$3 ~ /\.orig\.tar\.[a-z0-9]+$/ { print $2, $3, $4, $5 }') || true
	[ -n "${uri:-}" ] || { rm -rf "$tmp"; die "apt lists no orig tarball for $name $version"; }
	case $file in
	"${name}_$2".orig.tar.*) hash=SHA256:$sha256 ;;
	*) warn "$name $2 has left the archive; building $file (apt's index hash $hash) instead" ;;
	esac
	/usr/lib/apt/apt-helper -qq -o APT::Sandbox::User=root \
		download-file "$uri" "$tmp/$file" "$hash" >/dev/null ||
		{ rm -rf "$tmp"; die "could not fetch $file, or its $hash does not match"; }
	if ! { mkdir -p "$dir" && mv "$tmp/$file" "$dir/$file"; }; then
		rm -rf "$tmp"
		return 1
	fi
	rm -rf "$tmp"
	TARBALL=$dir/$file
}
