// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-regbench: how long one ibv_reg_mr() + ibv_dereg_mr() pair takes
 * on host memory, on p2pmem (an mmap of a provider's p2pmem/allocate
 * file) and on one buffer of host pages followed by p2pmem pages.
 *
 * Usage: p2pmem-regbench DEVICE FILE MAXBYTES RUNS ITERS
 * For each size from 4096 doubling up to MAXBYTES (a power of two, at
 * least 8192), one buffer of each kind is mapped and each of its pages
 * written once, and each kind is registered once untimed. Then come RUNS
 * runs of ITERS pairs per kind, the kinds interleaved in alternating
 * order (host, p2p, mixed, then mixed, p2p, host, ...) so that drift on
 * the machine hits all of them alike. "mixed" has host pages in its first
 * half and p2pmem in its second, so it starts at 8192; its baseline is
 * the host buffer of the same size, which has as many pages.
 *
 * Prints CSV, one row per run, kind other than host and size, the median
 * latency of the run's pairs in ns on host memory (base) and on the kind
 * (value):
 *	device,variant,param,run,base,value
 * with variant "p2p" or "mixed" and param the size in bytes.
 * Exits 0 when every row was measured, 1 when something failed (one line
 * on stderr says what; no row is printed for it), 2 on a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>

#define MIN_BYTES 4096UL
#define MIN_MIXED 8192UL

enum kind { HOST, P2P, MIXED, NKINDS };

static const char *const kind_name[NKINDS] = { "host", "p2p", "mixed" };

static const int access_rw = IBV_ACCESS_LOCAL_WRITE |
	IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;

static long pg;

/* The buffer of one kind at the size being measured. */
struct buf {
	enum kind kind;
	uint8_t *p;		/* NULL: this kind is not measured at this size */
	size_t len;
	uint64_t *ns;		/* one latency per pair of a run */
	uint64_t med;		/* their median */
};

/* "p2pmem-regbench: <what> failed: errno N (text)", then exit 1 */
static void die(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("p2pmem-regbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " failed: errno %d (%s)\n", err, strerror(err));
	exit(1);
}

static void fail(const struct buf *b, const char *what, int err)
{
	die(err, "%s %zu: %s", kind_name[b->kind], b->len, what);
}

static struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	int err = ENODEV;

	for (int i = 0; list && list[i]; i++) {
		if (!strcmp(ibv_get_device_name(list[i]), name)) {
			ctx = ibv_open_device(list[i]);
			err = errno;
		}
	}
	if (list)
		ibv_free_device_list(list);
	if (!ctx)
		die(err, "opening RDMA device %s", name);
	return ctx;
}

/* Write one byte in each page, so that none is first touched while timed. */
static void touch(uint8_t *p, size_t len)
{
	for (size_t off = 0; off < len; off += pg)
		p[off] = (uint8_t)(off / pg);
}

