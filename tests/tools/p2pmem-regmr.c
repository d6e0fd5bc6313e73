// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-regmr: register an MR on an mmap of a file (normally
 * /sys/bus/pci/devices/<bdf>/p2pmem/allocate) and report the outcome.
 *
 * Usage: p2pmem-regmr DEVICE FILE LENGTH
 * Prints "ok" or "errno N (text)"; exits 0 when the MR registered,
 * 1 when ibv_reg_mr failed, 2 when the setup around it failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <infiniband/verbs.h>

static struct ibv_context *open_device(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	int i;

	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	return ctx;
}

int main(int argc, char **argv)
{
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	size_t len;
	void *buf;
	int fd, err;

	if (argc != 4) {
		fprintf(stderr, "usage: %s DEVICE FILE LENGTH\n", argv[0]);
		return 2;
	}
	len = strtoul(argv[3], NULL, 0);
	ctx = open_device(argv[1]);
	if (!ctx) {
		fprintf(stderr, "%s: cannot open RDMA device %s\n", argv[0], argv[1]);
		return 2;
	}
	pd = ibv_alloc_pd(ctx);
	fd = open(argv[2], O_RDWR);
	if (!pd || fd < 0) {
		fprintf(stderr, "%s: cannot allocate a PD or open %s: %s\n",
			argv[0], argv[2], strerror(errno));
		return 2;
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (buf == MAP_FAILED) {
		fprintf(stderr, "%s: mmap of %s: %s\n", argv[0], argv[2], strerror(errno));
		return 2;
	}
	mr = ibv_reg_mr(pd, buf, len, IBV_ACCESS_LOCAL_WRITE |
			IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	err = errno;
	if (!mr) {
		printf("errno %d (%s)\n", err, strerror(err));
		return 1;
	}
	printf("ok\n");
	ibv_dereg_mr(mr);
	munmap(buf, len);
	close(fd);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	return 0;
}
