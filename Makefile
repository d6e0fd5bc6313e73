# The two commands a fresh Debian 12 machine needs, as root: `make demo`
# and `make check`. The other targets are their stages.

# The kernel to build and test: 7.3 (the default; the series and its
# files in port-7.3/) or 6.12, the series at the top level, no longer
# tested since commit 3a94fc3 (make check KERNEL=6.12).
KERNEL ?= 7.3
export KERNEL

TOOLS := build/tools/p2pmem-regmr build/tools/p2pmem-verbs build/tools/p2pmem-regbench
TOOLS_CFLAGS := -Wall -Wextra -Werror -O2

.PHONY: demo check bench deps tree kernel tools series quilt bisect vm clean

demo:
	scripts/demo

check:
	scripts/check $(TESTS)

# benchmarks, never part of check: build/bench/report.md, CSV and PNG.
bench:
	scripts/bench

deps:
	scripts/deps all

tree:
	scripts/prepare-tree

kernel: tree
	scripts/build-kernel

tools: $(TOOLS)

build/tools/%: tests/tools/%.c
	@mkdir -p build/tools
	$(CC) $(TOOLS_CFLAGS) -o $@ $< -libverbs -lrdmacm

series: tree
	scripts/export-series

quilt:
	scripts/quilt-tree

# build the kernel after each patch of the series
bisect: kernel
	scripts/build-each-patch

# make vm CMD='ibv_devices'
vm:
	scripts/vm -- $(or $(CMD),bash -c 'ibv_devices; cat /proc/cmdline')

clean:
	rm -rf build/obj build/obj-bench build/bzImage-bench build/vm build/check build/series build/series-git build/tools build/quilt build/bisect build/bzImage build/k7.3 build/obj-w1-orig build/obj-w1-linux
