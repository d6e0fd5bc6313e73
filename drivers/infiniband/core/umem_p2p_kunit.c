// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * KUnit tests for user memory registrations on PCI P2PDMA memory.
 *
 * Each case maps a published provider's p2pmem/allocate file into the
 * test's own mm, next to anonymous memory where it needs host pages, and
 * calls ib_umem_get() for a bare virtual-DMA ib_device whose capability
 * flags the case chooses. No RDMA driver is involved.
 */

#include <kunit/test.h>
#include <linux/device/driver.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <rdma/ib_p2p.h>

struct umem_p2p_ctx {
	struct pci_dev *provider;
	struct file *file;
	struct ib_device *ibdev;
};

KUNIT_DEFINE_ACTION_WRAPPER(umem_p2p_fput, fput, struct file *);
KUNIT_DEFINE_ACTION_WRAPPER(umem_p2p_mntput, mntput, struct vfsmount *);
KUNIT_DEFINE_ACTION_WRAPPER(umem_p2p_dev_put, pci_dev_put, struct pci_dev *);

/* No provider goes away during the suite: nothing may be revoked. */
static void umem_p2p_revoke(struct ib_umem *umem, void *priv)
{
	struct kunit *test = priv;

	KUNIT_FAIL(test, "umem revoked while its provider is bound");
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
		if (pci_has_p2pmem(pdev)) {
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

	ctx->ibdev = kunit_kzalloc(test, sizeof(*ctx->ibdev), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx->ibdev);
	ctx->ibdev->dev.init_name = "umem-p2p-kunit";
	ctx->ibdev->attrs.device_cap_flags = IB_DEVICE_PCI_P2PDMA;
	ctx->ibdev->ops.revoke_umem = umem_p2p_revoke;
	return 0;
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

/* Whether page @i of @umem is P2PDMA memory; -1 past its end */
static int umem_page_is_p2p(struct ib_umem *umem, unsigned long i)
{
	struct sg_page_iter iter;

	for_each_sgtable_page(&umem->sgt_append.sgt, &iter, 0)
		if (!i--)
			return is_pci_p2pdma_page(sg_page_iter_page(&iter));
	return -1;
}

static void umem_p2p_only(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_p2pmem(test, 0, 4);
	struct ib_umem *umem;
	unsigned long i;

	umem = ib_umem_get(ctx->ibdev, va, 4 * PAGE_SIZE,
			   IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(umem), "ib_umem_get: %ld",
			       PTR_ERR(umem));
	KUNIT_EXPECT_TRUE(test, ib_umem_has_p2p(umem));
	KUNIT_EXPECT_EQ(test, ib_umem_num_pages(umem), 4);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ_MSG(test, umem_page_is_p2p(umem, i), 1,
				    "page %lu", i);
	/* registered with the provider, then unregistered by the release */
	KUNIT_EXPECT_EQ(test, ib_umem_p2p_arm(umem, test), 0);
	ib_umem_release(umem);
}

/* host, P2P, host pages in one VA range and one umem */
static void umem_p2p_mixed(struct kunit *test)
{
	static const int want[] = { 0, 0, 1, 1, 1, 0, 0 };
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_anon(test, 0, ARRAY_SIZE(want));
	struct ib_umem *umem;
	unsigned long i;

	map_p2pmem(test, va + 2 * PAGE_SIZE, 3);
	umem = ib_umem_get(ctx->ibdev, va, ARRAY_SIZE(want) * PAGE_SIZE,
			   IB_ACCESS_LOCAL_WRITE);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(umem), "ib_umem_get: %ld",
			       PTR_ERR(umem));
	KUNIT_EXPECT_TRUE(test, ib_umem_has_p2p(umem));
	for (i = 0; i < ARRAY_SIZE(want); i++)
		KUNIT_EXPECT_EQ_MSG(test, umem_page_is_p2p(umem, i), want[i],
				    "page %lu", i);
	KUNIT_EXPECT_EQ(test, umem_page_is_p2p(umem, ARRAY_SIZE(want)), -1);
	KUNIT_EXPECT_EQ(test, ib_umem_p2p_arm(umem, test), 0);
	ib_umem_release(umem);
}

/* Host memory alone is pinned as before and holds no provider. */
static void umem_p2p_host_only(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_anon(test, 0, 2);
	struct ib_umem *umem;

	umem = ib_umem_get(ctx->ibdev, va, 2 * PAGE_SIZE,
			   IB_ACCESS_LOCAL_WRITE);
	KUNIT_ASSERT_FALSE(test, IS_ERR(umem));
	KUNIT_EXPECT_FALSE(test, ib_umem_has_p2p(umem));
	KUNIT_EXPECT_EQ(test, umem_page_is_p2p(umem, 0), 0);
	ib_umem_release(umem);
}

/* A device without IB_DEVICE_PCI_P2PDMA gets -EOPNOTSUPP, writable or not. */
static void umem_p2p_unsupported(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_p2pmem(test, 0, 2);
	struct ib_umem *umem;

	ctx->ibdev->attrs.device_cap_flags = 0;
	umem = ib_umem_get(ctx->ibdev, va, 2 * PAGE_SIZE,
			   IB_ACCESS_LOCAL_WRITE);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(umem), -EOPNOTSUPP);
	umem = ib_umem_get(ctx->ibdev, va, 2 * PAGE_SIZE, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(umem), -EOPNOTSUPP);
}

/* A driver that cannot revoke MRs gets -EOPNOTSUPP, even with the flag. */
static void umem_p2p_no_revoke(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_p2pmem(test, 0, 2);
	struct ib_umem *umem;

	ctx->ibdev->ops.revoke_umem = NULL;
	KUNIT_EXPECT_FALSE(test, ib_umem_p2p_supported(ctx->ibdev));
	umem = ib_umem_get(ctx->ibdev, va, 2 * PAGE_SIZE,
			   IB_ACCESS_LOCAL_WRITE);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(umem), -EOPNOTSUPP);
}

/* A hole in the range fails with -EFAULT, after P2P pages were pinned. */
static void umem_p2p_hole(struct kunit *test)
{
	struct umem_p2p_ctx *ctx = test->priv;
	unsigned long va = map_p2pmem(test, 0, 3);
	struct ib_umem *umem;

	KUNIT_ASSERT_EQ(test, vm_munmap(va + PAGE_SIZE, PAGE_SIZE), 0);
	umem = ib_umem_get(ctx->ibdev, va, 3 * PAGE_SIZE,
			   IB_ACCESS_LOCAL_WRITE);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(umem), -EFAULT);
}

static struct kunit_case umem_p2p_cases[] = {
	KUNIT_CASE(umem_p2p_only),
	KUNIT_CASE(umem_p2p_mixed),
	KUNIT_CASE(umem_p2p_host_only),
	KUNIT_CASE(umem_p2p_unsupported),
	KUNIT_CASE(umem_p2p_no_revoke),
	KUNIT_CASE(umem_p2p_hole),
	{}
};

static struct kunit_suite umem_p2p_suite = {
	.name = "ib_umem_p2p",
	.init = umem_p2p_init,
	.test_cases = umem_p2p_cases,
};

kunit_test_suite(umem_p2p_suite);

MODULE_DESCRIPTION("KUnit tests for RDMA user MRs on PCI P2PDMA memory");
MODULE_LICENSE("Dual BSD/GPL");
