// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the PCI P2PDMA provider API, run against the p2pmem
 * providers of the machine under test (for example an NVMe CMB). Every
 * case is skipped, with the reason, on a machine without a published
 * provider.
 */
#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/device.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>

/*
 * Whether @pdev publishes p2pmem. pci_has_p2pmem() is private to the
 * P2PDMA core, but a published provider is the one closest provider of
 * itself: the only one at distance 0.
 */
static bool p2pdma_test_published(struct pci_dev *pdev)
{
	struct pci_dev *found = pci_p2pmem_find(&pdev->dev);

	pci_dev_put(found);
	return found == pdev;
}

static int p2pdma_test_init(struct kunit *test)
{
	struct pci_dev *pdev = NULL;

	/* Providers appear when their (often asynchronous) probe finishes. */
	wait_for_device_probe();

	for_each_pci_dev(pdev) {
		if (p2pdma_test_published(pdev)) {
			/* The reference of for_each_pci_dev() is kept. */
			test->priv = pdev;
			return 0;
		}
	}
	kunit_skip(test, "no published p2pmem provider");
	return 0;
}

static void p2pdma_test_exit(struct kunit *test)
{
	pci_dev_put(test->priv);
}

/* The BAR of @pdev that holds bus address @bus, or -1. */
static int p2pdma_test_bar_of(struct pci_dev *pdev, pci_bus_addr_t bus)
{
	int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		if (!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM))
			continue;
		if (bus >= pci_bus_address(pdev, bar) &&
		    bus - pci_bus_address(pdev, bar) < pci_resource_len(pdev, bar))
			return bar;
	}
	return -1;
}

/* A provider's memory is ZONE_DEVICE P2PDMA memory inside one of its BARs. */
static void p2pdma_test_alloc(struct kunit *test)
{
	struct pci_dev *pdev = test->priv;
	pci_bus_addr_t bus;
	void *addr;

	addr = pci_alloc_p2pmem(pdev, SZ_64K);
	KUNIT_ASSERT_NOT_NULL(test, addr);
	KUNIT_EXPECT_TRUE(test, is_pci_p2pdma_page(virt_to_page(addr)));
	KUNIT_EXPECT_TRUE(test, is_pci_p2pdma_page(virt_to_page(addr + SZ_64K - 1)));

	bus = pci_p2pmem_virt_to_bus(pdev, addr);
	KUNIT_EXPECT_NE(test, bus, 0);
	KUNIT_EXPECT_GE(test, p2pdma_test_bar_of(pdev, bus), 0);
	KUNIT_EXPECT_EQ(test, pci_p2pmem_virt_to_bus(pdev, addr + PAGE_SIZE),
			bus + PAGE_SIZE);
	pci_free_p2pmem(pdev, addr, SZ_64K);
}

/* Allocate 2 MiB chunks until the pool is empty; return how many there were. */
static int p2pdma_test_drain(struct pci_dev *pdev, void **chunks, int max)
{
	int n = 0;

	while (n < max) {
		chunks[n] = pci_alloc_p2pmem(pdev, SZ_2M);
		if (!chunks[n])
			break;
		n++;
	}
	return n;
}

/* Everything handed back is handed out again: the pool does not leak. */
static void p2pdma_test_free_all(struct kunit *test)
{
	struct pci_dev *pdev = test->priv;
	int max = 1024, first, again, i;
	void **chunks;

	chunks = kunit_kcalloc(test, max, sizeof(*chunks), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, chunks);

	first = p2pdma_test_drain(pdev, chunks, max);
	KUNIT_ASSERT_GT(test, first, 0);
	for (i = 0; i < first; i++)
		pci_free_p2pmem(pdev, chunks[i], SZ_2M);

	again = p2pdma_test_drain(pdev, chunks, max);
	for (i = 0; i < again; i++)
		pci_free_p2pmem(pdev, chunks[i], SZ_2M);
	KUNIT_EXPECT_EQ(test, again, first);
}

/* A scatterlist of provider memory has one segment of P2PDMA pages. */
static void p2pdma_test_sgl(struct kunit *test)
{
	struct pci_dev *pdev = test->priv;
	struct scatterlist *sgl;
	unsigned int nents = 0;

	sgl = pci_p2pmem_alloc_sgl(pdev, &nents, 3 * PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, sgl);
	KUNIT_EXPECT_EQ(test, nents, 1);
	KUNIT_EXPECT_EQ(test, sgl->length, 3 * PAGE_SIZE);
	KUNIT_EXPECT_TRUE(test, is_pci_p2pdma_page(sg_page(sgl)));
	pci_p2pmem_free_sgl(pdev, sgl);
}

