// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * KUnit tests for user memory registrations on PCI P2PDMA memory.
 *
 * Each case maps a published provider's p2pmem/allocate file into the
 * test's own mm, next to anonymous memory where it needs host pages, and
 * takes a umem of it for a bare ib_device that uses virtual DMA, whose
 * kernel capability flags the case chooses, as a driver's reg_user_mr
 * does: ib_umem_get_revocable_and_lock(), ib_umem_set_revoke_locked(),
 * ib_umem_revoke_unlock(), and at last ib_umem_release(). No RDMA driver
 * is involved.
 *
 * Two cases remove the provider while a umem is being taken, through the
 * hook ib_umem_p2p_map_and_lock() calls in the test kernel: between the
 * pin and the registration, and between the registration and the
 * driver's callback (the arm race). They unbind the provider's driver
 * and bind it again, and are skipped unless the kernel command line has
 * umem_p2p_kunit.remove_provider=1 (the test guests' provider is an
 * emulated NVMe CMB whose disk nothing uses).
 *
 * Kretprobes count, in the test's own task, the registrations of umems with
 * the memory of a provider (pci_p2pdma_register_revoke() that succeed),
 * their removal (pci_p2pdma_unregister_revoke()), the unmapping of umems
 * (ib_dma_unmap_sgtable_p2p(); in every task in the cases that remove the
 * provider, whose removal unmaps in its own) and calls into the DMA layer
 * (dma_map_sgtable()), which a virtual-DMA device never makes.
 */

#include <kunit/test.h>
#include <kunit/test-bug.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/device/driver.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/workqueue.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_verbs.h>

#include "core_priv.h"

/* What a driver that may hold P2PDMA pages in user MRs says of itself */
#define UMEM_P2P_CAPS	(IBK_REVOCABLE_USER_MR | IBK_P2PDMA_CPU_ACCESS)

struct umem_p2p_ctx {
	struct pci_dev *provider;
	struct file *file;
	struct ib_device *ibdev;
	struct ib_umem *umem;		/* of umem_p2p_get(), until released */
	bool releasing;			/* in ib_umem_release() of umem */
	int revoke_calls;
	void *p2p;			/* a page of p2pmem of virt_dma */
	/* the cases that remove the provider (umem_p2p_remove()) */
	struct kunit *test;
	bool remove_registered;		/* remove after the registration */
	struct umem_p2p_removal *rm;	/* their removal of the provider */
};

/*
 * The provider's removal, run by a work, since unbinding the driver waits
 * for the umem. Allocated on its own: if the removal never ends, it is
 * left behind with what it uses.
 */
struct umem_p2p_removal {
	struct work_struct work;
	struct pci_dev *provider;
	struct completion done;
	bool started;
};

static bool remove_provider;
module_param(remove_provider, bool, 0444);
MODULE_PARM_DESC(remove_provider,
		 "let two cases unbind the provider's driver and bind it again");

static struct {
	struct task_struct *task;
	atomic_t registered;
	atomic_t unregistered;
	atomic_t unmapped;
	atomic_t dma_map_calls;
	/* the table of the umem a removal case takes, unmapped anywhere */
	struct sg_table *sgt;
} umem_p2p_count;

/*
 * Only the test's own task counts. Counting is done by return handlers,
 * which run in the context of the call: the handler of a kprobe hit
 * through int3 runs as an NMI.
 */
static bool umem_p2p_counted(void)
{
	return current == READ_ONCE(umem_p2p_count.task) && in_task();
}

static int umem_p2p_register_ret(struct kretprobe_instance *ri,
				 struct pt_regs *regs)
{
	if (umem_p2p_counted() && !(int)regs_return_value(regs))
		atomic_inc(&umem_p2p_count.registered);
	return 0;
}

static int umem_p2p_unregister_ret(struct kretprobe_instance *ri,
				   struct pt_regs *regs)
{
	if (umem_p2p_counted())
		atomic_inc(&umem_p2p_count.unregistered);
	return 0;
}

/* Whether the table unmapped is that of the umem of a removal case */
static int umem_p2p_unmap_entry(struct kretprobe_instance *ri,
				struct pt_regs *regs)
{
	struct sg_table *sgt = (void *)regs_get_kernel_argument(regs, 1);

