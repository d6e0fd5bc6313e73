// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem-verbs: RDMA on PCI P2P memory (an mmap of a provider's
 * p2pmem/allocate file), checked byte for byte.
 *
 *   p2pmem-verbs cap DEVICE
 *	print the device's IBV_DEVICE_PCI_P2PDMA bit: "pci_p2pdma 0|1"
 *   p2pmem-verbs odpcap DEVICE
 *	print whether RC RDMA WRITE and READ may target ODP MRs: "odp 0|1"
 *   p2pmem-verbs data SERVER_ADDR CLIENT_ADDR ALLOCATE_FILE
 *	connect two RC QPs through rdma_cm, one on each address's device;
 *	the server's MR is all p2pmem, the client's MR is host pages
 *	followed by p2pmem pages in one VA range. RDMA WRITE, RDMA READ and
 *	SEND in both kinds of memory, then an atomic on p2pmem (refused).
 *   p2pmem-verbs odp SERVER_ADDR CLIENT_ADDR ALLOCATE_FILE
 *	connect as for data; the server's MR is an ODP MR of host memory,
 *	then one of p2pmem: RDMA WRITE and READ inside a page and across
 *	page boundaries. Exit 77 when the device has no ODP.
 *   p2pmem-verbs bad DEVICE ALLOCATE_FILE
 *	odd and wrong uses, each with its expected errno
 *   p2pmem-verbs hold DEVICE ALLOCATE_FILE
 *	register p2pmem and exit without deregistering or unmapping
 *   p2pmem-verbs revoke SERVER_ADDR CLIENT_ADDR ALLOCATE_FILE
 *	three connections, each with an MR holding p2pmem, checked to work;
 *	print "ready", wait for a line on stdin (the provider is removed
 *	meanwhile), then check that work requests on the revoked MRs (a
 *	local RDMA WRITE from one, a remote RDMA READ and a remote RDMA
 *	WRITE targeting the others) complete with exactly the status
 *	Documentation/infiniband/p2pdma.rst gives for the device, and that
 *	ibv_dereg_mr() still works
 *   p2pmem-verbs surprise SERVER_ADDR CLIENT_ADDR ALLOCATE_FILE
 *	as revoke, with two connections (a local RDMA WRITE from p2pmem, a
 *	remote RDMA READ of p2pmem), but the provider vanishes without the
 *	kernel being told: after "ready" the test powers its slot off. Both
 *	work requests must fail as on a revoked MR, and no data read from
 *	the dead BAR may be placed; then print "checked", wait for a second
 *	line (the kernel removes the device meanwhile) and deregister
 *   p2pmem-verbs traffic SERVER_ADDR CLIENT_ADDR ALLOCATE_FILE COUNT
 *	the server's device holds COUNT MRs on p2pmem: the first, of a
 *	connection, and COUNT - 1 of one page each. After "ready" the
 *	client writes to the first without a pause until a write completes
 *	in error (the test removes the provider meanwhile), then prints
 *	"first-error SECONDS STATUS" (CLOCK_REALTIME, as bash's
 *	EPOCHREALTIME), waits for a line on stdin and deregisters, printing
 *	"DEVICE: N MRs deregistered, M failed"
 *   p2pmem-verbs regloop DEVICE ALLOCATE_FILE
 *	print "ready", then register p2pmem until a registration fails,
 *	which must be with EFAULT or ENODEV, keeping the last LIVE MRs
 *	registered; print "DEVICE: N registrations, then ERRNO; M live MRs
 *	held", wait for a line on stdin, deregister the live MRs
 *   p2pmem-verbs flush SERVER_ADDR CLIENT_ADDR
 *	host memory only: put the client's QP in the error state with a
 *	WRITE the server refuses, then check that work requests posted to
 *	it complete with IBV_WC_WR_FLUSH_ERR within 30 s
 *
 * Each check prints "ok NAME" or "FAIL NAME: reason"; the exit status
 * is the number of failures (capped at 100), 200 on a setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/* IBV_DEVICE_PCI_P2PDMA, from rdma-core-patches/ once the headers have it */
#define PCI_P2PDMA_CAP (1ULL << 42)
#define NP 4			/* pages per half of a buffer */
#define PORT 20886

static long pg;
static int failures;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("p2pmem-verbs: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(200);
}

static void check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("ok %s\n", name);
	} else {
		failures++;
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
	}
	fflush(stdout);
}

/* Map @len bytes of p2pmem at @addr (NULL: anywhere). */
static void *map_p2p(const char *file, void *addr, size_t len)
{
	int fd = open(file, O_RDWR);
	void *p;

	if (fd < 0)
		die("open %s: %s", file, strerror(errno));
	p = mmap(addr, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | (addr ? MAP_FIXED : 0), fd, 0);
	if (p == MAP_FAILED)
		die("mmap %s: %s", file, strerror(errno));
	close(fd);
	return p;
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	return p;
}

static void fill(volatile uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

/* Compare byte by byte: BAR memory is read with single-byte loads. */
static int same(const volatile uint8_t *a, const volatile uint8_t *b,
		size_t len, char *why, size_t whylen)
{
	for (size_t i = 0; i < len; i++) {
		if (a[i] != b[i]) {
			snprintf(why, whylen, "byte %zu of %zu is %#x, want %#x",
				 i, len, b[i], a[i]);
			return 0;
		}
	}
	return 1;
}

static struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;

	for (int i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (!ctx)
		die("no device %s", name);
	return ctx;
}

static int has_p2p_cap(struct ibv_context *ctx)
{
	struct ibv_device_attr_ex attr;

	if (ibv_query_device_ex(ctx, NULL, &attr))
		die("ibv_query_device_ex: %s", strerror(errno));
	return !!(attr.device_cap_flags_ex & PCI_P2PDMA_CAP);
}

/* Whether RC RDMA WRITE and READ may target ODP MRs of the device. */
static int has_odp(struct ibv_context *ctx)
{
	uint32_t want = IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ;
	struct ibv_device_attr_ex attr;

	if (ibv_query_device_ex(ctx, NULL, &attr))
		die("ibv_query_device_ex: %s", strerror(errno));
	return (attr.odp_caps.general_caps & IBV_ODP_SUPPORT) &&
	       (attr.odp_caps.per_transport_caps.rc_odp_caps & want) == want;
}

static int cmd_cap(const char *dev)
{
	printf("pci_p2pdma %d\n", has_p2p_cap(open_dev(dev)));
	return 0;
}

/* --- data: two connected RC QPs ---------------------------------------- */

struct side {
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *buf;		/* the MR */
	size_t len;
	int access;		/* of the MR; 0: access_all */
};

static const int access_all = IBV_ACCESS_LOCAL_WRITE |
	IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
	IBV_ACCESS_REMOTE_ATOMIC;

static void side_qp(struct side *s, struct rdma_cm_id *id)
{
	struct ibv_qp_init_attr qa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 8, .max_recv_wr = 8,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};

	s->id = id;
	s->pd = ibv_alloc_pd(id->verbs);
	s->cq = ibv_create_cq(id->verbs, 16, NULL, NULL, 0);
	if (!s->pd || !s->cq)
		die("pd/cq on %s: %s", ibv_get_device_name(id->verbs->device),
		    strerror(errno));
	qa.send_cq = qa.recv_cq = s->cq;
	if (rdma_create_qp(id, s->pd, &qa))
		die("rdma_create_qp: %s", strerror(errno));
	s->mr = ibv_reg_mr(s->pd, s->buf, s->len, s->access ?: access_all);
	if (!s->mr)
		die("ibv_reg_mr of %zu bytes on %s: %s", s->len,
		    ibv_get_device_name(id->verbs->device), strerror(errno));
}