/* Map @b->len bytes of @b->kind; @fd is the open p2pmem allocate file. */
static void map_buf(struct buf *b, int fd)
{
	const int anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
	const int rw = PROT_READ | PROT_WRITE;
	size_t half = b->len / 2;
	void *p;

	if (b->kind == P2P) {
		p = mmap(NULL, b->len, rw, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			fail(b, "mmap of p2pmem", errno);
	} else {
		p = mmap(NULL, b->len, rw, anon, -1, 0);
		if (p == MAP_FAILED)
			fail(b, "anonymous mmap", errno);
	}
	/* mixed: p2pmem replaces the second half of the host mapping */
	if (b->kind == MIXED &&
	    mmap((uint8_t *)p + half, half, rw, MAP_SHARED | MAP_FIXED, fd, 0) ==
	    MAP_FAILED)
		fail(b, "MAP_FIXED mmap of p2pmem over the second half", errno);
	b->p = p;
	touch(b->p, b->len);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One ibv_reg_mr() + ibv_dereg_mr() pair on @b; returns its latency in ns. */
static uint64_t reg_dereg(struct ibv_pd *pd, const struct buf *b)
{
	struct ibv_mr *mr;
	uint64_t t0, t1;
	int err;

	t0 = now_ns();
	mr = ibv_reg_mr(pd, b->p, b->len, access_rw);
	if (!mr)
		fail(b, "ibv_reg_mr", errno);
	err = ibv_dereg_mr(mr);
	t1 = now_ns();
	if (err)
		fail(b, "ibv_dereg_mr", err);
	return t1 - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *ns, unsigned long n)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	return n % 2 ? ns[n / 2] : (ns[n / 2 - 1] + ns[n / 2]) / 2;
}

/* One run at @len bytes: @iters pairs of each kind, then its rows. */
static void bench_run(const char *dev, struct ibv_pd *pd, struct buf *bufs,
		      unsigned long run, unsigned long iters)
{
	for (unsigned long i = 0; i < iters; i++) {
		/* host first in even pairs, last in odd ones */
		for (int k = 0; k < NKINDS; k++) {
			struct buf *b = &bufs[i % 2 ? NKINDS - 1 - k : k];

			if (b->p)
				b->ns[i] = reg_dereg(pd, b);
		}
	}
	for (int k = 0; k < NKINDS; k++)
		if (bufs[k].p)
			bufs[k].med = median(bufs[k].ns, iters);
	for (int k = 0; k < NKINDS; k++) {
		if (k == HOST || !bufs[k].p)
			continue;
		printf("%s,%s,%zu,%lu,%llu,%llu\n", dev, kind_name[k],
		       bufs[k].len, run, (unsigned long long)bufs[HOST].med,
		       (unsigned long long)bufs[k].med);
	}
	fflush(stdout);
}

/* Measure every kind at @len bytes, @runs runs of @iters pairs. */
static void bench_size(const char *dev, struct ibv_pd *pd, int fd,
		       struct buf *bufs, size_t len, unsigned long runs,
		       unsigned long iters)
{
	struct buf *b, *end = bufs + NKINDS;

	for (b = bufs; b < end; b++) {
		b->len = len;
		b->p = NULL;
		if (b->kind != MIXED || len >= MIN_MIXED)
			map_buf(b, fd);
	}
	for (b = bufs; b < end; b++)
		if (b->p)
			reg_dereg(pd, b);	/* warm-up, not timed */
	for (unsigned long r = 1; r <= runs; r++)
		bench_run(dev, pd, bufs, r, iters);
	for (b = bufs; b < end; b++)
		if (b->p)
			munmap(b->p, b->len);
}

/* A whole decimal number, or -1 if @s is not one. */
static int parse(const char *s, unsigned long *val)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*val = strtoul(s, &end, 10);
	return errno || *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long max, runs, iters;
	struct buf bufs[NKINDS];
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	int fd;

	pg = sysconf(_SC_PAGESIZE);
	if (argc != 6 || parse(argv[3], &max) || parse(argv[4], &runs) ||
	    parse(argv[5], &iters) || max < MIN_MIXED || (max & (max - 1)) ||
	    !runs || !iters) {
		fprintf(stderr, "usage: p2pmem-regbench DEVICE FILE MAXBYTES RUNS ITERS\n"
			"  MAXBYTES: a power of two, at least 8192; RUNS, ITERS: at least 1\n");
		return 2;
	}
	for (int k = 0; k < NKINDS; k++) {
		bufs[k].kind = k;
		bufs[k].ns = calloc(iters, sizeof(*bufs[k].ns));
		if (!bufs[k].ns)
			die(errno, "calloc");
	}
	ctx = open_dev(argv[1]);
	pd = ibv_alloc_pd(ctx);
	if (!pd)
		die(errno, "ibv_alloc_pd on %s", argv[1]);
	fd = open(argv[2], O_RDWR);
	if (fd < 0)
		die(errno, "open %s", argv[2]);

	printf("device,variant,param,run,base,value\n");
	for (size_t len = MIN_BYTES;; len *= 2) {
		bench_size(argv[1], pd, fd, bufs, len, runs, iters);
		if (len == max)
			break;
	}
	close(fd);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	for (int k = 0; k < NKINDS; k++)
		free(bufs[k].ns);
	return 0;
}