/* A provider is always a valid peer of itself. */
static void p2pdma_test_distance_self(struct kunit *test)
{
	struct pci_dev *pdev = test->priv;
	struct device *client = &pdev->dev;

	KUNIT_EXPECT_GE(test, pci_p2pdma_distance_many(pdev, &client, 1, true), 0);
	KUNIT_EXPECT_EQ(test, pci_p2pdma_distance_many(pdev, &client, 0, true), -1);
}

/*
 * Every page of a provider's memory leads back to the provider, and none
 * is being taken away while the provider stays bound.
 */
static void p2pdma_test_page_provider(struct kunit *test)
{
	struct pci_dev *pdev = test->priv;
	void *addr;

	addr = pci_alloc_p2pmem(pdev, SZ_64K);
	KUNIT_ASSERT_NOT_NULL(test, addr);
	KUNIT_EXPECT_PTR_EQ(test, pci_p2pdma_page_provider(virt_to_page(addr)),
			    pdev);
	KUNIT_EXPECT_PTR_EQ(test,
			    pci_p2pdma_page_provider(virt_to_page(addr + SZ_64K - 1)),
			    pdev);
	KUNIT_EXPECT_FALSE(test, pci_p2pdma_page_revoked(virt_to_page(addr)));
	pci_free_p2pmem(pdev, addr, SZ_64K);
}

/* A holder of P2PDMA pages, registered with the memory they belong to */
struct p2pdma_test_holder {
	struct pci_p2pdma_revoke revoke;
	atomic_t calls;			/* of prepare and revoke */
};

/* Called under the P2PDMA core's lock: count, never sleep. */
static void p2pdma_test_prepare(struct pci_p2pdma_revoke *r)
{
	atomic_inc(&container_of(r, struct p2pdma_test_holder, revoke)->calls);
}

static void p2pdma_test_revoke(struct pci_p2pdma_revoke *r)
{
	atomic_inc(&container_of(r, struct p2pdma_test_holder, revoke)->calls);
}

/*
 * Two holders register with the pagemap of the pages they hold, then
 * unregister by themselves: neither callback is called while the
 * provider stays bound.
 */
static void p2pdma_test_revoke_register(struct kunit *test)
{
	struct pci_dev *pdev = test->priv;
	struct p2pdma_test_holder h[2] = {};
	int ret[2], i;
	void *addr;

	addr = pci_alloc_p2pmem(pdev, 2 * PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, addr);

	for (i = 0; i < ARRAY_SIZE(h); i++) {
		h[i].revoke.prepare = p2pdma_test_prepare;
		h[i].revoke.revoke = p2pdma_test_revoke;
		ret[i] = pci_p2pdma_register_revoke(virt_to_page(addr + i * PAGE_SIZE),
						    &h[i].revoke);
		KUNIT_EXPECT_EQ_MSG(test, ret[i], 0, "holder %d", i);
	}
	KUNIT_EXPECT_FALSE(test, pci_p2pdma_page_revoked(virt_to_page(addr)));

	/* while the pages are still held, as the core requires */
	for (i = 0; i < ARRAY_SIZE(h); i++)
		if (!ret[i])
			pci_p2pdma_unregister_revoke(&h[i].revoke);
	for (i = 0; i < ARRAY_SIZE(h); i++)
		KUNIT_EXPECT_EQ_MSG(test, atomic_read(&h[i].calls), 0,
				    "holder %d", i);
	pci_free_p2pmem(pdev, addr, 2 * PAGE_SIZE);
}

static struct kunit_case p2pdma_test_cases[] = {
	KUNIT_CASE(p2pdma_test_alloc),
	KUNIT_CASE(p2pdma_test_free_all),
	KUNIT_CASE(p2pdma_test_sgl),
	KUNIT_CASE(p2pdma_test_distance_self),
	KUNIT_CASE(p2pdma_test_page_provider),
	KUNIT_CASE(p2pdma_test_revoke_register),
	{}
};

static struct kunit_suite p2pdma_test_suite = {
	.name = "pci_p2pdma",
	.init = p2pdma_test_init,
	.exit = p2pdma_test_exit,
	.test_cases = p2pdma_test_cases,
};

kunit_test_suite(p2pdma_test_suite);

MODULE_DESCRIPTION("KUnit tests for the PCI P2PDMA provider API");
MODULE_LICENSE("GPL");