static struct rdma_cm_event *wait_event(struct rdma_event_channel *ch,
					enum rdma_cm_event_type want)
{
	struct rdma_cm_event *ev;

	if (rdma_get_cm_event(ch, &ev))
		die("rdma_get_cm_event: %s", strerror(errno));
	if (ev->event != want)
		die("rdma_cm event %s (status %d), want %s",
		    rdma_event_str(ev->event), ev->status, rdma_event_str(want));
	return ev;
}

static void connect_pair(struct side *srv, struct side *cli,
			 const char *saddr, const char *caddr, int portno)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_conn_param cp = { .responder_resources = 1,
				      .initiator_depth = 1, .retry_count = 7,
				      .rnr_retry_count = 7 };
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *sai, *cai;
	struct rdma_cm_id *listen, *cid;
	struct rdma_cm_event *ev;
	char port[8];

	snprintf(port, sizeof(port), "%d", portno);
	hints.ai_flags = RAI_PASSIVE;
	if (rdma_getaddrinfo(saddr, port, &hints, &sai))
		die("rdma_getaddrinfo %s", saddr);
	hints.ai_flags = RAI_PASSIVE;
	if (rdma_getaddrinfo(caddr, NULL, &hints, &cai))
		die("rdma_getaddrinfo %s", caddr);
	if (!ch || rdma_create_id(ch, &listen, NULL, RDMA_PS_TCP) ||
	    rdma_create_id(ch, &cid, NULL, RDMA_PS_TCP))
		die("rdma_create_id: %s", strerror(errno));
	if (rdma_bind_addr(listen, sai->ai_src_addr) || rdma_listen(listen, 1))
		die("listen on %s: %s", saddr, strerror(errno));

	if (rdma_resolve_addr(cid, cai->ai_src_addr, sai->ai_src_addr, 5000))
		die("rdma_resolve_addr: %s", strerror(errno));
	rdma_ack_cm_event(wait_event(ch, RDMA_CM_EVENT_ADDR_RESOLVED));
	if (rdma_resolve_route(cid, 5000))
		die("rdma_resolve_route: %s", strerror(errno));
	rdma_ack_cm_event(wait_event(ch, RDMA_CM_EVENT_ROUTE_RESOLVED));
	side_qp(cli, cid);
	if (rdma_connect(cid, &cp))
		die("rdma_connect: %s", strerror(errno));

	ev = wait_event(ch, RDMA_CM_EVENT_CONNECT_REQUEST);
	side_qp(srv, ev->id);
	rdma_ack_cm_event(ev);
	if (rdma_accept(srv->id, &cp))
		die("rdma_accept: %s", strerror(errno));
	/* The two ESTABLISHED events come in either order. */
	for (int i = 0; i < 2; i++) {
		if (rdma_get_cm_event(ch, &ev) ||
		    ev->event != RDMA_CM_EVENT_ESTABLISHED)
			die("connection not established");
		rdma_ack_cm_event(ev);
	}
	rdma_freeaddrinfo(sai);
	rdma_freeaddrinfo(cai);
}

/* Soft RDMA on a slow emulated machine: allow minutes, not seconds. */
static int poll_seconds = 300;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct ibv_wc poll_one(struct side *s)
{
	double deadline = now() + poll_seconds;
	struct ibv_wc wc;
	int n;

	while ((n = ibv_poll_cq(s->cq, 1, &wc)) == 0) {
		if (now() > deadline)
			die("no completion on %s after %d s",
			    ibv_get_device_name(s->id->verbs->device),
			    poll_seconds);
		usleep(1000);
	}
	if (n < 0)
		die("ibv_poll_cq failed");
	return wc;
}

static void post_send(struct side *s, enum ibv_wr_opcode op, void *local,
		      size_t len, struct side *remote, size_t roff)
{
	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = len,
			       .lkey = s->mr->lkey };
	struct ibv_send_wr wr = { .opcode = op, .sg_list = &sge, .num_sge = 1,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	int ret;

	if (remote && op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = (uintptr_t)remote->buf + roff;
		wr.wr.atomic.rkey = remote->mr->rkey;
		wr.wr.atomic.compare_add = 1;
	} else if (remote) {
		wr.wr.rdma.remote_addr = (uintptr_t)remote->buf + roff;
		wr.wr.rdma.rkey = remote->mr->rkey;
	}
	ret = ibv_post_send(s->id->qp, &wr, &bad);
	if (ret)
		die("ibv_post_send: %s", strerror(abs(ret)));
}

/* @op1 of @len1 bytes, then @op2 of @len2, both at @remote's buffer */
static void post_send_chain(struct side *s, enum ibv_wr_opcode op1,
			    void *local, size_t len1, enum ibv_wr_opcode op2,
			    size_t len2, struct side *remote)
{
	struct ibv_sge sge[2] = {
		{ .addr = (uintptr_t)local, .length = len1, .lkey = s->mr->lkey },
		{ .addr = (uintptr_t)local, .length = len2, .lkey = s->mr->lkey },
	};
	struct ibv_send_wr wr[2] = {
		{ .opcode = op1, .sg_list = &sge[0], .num_sge = 1,
		  .send_flags = IBV_SEND_SIGNALED, .next = &wr[1] },
		{ .opcode = op2, .sg_list = &sge[1], .num_sge = 1,
		  .send_flags = IBV_SEND_SIGNALED },
	}, *bad;
	int ret;

	for (int i = 0; i < 2; i++) {
		wr[i].wr.rdma.remote_addr = (uintptr_t)remote->buf;
		wr[i].wr.rdma.rkey = remote->mr->rkey;
	}
	ret = ibv_post_send(s->id->qp, wr, &bad);
	if (ret)
		die("ibv_post_send of two: %s", strerror(abs(ret)));
}