	*(bool *)ri->data = sgt && sgt == READ_ONCE(umem_p2p_count.sgt);
	return 0;
}

static int umem_p2p_unmap_ret(struct kretprobe_instance *ri,
			      struct pt_regs *regs)
{
	if (umem_p2p_counted() || *(bool *)ri->data)
		atomic_inc(&umem_p2p_count.unmapped);
	return 0;
}

static int umem_p2p_dma_map_ret(struct kretprobe_instance *ri,
				struct pt_regs *regs)
{
	if (umem_p2p_counted())
		atomic_inc(&umem_p2p_count.dma_map_calls);
	return 0;
}

static struct kretprobe umem_p2p_register_probe = {
	.kp.symbol_name = "pci_p2pdma_register_revoke",
	.handler = umem_p2p_register_ret,
	.maxactive = 16,
};

static struct kretprobe umem_p2p_unregister_probe = {
	.kp.symbol_name = "pci_p2pdma_unregister_revoke",
	.handler = umem_p2p_unregister_ret,
	.maxactive = 16,
};

static struct kretprobe umem_p2p_unmap_probe = {
	.kp.symbol_name = "ib_dma_unmap_sgtable_p2p",
	.entry_handler = umem_p2p_unmap_entry,
	.handler = umem_p2p_unmap_ret,
	.data_size = sizeof(bool),
	.maxactive = 16,
};

/* enough instances for the other callers of a function this hot */
static struct kretprobe umem_p2p_dma_map_probe = {
	.kp.symbol_name = "dma_map_sgtable",
	.handler = umem_p2p_dma_map_ret,
	.maxactive = 64,
};

static struct kretprobe *umem_p2p_probes[] = {
	&umem_p2p_register_probe,
	&umem_p2p_unregister_probe,
	&umem_p2p_unmap_probe,
	&umem_p2p_dma_map_probe,
};

KUNIT_DEFINE_ACTION_WRAPPER(umem_p2p_fput, fput, struct file *);
KUNIT_DEFINE_ACTION_WRAPPER(umem_p2p_mntput, mntput, struct vfsmount *);
KUNIT_DEFINE_ACTION_WRAPPER(umem_p2p_dev_put, pci_dev_put, struct pci_dev *);
KUNIT_DEFINE_ACTION_WRAPPER(umem_p2p_free_table, sg_free_table,
			    struct sg_table *);

/*
 * The driver's revoke callback. Only ib_umem_release() may call it, or the
 * removal a case started, and before the umem is unmapped.
 */
static void umem_p2p_revoke(void *priv)
{
	struct kunit *test = priv;
	struct umem_p2p_ctx *ctx = test->priv;

	ctx->revoke_calls++;
	KUNIT_EXPECT_TRUE_MSG(test, ctx->releasing ||
			      (ctx->rm && ctx->rm->started),
			      "umem revoked while its provider is bound");
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unmapped), 0);
}

static int umem_p2p_suite_init(struct kunit_suite *suite)
{
	return register_kretprobes(umem_p2p_probes,
				   ARRAY_SIZE(umem_p2p_probes));
}

static void umem_p2p_suite_exit(struct kunit_suite *suite)
{
	unregister_kretprobes(umem_p2p_probes, ARRAY_SIZE(umem_p2p_probes));
}

/*
 * Whether @pdev publishes p2pmem. pci_has_p2pmem() is private to the
 * P2PDMA core, but a published provider is the one closest provider of
 * itself: the only one at distance 0.
 */
static bool umem_p2p_published(struct pci_dev *pdev)
{
	struct pci_dev *found = pci_p2pmem_find(&pdev->dev);

	pci_dev_put(found);
	return found == pdev;
}