static void post_recv(struct side *s, void *local, size_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = len,
			       .lkey = s->mr->lkey };
	struct ibv_recv_wr wr = { .sg_list = &sge, .num_sge = 1 }, *bad;
	int ret = ibv_post_recv(s->id->qp, &wr, &bad);

	if (ret)
		die("ibv_post_recv: %s", strerror(abs(ret)));
}

static void expect_wc(struct side *s, const char *name, enum ibv_wc_status want)
{
	struct ibv_wc wc = poll_one(s);

	if (wc.status != want)
		check(0, name, "completion status %s, want %s",
		      ibv_wc_status_str(wc.status), ibv_wc_status_str(want));
}

/*
 * Wait until @srv has placed everything @cli sent before.  A requester's
 * RDMA WRITE completion does not say the data has reached the responder's
 * memory: on iWARP it only says the data is in the TCP stream.  A SEND
 * that follows it on the same QP is delivered after the WRITE is placed,
 * so its receive completion at @srv is the fence.
 */
static void placed(const char *name, struct side *cli, struct side *srv)
{
	/* zero-length, but one SGE each: libsiw refuses a receive without */
	struct ibv_sge rsge = { .addr = (uintptr_t)srv->buf, .length = 0,
				.lkey = srv->mr->lkey };
	struct ibv_sge ssge = { .addr = (uintptr_t)cli->buf, .length = 0,
				.lkey = cli->mr->lkey };
	struct ibv_recv_wr rwr = { .sg_list = &rsge, .num_sge = 1 }, *rbad;
	struct ibv_send_wr swr = { .opcode = IBV_WR_SEND, .sg_list = &ssge,
				   .num_sge = 1,
				   .send_flags = IBV_SEND_SIGNALED }, *sbad;
	struct ibv_wc wc;
	int ret;

	ret = ibv_post_recv(srv->id->qp, &rwr, &rbad);
	if (!ret)
		ret = ibv_post_send(cli->id->qp, &swr, &sbad);
	if (ret)
		die("fence after %s: %s", name, strerror(abs(ret)));
	expect_wc(cli, name, IBV_WC_SUCCESS);
	wc = poll_one(srv);
	if (wc.status != IBV_WC_SUCCESS)
		check(0, name, "fence receive status %s",
		      ibv_wc_status_str(wc.status));
}

/* One RDMA operation from @cli's @src to @srv at @roff, or the reverse. */
static void rdma_op(const char *name, struct side *cli, struct side *srv,
		    enum ibv_wr_opcode op, uint8_t *cbuf, size_t roff,
		    size_t len, unsigned int seed)
{
	uint8_t *want = malloc(len);
	int before = failures;
	char why[96] = "";

	fill(want, len, seed);
	fill(op == IBV_WR_RDMA_WRITE ? cbuf : srv->buf + roff, len, seed);
	memset(op == IBV_WR_RDMA_WRITE ? srv->buf + roff : cbuf, 0, len);
	post_send(cli, op, cbuf, len, srv, roff);
	expect_wc(cli, name, IBV_WC_SUCCESS);
	if (op == IBV_WR_RDMA_WRITE && failures == before)
		placed(name, cli, srv);
	if (failures == before)
		check(same(want, op == IBV_WR_RDMA_WRITE ? srv->buf + roff : cbuf,
			   len, why, sizeof(why)), name, "%s", why);
	free(want);
}

static void send_op(const char *name, struct side *from, uint8_t *src,
		    struct side *to, uint8_t *dst, size_t len,
		    unsigned int seed)
{
	uint8_t *want = malloc(len);
	int before = failures;
	char why[96] = "";
	struct ibv_wc wc;

	fill(want, len, seed);
	fill(src, len, seed);
	memset(dst, 0, len);
	post_recv(to, dst, len);
	post_send(from, IBV_WR_SEND, src, len, NULL, 0);
	expect_wc(from, name, IBV_WC_SUCCESS);
	wc = poll_one(to);
	if (wc.status != IBV_WC_SUCCESS || wc.byte_len != len)
		check(0, name, "receive status %s, %u bytes",
		      ibv_wc_status_str(wc.status), wc.byte_len);
	if (failures == before)
		check(same(want, dst, len, why, sizeof(why)), name, "%s", why);
	free(want);
}

static int cmd_data(const char *saddr, const char *caddr, const char *file)
{
	struct side srv = { .len = NP * pg }, cli = { .len = 2 * NP * pg };
	uint8_t *host, *p2p, *edge;
	struct ibv_device_attr attr;

	/* server: all p2pmem; client: NP host pages, then NP p2pmem pages */
	srv.buf = map_p2p(file, NULL, srv.len);
	cli.buf = map_anon(cli.len);
	host = cli.buf;
	p2p = map_p2p(file, cli.buf + NP * pg, NP * pg);
	edge = p2p - 2 * pg;	/* two host pages, then two p2pmem pages */

	connect_pair(&srv, &cli, saddr, caddr, PORT);
	check(has_p2p_cap(srv.id->verbs) && has_p2p_cap(cli.id->verbs),
	      "capability", "IBV_DEVICE_PCI_P2PDMA is not set");
	check(1, "reg-mr-p2pmem", "");
	check(1, "reg-mr-mixed", "");

	rdma_op("write-host-to-p2p", &cli, &srv, IBV_WR_RDMA_WRITE, host, 0,
		NP * pg, 1);
	rdma_op("write-p2p-to-p2p", &cli, &srv, IBV_WR_RDMA_WRITE, p2p, 0,
		NP * pg, 2);
	rdma_op("write-across-to-p2p", &cli, &srv, IBV_WR_RDMA_WRITE, edge,
		100, 3 * pg, 3);
	rdma_op("read-p2p-to-host", &cli, &srv, IBV_WR_RDMA_READ, host, 0,
		NP * pg, 4);
	rdma_op("read-p2p-to-p2p", &cli, &srv, IBV_WR_RDMA_READ, p2p + 8, 8,
		NP * pg - 16, 5);
	send_op("send-across-to-p2p", &cli, edge + 3, &srv, srv.buf + 5,
		3 * pg, 6);
	send_op("send-p2p-to-across", &srv, srv.buf, &cli, edge, 4 * pg, 7);
	send_op("send-short-p2p", &cli, p2p + pg - 20, &srv, srv.buf, 40, 8);
	/*
	 * READ responses of a few bytes that cross a page of the responder's
	 * MR, host then host and host then p2pmem: siw sends them with the
	 * header (siw_try_1seg()), from each of the two pages.
	 */
	rdma_op("read-short-across-host", &srv, &cli, IBV_WR_RDMA_READ,
		srv.buf + 64, pg - 8, 24, 9);
	rdma_op("read-short-across-to-p2p", &srv, &cli, IBV_WR_RDMA_READ,
		srv.buf + 128, NP * pg - 8, 24, 10);

	if (ibv_query_device(cli.id->verbs, &attr))
		die("ibv_query_device: %s", strerror(errno));
	if (attr.atomic_cap != IBV_ATOMIC_NONE) {
		/* The last operation: the failure moves the QPs to error. */
		post_send(&cli, IBV_WR_ATOMIC_FETCH_AND_ADD, host, 8, &srv, 0);
		expect_wc(&cli, "atomic-on-p2p-refused", IBV_WC_REM_INV_REQ_ERR);
		if (failures == 0)
			check(1, "atomic-on-p2p-refused", "");
	}

	if (ibv_dereg_mr(cli.mr) || ibv_dereg_mr(srv.mr))
		check(0, "dereg", "%s", strerror(errno));
	rdma_disconnect(cli.id);
	return failures;
}

/*
 * --- odp: RDMA WRITE and READ into ODP MRs of host memory, then of
 * p2pmem, at offsets inside a page and across page boundaries. ODP pins
 * nothing: the pages are faulted in on access, and a removal of the
 * provider zaps them through the MMU notifier.
 */
static void odp_ops(const char *what, struct side *cli, struct side *srv)
{
	char name[64];

	snprintf(name, sizeof(name), "odp-%s-write-across", what);
	rdma_op(name, cli, srv, IBV_WR_RDMA_WRITE, cli->buf, 100, 3 * pg, 11);
	snprintf(name, sizeof(name), "odp-%s-write-in-page", what);
	rdma_op(name, cli, srv, IBV_WR_RDMA_WRITE, cli->buf + 8, pg + 40, 200,
		12);
	snprintf(name, sizeof(name), "odp-%s-read-across", what);
	rdma_op(name, cli, srv, IBV_WR_RDMA_READ, cli->buf + 3, 2 * pg - 300,
		pg + 600, 13);
}

static int cmd_odp(const char *saddr, const char *caddr, const char *file)
{
	int odp = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		  IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND;
	struct side srv = { .len = NP * pg, .access = odp };
	struct side cli = { .len = NP * pg };
	struct ibv_mr *host_mr;

	srv.buf = map_anon(srv.len);
	cli.buf = map_anon(cli.len);
	connect_pair(&srv, &cli, saddr, caddr, PORT + 1);
	if (!has_odp(srv.id->verbs)) {
		printf("skip: %s has no ODP for RC WRITE and READ\n",
		       ibv_get_device_name(srv.id->verbs->device));
		exit(77);
	}
	odp_ops("host", &cli, &srv);

	/* the same on an ODP MR of p2pmem */
	host_mr = srv.mr;
	srv.buf = map_p2p(file, NULL, srv.len);
	srv.mr = ibv_reg_mr(srv.pd, srv.buf, srv.len, odp);
	check(srv.mr != NULL, "odp-reg-p2pmem", "%s", strerror(errno));
	if (srv.mr)
		odp_ops("p2pmem", &cli, &srv);

	if ((srv.mr && ibv_dereg_mr(srv.mr)) || ibv_dereg_mr(host_mr) ||
	    ibv_dereg_mr(cli.mr))
		check(0, "odp-dereg", "%s", strerror(errno));
	rdma_disconnect(cli.id);
	return failures;
}

/* --- revoke: the provider goes away under registered MRs ------------- */

static int is_iwarp(struct side *s)
{
	return s->id->verbs->device->transport_type == IBV_TRANSPORT_IWARP;
}

/* The next completion of @s: status @want, or @alt where two are right. */
static void expect_either(struct side *s, const char *name,
			  enum ibv_wc_status want, enum ibv_wc_status alt)
{
	struct ibv_wc wc = poll_one(s);

	printf("%s: %s\n", name, ibv_wc_status_str(wc.status));
	if (want == alt)
		check(wc.status == want, name, "completion status %s, want %s",
		      ibv_wc_status_str(wc.status), ibv_wc_status_str(want));
	else
		check(wc.status == want || wc.status == alt, name,
		      "completion status %s, want %s or %s",
		      ibv_wc_status_str(wc.status), ibv_wc_status_str(want),
		      ibv_wc_status_str(alt));
}

/* The next completion of @s has exactly the status @want. */
static void expect_status(struct side *s, const char *name,
			  enum ibv_wc_status want)
{
	expect_either(s, name, want, want);
}

/*
 * The responder's own word that it refused a request: the async event
 * @want on @srv's QP, within 30 s. Events of other QPs are acknowledged
 * and shown.
 */
static void expect_qp_event(struct side *srv, const char *name,
			    enum ibv_event_type want)
{
	struct ibv_context *ctx = srv->id->verbs;
	struct pollfd pfd = { .fd = ctx->async_fd, .events = POLLIN };
	struct ibv_async_event ev;
	int flags = fcntl(ctx->async_fd, F_GETFL);
	double left, deadline = now() + 30;

	if (flags < 0 || fcntl(ctx->async_fd, F_SETFL, flags | O_NONBLOCK))
		die("async fd: %s", strerror(errno));
	for (;;) {
		left = deadline - now();
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0) {
			check(0, name, "no async event on the responder's QP within 30 s, want %s",
			      ibv_event_type_str(want));
			return;
		}
		if (ibv_get_async_event(ctx, &ev)) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("ibv_get_async_event: %s", strerror(errno));
		}
		ibv_ack_async_event(&ev);
		/* the error events of a QP: fatal, request, access */
		if (ev.event_type < IBV_EVENT_QP_FATAL ||
		    ev.event_type > IBV_EVENT_QP_ACCESS_ERR ||
		    ev.element.qp != srv->id->qp) {
			printf("%s: responder event %s, not an error of its QP\n",
			       name, ibv_event_type_str(ev.event_type));
			continue;
		}
		printf("%s: responder event %s\n", name,
		       ibv_event_type_str(ev.event_type));
		check(ev.event_type == want, name, "responder event %s, want %s",
		      ibv_event_type_str(ev.event_type),
		      ibv_event_type_str(want));
		return;
	}
}