static int umem_p2p_init(struct kunit *test)
{
	struct umem_p2p_ctx *ctx;
	struct file_system_type *type;
	struct pci_dev *pdev = NULL;
	struct vfsmount *mnt;
	char path[64];

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	test->priv = ctx;

	/* Providers such as an NVMe CMB appear when their probe is done. */
	wait_for_device_probe();
	for_each_pci_dev(pdev) {
		if (umem_p2p_published(pdev)) {
			ctx->provider = pdev;
			break;
		}
	}
	if (!ctx->provider)
		kunit_skip(test, "no published PCI P2PDMA provider");
	/* for_each_pci_dev() holds the reference of the device it stops at */
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, umem_p2p_dev_put,
							ctx->provider), 0);

	/* Boot-time tests run before anything mounts /sys: mount our own. */
	type = get_fs_type("sysfs");
	KUNIT_ASSERT_NOT_NULL(test, type);
	mnt = vfs_kern_mount(type, 0, "sysfs", NULL);
	module_put(type->owner);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(mnt), "mount sysfs: %ld",
			       PTR_ERR(mnt));
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, umem_p2p_mntput,
							mnt), 0);

	snprintf(path, sizeof(path), "bus/pci/devices/%s/p2pmem/allocate",
		 pci_name(ctx->provider));
	ctx->file = file_open_root_mnt(mnt, path, O_RDWR, 0);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ctx->file), "open %s: %ld", path,
			       PTR_ERR(ctx->file));
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, umem_p2p_fput,
							ctx->file), 0);

	/* no dma_device: the device uses virtual DMA */
	ctx->ibdev = kunit_kzalloc(test, sizeof(*ctx->ibdev), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx->ibdev);
	ctx->ibdev->dev.init_name = "umem-p2p-kunit";
	ctx->ibdev->attrs.kernel_cap_flags = UMEM_P2P_CAPS;
	ctx->test = test;

	atomic_set(&umem_p2p_count.registered, 0);
	atomic_set(&umem_p2p_count.unregistered, 0);
	atomic_set(&umem_p2p_count.unmapped, 0);
	atomic_set(&umem_p2p_count.dma_map_calls, 0);
	WRITE_ONCE(umem_p2p_count.task, current);
	return 0;
}

static void umem_p2p_exit(struct kunit *test)
{
	WRITE_ONCE(umem_p2p_count.sgt, NULL);
	WRITE_ONCE(umem_p2p_count.task, NULL);
}

/* Map @npages of p2pmem at @addr (0: anywhere) in the test's mm. */
static unsigned long map_p2pmem(struct kunit *test, unsigned long addr,
				unsigned long npages)
{
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long flags = MAP_SHARED | (addr ? MAP_FIXED : 0);
	unsigned long va;

	va = kunit_vm_mmap(test, ctx->file, addr, npages * PAGE_SIZE,
			   PROT_READ | PROT_WRITE, flags, 0);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR_VALUE(va) || !va,
			       "mmap of p2pmem: %ld", (long)va);
	return va;
}

static unsigned long map_anon(struct kunit *test, unsigned long addr,
			      unsigned long npages)
{
	unsigned long flags = MAP_PRIVATE | MAP_ANONYMOUS |
			      (addr ? MAP_FIXED : 0);
	unsigned long va;

	va = kunit_vm_mmap(test, NULL, addr, npages * PAGE_SIZE,
			   PROT_READ | PROT_WRITE, flags, 0);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR_VALUE(va) || !va,
			       "anonymous mmap: %ld", (long)va);
	return va;
}

/* ib_umem_release() of the umem of umem_p2p_get(), as a deregistration */
static void umem_p2p_release(void *data)
{
	struct umem_p2p_ctx *ctx = data;

	ctx->releasing = true;
	ib_umem_release(ctx->umem);
	ctx->releasing = false;
	ctx->umem = NULL;
}

/*
 * Take a revocable umem of @npages at @va as a driver's reg_user_mr does:
 * set the revoke callback under the revoke lock the umem comes with, then
 * unlock. The umem is released when the case ends, if umem_p2p_put() did
 * not release it before.
 */
static struct ib_umem *umem_p2p_get(struct kunit *test, unsigned long va,
				    unsigned long npages, int access)
{
	struct umem_p2p_ctx *ctx = test->priv;
	struct ib_umem *umem;

	umem = ib_umem_get_revocable_and_lock(ctx->ibdev, va,
					      npages * PAGE_SIZE, access);
	if (IS_ERR(umem))
		return umem;
	ib_umem_set_revoke_locked(umem, umem_p2p_revoke, test);
	ib_umem_revoke_unlock(umem);
	ctx->umem = umem;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, umem_p2p_release,
							ctx), 0);
	return umem;
}