/*
 * The documented outcomes (Documentation/infiniband/p2pdma.rst):
 * - a work request with a revoked MR as its local buffer completes with
 *   IBV_WC_LOC_QP_OP_ERR on rxe and siw;
 * - an RDMA READ or WRITE targeting a revoked MR fails at the responder.
 *   On rxe (InfiniBand transport) the requester's completion is
 *   IBV_WC_REM_ACCESS_ERR, and the work requests behind it are flushed.
 *   On siw (iWARP) the responder raises an error on its QP
 *   (IBV_EVENT_QP_REQ_ERR when it cannot build a READ response,
 *   IBV_EVENT_QP_ACCESS_ERR when it cannot place a WRITE) and ends the
 *   connection, so the requester's READ is flushed (IBV_WC_WR_FLUSH_ERR).
 *   An iWARP WRITE completes at the requester once it is sent: a WRITE
 *   of one frame (64 bytes here) completes with IBV_WC_SUCCESS, or with
 *   IBV_WC_LOC_QP_OP_ERR when the responder's refusal of that very frame
 *   has brought the connection down before the requester's siw finished
 *   the work request (siw_qp_sq_proc_tx() fails a fully sent work request
 *   once tx_suspend is set). Either way a READ posted behind it is
 *   flushed, and the responder's event says the WRITE reached it.
 * A responder that drops a request without a word leaves the requester
 * to time out (IBV_WC_RETRY_EXC_ERR on rxe, no completion at all on siw):
 * both fail here.
 */
static void expect_remote_refused(struct side *cli, struct side *srv,
				  const char *name, enum ibv_wr_opcode op)
{
	char fname[64];

	snprintf(fname, sizeof(fname), "%s-flushed", name);
	if (op == IBV_WR_RDMA_READ) {
		post_send(cli, op, cli->buf, pg, srv, 0);
		if (!is_iwarp(cli)) {
			expect_status(cli, name, IBV_WC_REM_ACCESS_ERR);
		} else {
			expect_status(cli, fname, IBV_WC_WR_FLUSH_ERR);
			expect_qp_event(srv, name, IBV_EVENT_QP_REQ_ERR);
		}
		return;
	}
	/*
	 * A WRITE and a READ behind it, in one call: posted apart, the
	 * responder's refusal of the WRITE could put the QP in error first.
	 */
	post_send_chain(cli, op, cli->buf, 64, IBV_WR_RDMA_READ, pg, srv);
	if (is_iwarp(cli))	/* sent, then maybe the connection went down */
		expect_either(cli, name, IBV_WC_SUCCESS, IBV_WC_LOC_QP_OP_ERR);
	else
		expect_status(cli, name, IBV_WC_REM_ACCESS_ERR);
	expect_status(cli, fname, IBV_WC_WR_FLUSH_ERR);
	if (is_iwarp(cli))
		expect_qp_event(srv, name, IBV_EVENT_QP_ACCESS_ERR);
}

/*
 * The connections of revoke and surprise, each checked to move data first.
 * local_pair: the client's MR is host then p2pmem pages, the server's host;
 * a WRITE from the p2pmem half. remote_pair: the server's MR is all
 * p2pmem, the client's host; @op targets it.
 */
static void local_pair(struct side *srv, struct side *cli, const char *saddr,
		       const char *caddr, const char *file, int port)
{
	srv->len = NP * pg;
	cli->len = 2 * NP * pg;
	srv->buf = map_anon(srv->len);
	cli->buf = map_anon(cli->len);
	map_p2p(file, cli->buf + NP * pg, NP * pg);
	connect_pair(srv, cli, saddr, caddr, port);
	rdma_op("before-local", cli, srv, IBV_WR_RDMA_WRITE,
		cli->buf + NP * pg, 0, NP * pg, 11);
}

static void remote_pair(struct side *srv, struct side *cli, const char *saddr,
			const char *caddr, const char *file, int port,
			enum ibv_wr_opcode op, const char *name,
			unsigned int seed)
{
	srv->len = NP * pg;
	cli->len = NP * pg;
	srv->buf = map_p2p(file, NULL, srv->len);
	cli->buf = map_anon(cli->len);
	connect_pair(srv, cli, saddr, caddr, port);
	rdma_op(name, cli, srv, op, cli->buf, 0, NP * pg, seed);
}

static int cmd_revoke(const char *saddr, const char *caddr, const char *file)
{
	struct side lsrv = {}, lcli = {}, rsrv = {}, rcli = {}, wsrv = {}, wcli = {};
	char line[16];
	int err;

	local_pair(&lsrv, &lcli, saddr, caddr, file, PORT);
	remote_pair(&rsrv, &rcli, saddr, caddr, file, PORT + 1,
		    IBV_WR_RDMA_READ, "before-remote-read", 12);
	remote_pair(&wsrv, &wcli, saddr, caddr, file, PORT + 2,
		    IBV_WR_RDMA_WRITE, "before-remote-write", 13);
	if (failures)
		return failures;

	/* The test removes the provider now; p2pmem must not be touched. */
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		die("stdin closed before the provider was removed");

	/* Every outcome below comes within seconds, or never. */
	poll_seconds = 60;
	post_send(&lcli, IBV_WR_RDMA_WRITE, lcli.buf + NP * pg, pg, &lsrv, 0);
	expect_status(&lcli, "local-access-revoked", IBV_WC_LOC_QP_OP_ERR);
	expect_remote_refused(&rcli, &rsrv, "remote-read-revoked",
			      IBV_WR_RDMA_READ);
	expect_remote_refused(&wcli, &wsrv, "remote-write-revoked",
			      IBV_WR_RDMA_WRITE);

	err = ibv_dereg_mr(lcli.mr);
	check(!err, "dereg-revoked-mixed", "%s", strerror(err));
	err = ibv_dereg_mr(rsrv.mr);
	err = err ?: ibv_dereg_mr(wsrv.mr);
	check(!err, "dereg-revoked-p2pmem", "%s", strerror(err));
	err = ibv_dereg_mr(lsrv.mr);
	err = err ?: ibv_dereg_mr(rcli.mr);
	err = err ?: ibv_dereg_mr(wcli.mr);
	check(!err, "dereg-host", "%s", strerror(err));
	return failures;
}

/*
 * A surprise removal: the provider's BAR reads as made-up data (all-ones
 * on PCIe, zeros in QEMU) before the kernel knows the device is gone.
 * Reads of it must fail as reads of a revoked MR do, and nothing read
 * from it may land anywhere: the buffers the failed work requests would
 * have filled keep the marker written before.
 */
static int cmd_surprise(const char *saddr, const char *caddr,
			const char *file)
{
	struct side lsrv = {}, lcli = {}, rsrv = {}, rcli = {};
	uint8_t *mark = malloc(pg);
	char line[16], why[96] = "";
	int err;

	local_pair(&lsrv, &lcli, saddr, caddr, file, PORT);
	remote_pair(&rsrv, &rcli, saddr, caddr, file, PORT + 1,
		    IBV_WR_RDMA_READ, "before-remote-read", 12);
	if (failures)
		return failures;

	/* The test powers the provider's slot off now. */
	printf("ready\n");
	if (!fgets(line, sizeof(line), stdin))
		die("stdin closed before the provider's slot was powered off");

	poll_seconds = 60;
	memset(mark, 0x5a, pg);
	memset(lsrv.buf, 0x5a, pg);
	post_send(&lcli, IBV_WR_RDMA_WRITE, lcli.buf + NP * pg, pg, &lsrv, 0);
	expect_status(&lcli, "local-read-surprise", IBV_WC_LOC_QP_OP_ERR);
	check(same(mark, lsrv.buf, pg, why, sizeof(why)),
	      "local-read-surprise-placed-nothing", "%s", why);

	memset(rcli.buf, 0x5a, pg);
	expect_remote_refused(&rcli, &rsrv, "remote-read-surprise",
			      IBV_WR_RDMA_READ);
	check(same(mark, rcli.buf, pg, why, sizeof(why)),
	      "remote-read-surprise-placed-nothing", "%s", why);
	free(mark);

	/* The test removes the device now: the removal revokes the MRs. */
	printf("checked\n");
	if (!fgets(line, sizeof(line), stdin))
		die("stdin closed before the provider was removed");

	err = ibv_dereg_mr(lcli.mr);
	err = err ?: ibv_dereg_mr(rsrv.mr);
	check(!err, "dereg-surprise-p2pmem", "%s", strerror(err));
	err = ibv_dereg_mr(lsrv.mr);
	err = err ?: ibv_dereg_mr(rcli.mr);
	check(!err, "dereg-host", "%s", strerror(err));
	return failures;
}

/* MRs a registration loop keeps live: the removal must revoke them */
#define LIVE 4

static int cmd_regloop(const char *dev, const char *file)
{
	struct ibv_pd *pd = ibv_alloc_pd(open_dev(dev));
	uint8_t *p = map_p2p(file, NULL, NP * pg);
	struct ibv_mr *live[LIVE] = { NULL };
	unsigned long n;
	struct ibv_mr *mr;
	char line[16];
	int err, i, held = 0;

	if (!pd)
		die("ibv_alloc_pd: %s", strerror(errno));
	printf("ready\n");
	/* register, and deregister the registration LIVE - 1 before it */
	for (n = 0;; n++) {
		mr = ibv_reg_mr(pd, p, NP * pg, access_all);
		if (!mr)
			break;
		if (live[n % LIVE]) {
			err = ibv_dereg_mr(live[n % LIVE]);
			if (err) {
				check(0, "regloop", "dereg after %lu registrations: %s",
				      n, strerror(err));
				return failures;
			}
		}
		live[n % LIVE] = mr;
	}
	err = errno;
	for (i = 0; i < LIVE; i++)
		held += !!live[i];
	printf("%s: %lu registrations, then %s; %d live MRs held\n", dev, n,
	       strerrorname_np(err), held);
	check(n > 0 && (err == EFAULT || err == ENODEV), "regloop",
	      "registration %lu failed with %s, want EFAULT or ENODEV", n,
	      strerrorname_np(err));
	/* the MRs that were live across the removal: revoked, yet deregistered */
	if (!fgets(line, sizeof(line), stdin))
		die("stdin closed before the removal was over");
	for (i = 0; i < LIVE; i++) {
		err = live[i] ? ibv_dereg_mr(live[i]) : 0;
		if (err)
			check(0, "regloop-dereg-revoked", "%s", strerror(err));
	}
	if (failures == 0)
		check(1, "regloop-dereg-revoked", "");
	return failures;
}

/* --- bad inputs ------------------------------------------------------- */

static void expect_reg_errno(struct ibv_pd *pd, const char *name, void *addr,
			     size_t len, int access, int want)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr(pd, addr, len, access);
	if (mr) {
		check(0, name, "registered, want %s", strerrorname_np(want));
		ibv_dereg_mr(mr);
		return;
	}
	check(errno == want, name, "errno %s, want %s", strerrorname_np(errno),
	      strerrorname_np(want));
}