/*
 * Release the umem of umem_p2p_get(), registered with the memory of
 * @providers providers: nothing revoked it before, so the release calls
 * the revoke callback, once, then unmaps the umem, once, then unregisters
 * it from each provider.
 */
static void umem_p2p_put(struct kunit *test, int providers)
{
	struct umem_p2p_ctx *ctx = test->priv;

	KUNIT_EXPECT_FALSE(test, ib_umem_revoked(ctx->umem));
	KUNIT_EXPECT_EQ(test, ctx->revoke_calls, 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.registered),
			providers);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unmapped), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unregistered), 0);

	kunit_release_action(test, umem_p2p_release, ctx);
	KUNIT_EXPECT_EQ(test, ctx->revoke_calls, 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unmapped), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unregistered),
			providers);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.dma_map_calls), 0);
}

/* Whether page @i of @umem is P2PDMA memory; -1 past its end */
static int umem_page_is_p2p(struct ib_umem *umem, unsigned long i)
{
	struct sg_page_iter iter;

	for_each_sgtable_page(&umem->sgt_append.sgt, &iter, 0)
		if (!i--)
			return is_pci_p2pdma_page(sg_page_iter_page(&iter));
	return -1;
}

/*
 * A device that uses virtual DMA gets the kernel address of every segment
 * of a umem, none marked as a bus address: its driver tells P2PDMA memory
 * by its page.
 */
static void umem_p2p_expect_virt_dma(struct kunit *test, struct ib_umem *umem)
{
	struct sg_table *sgt = &umem->sgt_append.sgt;
	struct scatterlist *sg;
	int i;

	KUNIT_EXPECT_EQ(test, sgt->nents, sgt->orig_nents);
	for_each_sgtable_dma_sg(sgt, sg, i) {
		KUNIT_EXPECT_EQ(test, sg_dma_address(sg), (uintptr_t)sg_virt(sg));
		KUNIT_EXPECT_EQ(test, sg_dma_len(sg), sg->length);
		KUNIT_EXPECT_FALSE_MSG(test, sg_dma_is_bus_address(sg),
				       "segment %d", i);
	}
}

/*
 * A long-term pin refuses P2PDMA pages (GUP without FOLL_PCI_P2PDMA), so
 * ib_umem_get_va() never takes them, even for a device that could hold
 * them, writable or not.
 */
static void umem_p2p_va_refused(struct kunit *test)
{
	static const int access[] = { IB_ACCESS_LOCAL_WRITE, 0 };
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_p2pmem(test, 0, 2);
	struct ib_umem *umem;
	int i, err;

	for (i = 0; i < ARRAY_SIZE(access); i++) {
		umem = ib_umem_get_va(ctx->ibdev, va, 2 * PAGE_SIZE, access[i]);
		err = PTR_ERR_OR_ZERO(umem);
		KUNIT_EXPECT_TRUE_MSG(test, err == -EREMOTEIO || err == -EFAULT,
				      "ib_umem_get_va, access %#x: %d",
				      access[i], err);
		if (!err)
			ib_umem_release(umem);
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.registered), 0);
}

static void umem_p2p_only(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_p2pmem(test, 0, 4);
	struct ib_umem *umem;
	unsigned long i;

	KUNIT_EXPECT_TRUE(test, ib_p2p_user_mr_supported(ctx->ibdev));
	umem = umem_p2p_get(test, va, 4,
			    IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(umem),
			       "ib_umem_get_revocable_and_lock: %ld",
			       PTR_ERR(umem));
	KUNIT_EXPECT_TRUE(test, ib_umem_holds_p2pdma(umem));
	KUNIT_EXPECT_EQ(test, ib_umem_num_pages(umem), 4);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ_MSG(test, umem_page_is_p2p(umem, i), 1,
				    "page %lu", i);
	umem_p2p_expect_virt_dma(test, umem);
	/* registered with the provider, then unregistered by the release */
	umem_p2p_put(test, 1);
}

/* host, P2P, host pages in one VA range and one umem */
static void umem_p2p_mixed(struct kunit *test)
{
	static const int want[] = { 0, 0, 1, 1, 1, 0, 0 };
	unsigned long va = map_anon(test, 0, ARRAY_SIZE(want));
	struct ib_umem *umem;
	unsigned long i;

	map_p2pmem(test, va + 2 * PAGE_SIZE, 3);
	umem = umem_p2p_get(test, va, ARRAY_SIZE(want), IB_ACCESS_LOCAL_WRITE);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(umem),
			       "ib_umem_get_revocable_and_lock: %ld",
			       PTR_ERR(umem));
	KUNIT_EXPECT_TRUE(test, ib_umem_holds_p2pdma(umem));
	for (i = 0; i < ARRAY_SIZE(want); i++)
		KUNIT_EXPECT_EQ_MSG(test, umem_page_is_p2p(umem, i), want[i],
				    "page %lu", i);
	KUNIT_EXPECT_EQ(test, umem_page_is_p2p(umem, ARRAY_SIZE(want)), -1);
	umem_p2p_expect_virt_dma(test, umem);
	/* the three P2PDMA pages are of one provider */
	umem_p2p_put(test, 1);
}

/*
 * Host memory alone is pinned as before and holds no provider, through
 * either entry point; a revocable umem of it is still revoked once, by
 * its release.
 */
static void umem_p2p_host_only(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_anon(test, 0, 2);
	struct ib_umem *umem;

	umem = ib_umem_get_va(ctx->ibdev, va, 2 * PAGE_SIZE,
			      IB_ACCESS_LOCAL_WRITE);
	KUNIT_ASSERT_FALSE(test, IS_ERR(umem));
	KUNIT_EXPECT_FALSE(test, ib_umem_holds_p2pdma(umem));
	KUNIT_EXPECT_FALSE(test, ib_umem_revoked(umem));
	KUNIT_EXPECT_EQ(test, umem_page_is_p2p(umem, 0), 0);
	ib_umem_release(umem);

	umem = umem_p2p_get(test, va, 2, IB_ACCESS_LOCAL_WRITE);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(umem),
			       "ib_umem_get_revocable_and_lock: %ld",
			       PTR_ERR(umem));
	KUNIT_EXPECT_FALSE(test, ib_umem_holds_p2pdma(umem));
	KUNIT_EXPECT_EQ(test, umem_page_is_p2p(umem, 0), 0);
	umem_p2p_expect_virt_dma(test, umem);
	umem_p2p_put(test, 0);
}

/*
 * A device with kernel capability flags @caps cannot hold P2PDMA pages:
 * ib_umem_get_revocable_and_lock() fails with -EOPNOTSUPP, writable or
 * not, and nothing is registered with the provider.
 */
static void umem_p2p_expect_refused(struct kunit *test, u64 caps)
{
	static const int access[] = { IB_ACCESS_LOCAL_WRITE, 0 };
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_p2pmem(test, 0, 2);
	struct ib_umem *umem;
	int i;

	ctx->ibdev->attrs.kernel_cap_flags = caps;
	KUNIT_EXPECT_FALSE(test, ib_p2p_user_mr_supported(ctx->ibdev));
	for (i = 0; i < ARRAY_SIZE(access); i++) {
		umem = ib_umem_get_revocable_and_lock(ctx->ibdev, va,
						      2 * PAGE_SIZE,
						      access[i]);
		KUNIT_EXPECT_EQ_MSG(test, PTR_ERR_OR_ZERO(umem), -EOPNOTSUPP,
				    "access %#x", access[i]);
		if (!IS_ERR(umem)) {
			/* a driver's own error: unlock, release, no callback */
			ib_umem_revoke_unlock(umem);
			ib_umem_release(umem);
		}
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.registered), 0);
}

/* A device without any of the capabilities */
static void umem_p2p_unsupported(struct kunit *test)
{
	umem_p2p_expect_refused(test, 0);
}