static int cmd_bad(const char *dev, const char *file)
{
	struct ibv_context *ctx = open_dev(dev);
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	int rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	uint8_t *p, *res;
	struct ibv_mr *mr;
	pid_t pid;
	int fd, st;

	if (!pd)
		die("ibv_alloc_pd: %s", strerror(errno));

	/*
	 * ODP: refused by a device without it (rxe and siw of 6.12, siw of
	 * 7.3). One with it registers, as ODP pins nothing (p2pmem-verbs odp
	 * moves data through such MRs).
	 */
	p = map_p2p(file, NULL, 2 * pg);
	if (has_odp(ctx)) {
		mr = ibv_reg_mr(pd, p, 2 * pg, rw | IBV_ACCESS_ON_DEMAND);
		check(mr && !ibv_dereg_mr(mr), "odp", "%s", strerror(errno));
	} else {
		expect_reg_errno(pd, "odp", p, 2 * pg, rw | IBV_ACCESS_ON_DEMAND,
				 EOPNOTSUPP);
	}
	expect_reg_errno(pd, "zero-length", p, 0, rw, EINVAL);

	/* a hole: the middle page of three is unmapped */
	res = map_p2p(file, NULL, 3 * pg);
	munmap(res + pg, pg);
	expect_reg_errno(pd, "hole", res, 3 * pg, rw, EFAULT);
	munmap(res, pg);
	munmap(res + 2 * pg, pg);

	/* one page past the end of the mapping */
	res = mmap(NULL, 3 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	map_p2p(file, res, 2 * pg);
	munmap(res + 2 * pg, pg);
	expect_reg_errno(pd, "past-end", res, 3 * pg, rw, EFAULT);
	munmap(res, 2 * pg);

	/* MAP_PRIVATE of the allocate file is refused by the mmap itself */
	fd = open(file, O_RDWR);
	errno = 0;
	res = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	check(res == MAP_FAILED && errno == EINVAL, "map-private",
	      "mmap gave %p, errno %s, want EINVAL", res, strerrorname_np(errno));
	close(fd);

	/* fork after registration: the child shares the p2pmem pages */
	mr = ibv_reg_mr(pd, p, 2 * pg, rw);
	if (!mr)
		die("ibv_reg_mr: %s", strerror(errno));
	fill(p, 2 * pg, 9);
	pid = fork();
	if (pid == 0) {
		uint8_t *want = malloc(2 * pg);
		char why[96];

		fill(want, 2 * pg, 9);
		if (!same(want, p, 2 * pg, why, sizeof(why))) {
			printf("child: %s\n", why);
			_exit(1);
		}
		p[0] = 0xa5;
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		die("waitpid: %s", strerror(errno));
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0 && p[0] == 0xa5,
	      "fork-child-access", "child status %#x, byte 0 is %#x", st, p[0]);

	/* dereg twice: the second call reaches the kernel with a dead handle */
	{
		struct ibv_mr copy = *mr;
		/* a providers' MR struct is larger; the copy is freed on success */
		struct ibv_mr *dead = calloc(1, 4096);

		memcpy(dead, &copy, sizeof(copy));
		check(ibv_dereg_mr(mr) == 0, "dereg", "%s", strerror(errno));
		errno = 0;
		st = ibv_dereg_mr(dead);
		/* the handle is gone from the file's table: ENOENT */
		check(st == ENOENT, "dereg-twice",
		      "second dereg returned %d (%s), want ENOENT", st,
		      st > 0 ? strerrorname_np(st) : "-");
		if (st)
			free(dead);
	}
	munmap(p, 2 * pg);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	return failures;
}

static int cmd_hold(const char *dev, const char *file)
{
	struct ibv_pd *pd = ibv_alloc_pd(open_dev(dev));
	uint8_t *p = map_p2p(file, NULL, 8 * pg);

	if (!pd || !ibv_reg_mr(pd, p, 8 * pg, access_all))
		die("ibv_reg_mr: %s", strerror(errno));
	printf("ok hold: registered 8 pages, exiting without dereg\n");
	return 0;
}

/*
 * Wait for the line on stdin that says the removal is over, deregister
 * the N MRs and print "DEVICE: N MRs deregistered, M failed"; the first
 * failure is checked as NAME. Returns the failures.
 */
static unsigned long dereg_after_removal(const char *dev, struct ibv_mr **mrs,
					 unsigned long n, const char *name)
{
	unsigned long i, bad = 0;
	char line[16];
	int err;

	if (!fgets(line, sizeof(line), stdin))
		die("stdin closed before the removal was over");
	for (i = 0; i < n; i++) {
		err = ibv_dereg_mr(mrs[i]);
		if (err && !bad++)
			check(0, name, "MR %lu: %s", i, strerror(err));
	}
	printf("%s: %lu MRs deregistered, %lu failed\n", dev, n - bad, bad);
	return bad;
}

/*
 * N MRs of one page each, on N pages of p2pmem, held by one process
 * across the removal of the provider: the removal revokes them all, and
 * each still deregisters afterwards.
 */
static int cmd_many(const char *dev, const char *file, const char *count)
{
	struct ibv_pd *pd = ibv_alloc_pd(open_dev(dev));
	unsigned long i, n = strtoul(count, NULL, 10), bad = 0;
	struct ibv_mr **mrs;
	uint8_t *p;

	if (!pd || !n)
		die("ibv_alloc_pd: %s, or no MR count", strerror(errno));
	mrs = calloc(n, sizeof(*mrs));
	if (!mrs)
		die("calloc");
	p = map_p2p(file, NULL, n * pg);
	for (i = 0; i < n; i++) {
		mrs[i] = ibv_reg_mr(pd, p + i * pg, pg, access_all);
		if (!mrs[i])
			die("ibv_reg_mr %lu of %lu: %s", i + 1, n, strerror(errno));
	}
	printf("ready\n");
	bad = dereg_after_removal(dev, mrs, n, "many-dereg");
	if (!bad)
		check(1, "many-dereg", "");
	free(mrs);
	return failures;
}

/*
 * A peer writing to an MR when its memory is revoked: how long from the
 * removal's start to the first error completion, with COUNT MRs live.
 */
static int cmd_traffic(const char *saddr, const char *caddr, const char *file,
		       const char *count)
{
	unsigned long i, n = strtoul(count, NULL, 10);
	struct side srv = {}, cli = {};
	struct ibv_mr **mrs;
	struct timespec ts;
	struct ibv_wc wc;
	double deadline;
	uint8_t *p;
	int err;

	if (!n)
		die("no MR count");
	mrs = calloc(n, sizeof(*mrs));
	if (!mrs)
		die("calloc");
	remote_pair(&srv, &cli, saddr, caddr, file, PORT + 3,
		    IBV_WR_RDMA_WRITE, "traffic-before", 14);
	if (failures)
		return failures;
	mrs[0] = srv.mr;
	p = n > 1 ? map_p2p(file, NULL, (n - 1) * pg) : NULL;
	for (i = 1; i < n; i++) {
		mrs[i] = ibv_reg_mr(srv.pd, p + (i - 1) * pg, pg, access_all);
		if (!mrs[i])
			die("ibv_reg_mr %lu of %lu: %s", i + 1, n, strerror(errno));
	}

	printf("ready\n");
	poll_seconds = 60;
	deadline = now() + 120;
	do {
		if (now() > deadline)
			die("no write failed within 120 s of ready");
		post_send(&cli, IBV_WR_RDMA_WRITE, cli.buf, pg, &srv, 0);
		wc = poll_one(&cli);
	} while (wc.status == IBV_WC_SUCCESS);
	clock_gettime(CLOCK_REALTIME, &ts);
	printf("first-error %lld.%06ld %s\n", (long long)ts.tv_sec,
	       ts.tv_nsec / 1000, ibv_wc_status_str(wc.status));

	dereg_after_removal(ibv_get_device_name(srv.id->verbs->device), mrs, n,
			    "traffic-dereg");
	err = ibv_dereg_mr(cli.mr);
	check(!err, "traffic-dereg-host", "%s", strerror(err));
	free(mrs);
	return failures;
}

/* Post @n RDMA WRITEs to @remote in one call, with wr_ids @id onwards. */
static void post_writes(struct side *s, struct side *remote, uint64_t id,
			int n)
{
	struct ibv_sge sge = { .addr = (uintptr_t)s->buf, .length = 64,
			       .lkey = s->mr->lkey };
	struct ibv_send_wr wr[2] = {}, *bad;
	int ret;

	for (int i = 0; i < n; i++) {
		wr[i].wr_id = id + i;
		wr[i].opcode = IBV_WR_RDMA_WRITE;
		wr[i].sg_list = &sge;
		wr[i].num_sge = 1;
		wr[i].send_flags = IBV_SEND_SIGNALED;
		wr[i].wr.rdma.remote_addr = (uintptr_t)remote->buf;
		wr[i].wr.rdma.rkey = remote->mr->rkey;
		wr[i].next = i + 1 < n ? &wr[i + 1] : NULL;
	}
	ret = ibv_post_send(s->id->qp, wr, &bad);
	if (ret)
		die("ibv_post_send of %d to a QP in error: %s", n,
		    strerror(abs(ret)));
}

/* The next completion of @s is the flush of work request @id. */
static void expect_flushed(struct side *s, const char *name, uint64_t id)
{
	struct ibv_wc wc = poll_one(s);

	printf("%s: %s, wr_id %llu\n", name, ibv_wc_status_str(wc.status),
	       (unsigned long long)wc.wr_id);
	check(wc.status == IBV_WC_WR_FLUSH_ERR && wc.wr_id == id, name,
	      "completion status %s of wr_id %llu, want %s of wr_id %llu",
	      ibv_wc_status_str(wc.status), (unsigned long long)wc.wr_id,
	      ibv_wc_status_str(IBV_WC_WR_FLUSH_ERR), (unsigned long long)id);
}

/*
 * Wait until rdma_cm reports @s's connection closed: an iWARP device
 * flushes its queues when the connection goes, so a request posted
 * before would be flushed even where posting in error is broken.
 */
static void wait_disconnected(struct side *s)
{
	struct rdma_event_channel *ch = s->id->channel;
	struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };
	struct rdma_cm_event *ev;
	double deadline = now() + 60;
	int flags = fcntl(ch->fd, F_GETFL);

	if (flags < 0 || fcntl(ch->fd, F_SETFL, flags | O_NONBLOCK))
		die("rdma_cm channel: %s", strerror(errno));
	for (;;) {
		if (now() > deadline || poll(&pfd, 1, 1000) < 0)
			die("no RDMA_CM_EVENT_DISCONNECTED within 60 s");
		if (rdma_get_cm_event(ch, &ev))
			continue;
		if (ev->id == s->id &&
		    ev->event == RDMA_CM_EVENT_DISCONNECTED) {
			rdma_ack_cm_event(ev);
			return;
		}
		rdma_ack_cm_event(ev);
	}
}