/* A driver that cannot revoke MRs, even if it could touch P2PDMA memory */
static void umem_p2p_no_revoke(struct kunit *test)
{
	umem_p2p_expect_refused(test, IBK_P2PDMA_CPU_ACCESS);
}

/* A virtual-DMA driver that revokes MRs but would touch MMIO as RAM */
static void umem_p2p_no_cpu_access(struct kunit *test)
{
	umem_p2p_expect_refused(test, IBK_REVOCABLE_USER_MR);
}

/* A hole in the range fails with -EFAULT, after P2P pages were pinned. */
static void umem_p2p_hole(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_p2pmem(test, 0, 3);
	struct ib_umem *umem;

	KUNIT_ASSERT_EQ(test, vm_munmap(va + PAGE_SIZE, PAGE_SIZE), 0);
	umem = umem_p2p_get(test, va, 3, IB_ACCESS_LOCAL_WRITE);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(umem), -EFAULT);
	/* never mapped nor registered, and no callback was set */
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.registered), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unregistered), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unmapped), 0);
	KUNIT_EXPECT_EQ(test, ctx->revoke_calls, 0);
}

static void umem_p2p_free_host(void *host)
{
	__free_pages(host, 1);
}

static void umem_p2p_free_p2p(void *data)
{
	struct umem_p2p_ctx *ctx = data;

	pci_free_p2pmem(ctx->provider, ctx->p2p, PAGE_SIZE);
}

/*
 * ib_dma_map_sgtable_p2p() of a kernel table of a host page, a P2PDMA page
 * and a host page for a device that uses virtual DMA (the NULL device of
 * pci_p2pdma_map_sg() before 7.3): kernel addresses, no segment marked as
 * a bus address (the driver tells P2PDMA memory by its page), and the DMA
 * layer never called.
 */
static void umem_p2p_virt_dma(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	struct dma_iova_state state = {};
	struct page *pages[3], *host;
	struct scatterlist *sg;
	struct sg_table *sgt;
	int i;

	host = alloc_pages(GFP_KERNEL, 1);
	KUNIT_ASSERT_NOT_NULL(test, host);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, umem_p2p_free_host,
							host), 0);
	ctx->p2p = pci_alloc_p2pmem(ctx->provider, PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, ctx->p2p);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, umem_p2p_free_p2p,
							ctx), 0);

	pages[0] = host;
	pages[1] = virt_to_page(ctx->p2p);
	pages[2] = host + 1;
	sgt = kunit_kzalloc(test, sizeof(*sgt), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sgt);
	KUNIT_ASSERT_EQ(test,
			sg_alloc_table_from_pages_segment(sgt, pages, 3, 0,
							  3 * PAGE_SIZE,
							  UINT_MAX, GFP_KERNEL),
			0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, umem_p2p_free_table,
							sgt), 0);
	KUNIT_ASSERT_EQ(test, sgt->orig_nents, 3);

	KUNIT_ASSERT_EQ(test, ib_dma_map_sgtable_p2p(ctx->ibdev, sgt,
						     DMA_BIDIRECTIONAL, 0,
						     &state), 0);
	KUNIT_EXPECT_EQ(test, sgt->nents, 3);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.dma_map_calls), 0);
	for_each_sgtable_dma_sg(sgt, sg, i) {
		KUNIT_EXPECT_EQ(test, sg_dma_address(sg), (uintptr_t)sg_virt(sg));
		KUNIT_EXPECT_EQ(test, sg_dma_len(sg), sg->length);
		KUNIT_EXPECT_FALSE(test, sg_dma_is_bus_address(sg));
		KUNIT_EXPECT_EQ(test, is_pci_p2pdma_page(sg_page(sg)), i == 1);
	}
	KUNIT_EXPECT_EQ(test, sg_dma_address(sg_next(sgt->sgl)),
			(uintptr_t)ctx->p2p);

	ib_dma_unmap_sgtable_p2p(ctx->ibdev, sgt, DMA_BIDIRECTIONAL, 0, &state);
	for_each_sgtable_sg(sgt, sg, i)
		KUNIT_EXPECT_FALSE(test, sg_dma_is_bus_address(sg));
}

/* The first P2PDMA page of @umem, which its pin keeps alive */
static struct page *umem_p2p_first_page(struct ib_umem *umem)
{
	struct sg_page_iter iter;

	for_each_sgtable_page(&umem->sgt_append.sgt, &iter, 0)
		if (is_pci_p2pdma_page(sg_page_iter_page(&iter)))
			return sg_page_iter_page(&iter);
	return NULL;
}

static void umem_p2p_unbind(struct work_struct *work)
{
	struct umem_p2p_removal *rm = container_of(work,
						   struct umem_p2p_removal,
						   work);

	device_release_driver(&rm->provider->dev);
	complete_all(&rm->done);	/* waited for twice */
}

/*
 * Whether the removal reached the point the hook waits for: before the
 * registration, the memory is marked; after it, the removal is in the
 * umem's callback (waiting for the revoke lock the caller holds), or done.
 */
static bool umem_p2p_removal_at(struct umem_p2p_ctx *ctx, struct ib_umem *umem,
				struct page *page, bool registered)
{
	if (!registered)
		return pci_p2pdma_page_revoked(page);
	return ib_umem_p2p_test_busy(umem) || completion_done(&ctx->rm->done);
}

/*
 * ib_umem_p2p_test_hook of the removal cases: called by
 * ib_umem_p2p_map_and_lock() with the umem's P2PDMA pages pinned, before
 * it registers the umem with their memory (@registered false) and after
 * (@registered true, the revoke lock held). At the point the case chose,
 * start the removal of the provider and return once it has come as far
 * as it can: the memory is marked, and the removal will wait for the
 * umem, or (after the registration) is in the umem's callback.
 */
static void umem_p2p_hook(struct ib_umem *umem, bool registered)
{
	struct kunit *test = kunit_get_current_test();
	struct umem_p2p_ctx *ctx;
	struct page *page;
	int ms;

	if (!test || current != READ_ONCE(umem_p2p_count.task))
		return;
	ctx = test->priv;
	if (registered != ctx->remove_registered || ctx->rm->started)
		return;
	page = umem_p2p_first_page(umem);
	if (!page) {
		KUNIT_FAIL(test, "the umem holds no P2PDMA page");
		return;
	}
	WRITE_ONCE(umem_p2p_count.sgt, &umem->sgt_append.sgt);
	ctx->rm->started = true;
	queue_work(system_dfl_wq, &ctx->rm->work);
	for (ms = 0; ms < 10000 &&
	     !umem_p2p_removal_at(ctx, umem, page, registered); ms += 20)
		msleep(20);
	KUNIT_EXPECT_TRUE_MSG(test, umem_p2p_removal_at(ctx, umem, page,
							registered),
			      "the removal of %s did not get that far in 10 s",
			      pci_name(ctx->provider));
}

/*
 * Bind the provider's driver again once the removal is over, and wait for
 * its memory to be published, for the cases and tests that follow. A
 * removal that never ends is left alone, with its work.
 */
static void umem_p2p_rebind(void *data)
{
	struct umem_p2p_ctx *ctx = data;
	struct umem_p2p_removal *rm = ctx->rm;
	struct kunit *test = ctx->test;
	int ms;

	WRITE_ONCE(ib_umem_p2p_test_hook, NULL);
	if (rm->started && !wait_for_completion_timeout(&rm->done, 10 * HZ)) {
		KUNIT_FAIL(test, "the removal of %s never ended: it stays unbound",
			   pci_name(ctx->provider));
		return;
	}
	pci_dev_put(rm->provider);
	kfree(rm);
	ctx->rm = NULL;

	KUNIT_EXPECT_EQ_MSG(test, device_attach(&ctx->provider->dev), 1,
			    "binding %s again", pci_name(ctx->provider));
	for (ms = 0; ms < 10000 && !umem_p2p_published(ctx->provider); ms += 20)
		msleep(20);
	KUNIT_EXPECT_TRUE_MSG(test, umem_p2p_published(ctx->provider),
			      "%s publishes no p2pmem after it was bound again",
			      pci_name(ctx->provider));
}

/*
 * Take a umem of two pages of p2pmem while the provider's removal starts
 * in the window the case chose; the removal must end within 10 s.
 */