/*
 * Work requests posted to a QP in the error state complete with
 * IBV_WC_WR_FLUSH_ERR, in the verbs of InfiniBand and of iWARP: an
 * application that posts its next request between a failure and its
 * completion must see that request complete too. The client's QP fails
 * as on a revoked remote MR: a WRITE to an rkey that names no MR, a READ
 * behind it.
 */
static int cmd_flush(const char *saddr, const char *caddr)
{
	struct side srv = {}, cli = {};
	struct ibv_qp_init_attr qi;
	struct ibv_qp_attr qa;
	struct ibv_mr gone;
	struct ibv_wc wc;
	double deadline;
	int n;

	srv.len = pg;
	cli.len = pg;
	srv.buf = map_anon(pg);
	cli.buf = map_anon(pg);
	connect_pair(&srv, &cli, saddr, caddr, PORT + 20);
	rdma_op("before", &cli, &srv, IBV_WR_RDMA_WRITE, cli.buf, 0, pg, 21);
	gone = *srv.mr;
	if (ibv_dereg_mr(srv.mr))
		die("ibv_dereg_mr of the server's MR: %s", strerror(errno));
	srv.mr = &gone;

	poll_seconds = 60;
	post_send_chain(&cli, IBV_WR_RDMA_WRITE, cli.buf, 64,
			IBV_WR_RDMA_READ, pg, &srv);
	if (is_iwarp(&cli))
		expect_either(&cli, "refused", IBV_WC_SUCCESS,
			      IBV_WC_LOC_QP_OP_ERR);
	else
		expect_status(&cli, "refused", IBV_WC_REM_ACCESS_ERR);
	expect_status(&cli, "refused-flushed", IBV_WC_WR_FLUSH_ERR);

	if (is_iwarp(&cli))
		wait_disconnected(&cli);
	deadline = now() + 60;
	do {
		if (ibv_query_qp(cli.id->qp, &qa, IBV_QP_STATE, &qi))
			die("ibv_query_qp: %s", strerror(errno));
		if (qa.qp_state == IBV_QPS_ERR)
			break;
		usleep(10000);
	} while (now() < deadline);
	check(qa.qp_state == IBV_QPS_ERR, "qp-in-error",
	      "QP state %d 60 s after the failure, want IBV_QPS_ERR",
	      qa.qp_state);

	/* A flush needs no peer and no timer: 30 s means never. */
	poll_seconds = 30;
	post_writes(&cli, &srv, 101, 1);
	expect_flushed(&cli, "posted-in-error", 101);
	post_writes(&cli, &srv, 102, 2);
	expect_flushed(&cli, "posted-in-error-first-of-two", 102);
	expect_flushed(&cli, "posted-in-error-second-of-two", 103);
	usleep(500000);
	n = ibv_poll_cq(cli.cq, 1, &wc);
	check(n == 0, "nothing-more", "%d more completions, the first %s of wr_id %llu",
	      n, n > 0 ? ibv_wc_status_str(wc.status) : "-",
	      n > 0 ? (unsigned long long)wc.wr_id : 0ULL);
	return failures;
}

int main(int argc, char **argv)
{
	pg = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (argc == 3 && !strcmp(argv[1], "cap"))
		return cmd_cap(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "odpcap")) {
		printf("odp %d\n", has_odp(open_dev(argv[2])));
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "data"))
		return cmd_data(argv[2], argv[3], argv[4]) > 100 ? 100 : failures;
	if (argc == 5 && !strcmp(argv[1], "odp"))
		return cmd_odp(argv[2], argv[3], argv[4]) > 100 ? 100 : failures;
	if (argc == 4 && !strcmp(argv[1], "bad"))
		return cmd_bad(argv[2], argv[3]) > 100 ? 100 : failures;
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return cmd_hold(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "revoke"))
		return cmd_revoke(argv[2], argv[3], argv[4]) > 100 ? 100 : failures;
	if (argc == 5 && !strcmp(argv[1], "surprise"))
		return cmd_surprise(argv[2], argv[3], argv[4]) > 100 ? 100 : failures;
	if (argc == 4 && !strcmp(argv[1], "regloop"))
		return cmd_regloop(argv[2], argv[3]) > 100 ? 100 : failures;
	if (argc == 5 && !strcmp(argv[1], "many"))
		return cmd_many(argv[2], argv[3], argv[4]) > 100 ? 100 : failures;
	if (argc == 4 && !strcmp(argv[1], "flush"))
		return cmd_flush(argv[2], argv[3]) > 100 ? 100 : failures;
	if (argc == 6 && !strcmp(argv[1], "traffic"))
		return cmd_traffic(argv[2], argv[3], argv[4], argv[5]) > 100 ?
		       100 : failures;
	fprintf(stderr, "usage: p2pmem-verbs cap|odpcap DEVICE\n"
		"       p2pmem-verbs data|odp|revoke|surprise SERVER_ADDR CLIENT_ADDR ALLOCATE_FILE\n"
		"       p2pmem-verbs bad|hold|regloop DEVICE ALLOCATE_FILE\n"
		"       p2pmem-verbs many DEVICE ALLOCATE_FILE COUNT\n"
		"       p2pmem-verbs traffic SERVER_ADDR CLIENT_ADDR ALLOCATE_FILE COUNT\n"
		"       p2pmem-verbs flush SERVER_ADDR CLIENT_ADDR\n");
	return 200;
}