static struct ib_umem *umem_p2p_remove(struct kunit *test, bool registered)
{
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_p2pmem(test, 0, 2);
	struct umem_p2p_removal *rm;
	struct ib_umem *umem;

	if (!remove_provider)
		kunit_skip(test,
			   "unbinding %s is not allowed: boot with umem_p2p_kunit.remove_provider=1",
			   pci_name(ctx->provider));
	rm = kzalloc_obj(*rm);
	KUNIT_ASSERT_NOT_NULL(test, rm);
	INIT_WORK(&rm->work, umem_p2p_unbind);
	init_completion(&rm->done);
	rm->provider = pci_dev_get(ctx->provider);
	ctx->rm = rm;
	ctx->remove_registered = registered;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, umem_p2p_rebind,
							ctx), 0);
	WRITE_ONCE(ib_umem_p2p_test_hook, umem_p2p_hook);
	umem = umem_p2p_get(test, va, 2, IB_ACCESS_LOCAL_WRITE);
	WRITE_ONCE(ib_umem_p2p_test_hook, NULL);
	KUNIT_ASSERT_TRUE_MSG(test, rm->started,
			      "no removal was started: the hook was not called");
	KUNIT_EXPECT_TRUE_MSG(test, wait_for_completion_timeout(&rm->done,
								10 * HZ),
			      "the removal of %s did not end within 10 s",
			      pci_name(ctx->provider));
	return umem;
}

/*
 * The provider's removal begins between the pin of the umem's P2PDMA pages
 * and its registration with them: the registration fails, the umem is
 * unmapped and unpinned, no callback was set, and the removal goes on.
 */
static void umem_p2p_removed_before_registration(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	struct ib_umem *umem = umem_p2p_remove(test, false);

	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(umem), -ENODEV);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.registered), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unmapped), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unregistered), 0);
	KUNIT_EXPECT_EQ(test, ctx->revoke_calls, 0);
}

/*
 * The provider's removal begins between the registration of the umem and
 * the driver's callback: the removal waits for the revoke lock, then calls
 * the callback the driver set, once; the umem is unmapped once and its
 * P2PDMA pages given back, so the removal ends with the umem still held.
 * Its release calls nothing again and does not unregister.
 */
static void umem_p2p_removed_before_callback(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	struct ib_umem *umem = umem_p2p_remove(test, true);

	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(umem),
			       "ib_umem_get_revocable_and_lock: %ld",
			       PTR_ERR(umem));
	KUNIT_EXPECT_TRUE(test, ib_umem_revoked(umem));
	KUNIT_EXPECT_EQ(test, ctx->revoke_calls, 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.registered), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unmapped), 1);

	kunit_release_action(test, umem_p2p_release, ctx);
	KUNIT_EXPECT_EQ(test, ctx->revoke_calls, 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unmapped), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&umem_p2p_count.unregistered), 0);
}

static struct kunit_case umem_p2p_cases[] = {
	KUNIT_CASE(umem_p2p_va_refused),
	KUNIT_CASE(umem_p2p_only),
	KUNIT_CASE(umem_p2p_mixed),
	KUNIT_CASE(umem_p2p_host_only),
	KUNIT_CASE(umem_p2p_unsupported),
	KUNIT_CASE(umem_p2p_no_revoke),
	KUNIT_CASE(umem_p2p_no_cpu_access),
	KUNIT_CASE(umem_p2p_hole),
	KUNIT_CASE(umem_p2p_virt_dma),
	KUNIT_CASE(umem_p2p_removed_before_registration),
	KUNIT_CASE(umem_p2p_removed_before_callback),
	{}
};

static struct kunit_suite umem_p2p_suite = {
	.name = "ib_umem_p2p",
	.suite_init = umem_p2p_suite_init,
	.suite_exit = umem_p2p_suite_exit,
	.init = umem_p2p_init,
	.exit = umem_p2p_exit,
	.test_cases = umem_p2p_cases,
};

kunit_test_suite(umem_p2p_suite);

MODULE_DESCRIPTION("KUnit tests for RDMA user MRs on PCI P2PDMA memory");
MODULE_LICENSE("Dual BSD/GPL");
