// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for pci_p2pdma_map_sg(), run against the machine's own
 * devices: a published p2pmem provider (an NVMe CMB under QEMU), a client
 * below the same PCIe switch and a client on another root port. Run the
 * suite with and without an IOMMU, and on a CPU whose host bridge is and
 * is not whitelisted for P2PDMA, to cover every route.
 *
 * Behind an IOMMU the host segments of a table are linked into one IOVA
 * range (dma_iova_try_alloc(), dma_iova_link()); a table that cannot be
 * mapped so (no IOMMU, no host page, P2PDMA memory through the host
 * bridge) goes to dma_map_sgtable().
 *
 * IOVA ranges are counted, not inferred. A kretprobe on alloc_iova_fast(),
 * which both dma_iova_try_alloc() and iommu_dma_map_sg() reach through
 * iommu_dma_alloc_iova(), counts the ranges the IOMMU layer hands out to
 * the test's own task; one on free_iova_fast(), which dma_iova_free()
 * reaches at once (no flush queue), counts those it takes back. One on
 * dma_map_sgtable() counts calls into the DMA layer.
 */
#include <kunit/test.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/iommu.h>
#include <linux/kprobes.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>

/* Host pages of the seed case: 1 MiB, with one P2PDMA page in the middle. */
#define SEED_PAGES	(SZ_1M / PAGE_SIZE)
/* Runs of the alternating case: host, P2PDMA, host, ... */
#define ALT_RUNS	64
/* Pages of the P2PDMA-only case */
#define P2P_ONLY_PAGES	4

static struct {
	struct task_struct *task;
	atomic_t iova_allocs;
	atomic_t iova_frees;
	atomic_t dma_map_calls;
} p2pdma_map_count;

/*
 * Only the test's own task counts, never an interrupt taken on top of it.
 * Counting is done by return handlers, which run in the context of the
 * call: the handler of a kprobe hit through int3 runs as an NMI.
 */
static bool p2pdma_map_counted(void)
{
	return current == READ_ONCE(p2pdma_map_count.task) && in_task();
}

static int p2pdma_map_iova_alloc_ret(struct kretprobe_instance *ri,
				     struct pt_regs *regs)
{
	if (p2pdma_map_counted() && regs_return_value(regs))
		atomic_inc(&p2pdma_map_count.iova_allocs);
	return 0;
}

static int p2pdma_map_iova_free_ret(struct kretprobe_instance *ri,
				    struct pt_regs *regs)
{
	if (p2pdma_map_counted())
		atomic_inc(&p2pdma_map_count.iova_frees);
	return 0;
}

static int p2pdma_map_dma_ret(struct kretprobe_instance *ri,
			      struct pt_regs *regs)
{
	if (p2pdma_map_counted())
		atomic_inc(&p2pdma_map_count.dma_map_calls);
	return 0;
}

/* Enough instances for the other callers of functions this hot */
static struct kretprobe p2pdma_map_iova_alloc_probe = {
	.kp.symbol_name = "alloc_iova_fast",
	.handler = p2pdma_map_iova_alloc_ret,
	.maxactive = 64,
};

static struct kretprobe p2pdma_map_iova_free_probe = {
	.kp.symbol_name = "free_iova_fast",
	.handler = p2pdma_map_iova_free_ret,
	.maxactive = 64,
};

static struct kretprobe p2pdma_map_dma_probe = {
	.kp.symbol_name = "dma_map_sgtable",
	.handler = p2pdma_map_dma_ret,
	.maxactive = 64,
};

static struct kretprobe *p2pdma_map_probes[] = {
	&p2pdma_map_iova_alloc_probe,
	&p2pdma_map_iova_free_probe,
	&p2pdma_map_dma_probe,
};

struct p2pdma_map_test {
	struct pci_dev *provider;
	struct pci_dev *sw_client;	/* below the provider's switch */
	struct pci_dev *hb_client;	/* on another root port */
	void *p2p;			/* ALT_RUNS pages of P2PDMA memory */
	struct page *host;		/* SEED_PAGES contiguous host pages */
	struct page **pages;
	struct sg_table sgt;
	struct dma_iova_state state;	/* of the mapping of sgt */
	struct device *mapped;		/* sgt is mapped for it */
};

/*
 * Whether @pdev publishes p2pmem. pci_has_p2pmem() is private to the
 * P2PDMA core, but a published provider is the one closest provider of
 * itself: the only one at distance 0.
 */
static bool p2pdma_map_published(struct pci_dev *pdev)
{
	struct pci_dev *found = pci_p2pmem_find(&pdev->dev);

	pci_dev_put(found);
	return found == pdev;
}

static bool p2pdma_map_is_client(struct pci_dev *pdev, struct pci_dev *provider)
{
	return pdev != provider && pdev->dev.driver && !pci_is_bridge(pdev) &&
	       dma_pci_p2pdma_supported(&pdev->dev);
}

/* The Switch Upstream Port above @pdev, if @pdev sits below a switch. */
static struct pci_dev *p2pdma_map_switch_of(struct pci_dev *pdev)
{
	struct pci_dev *dsp = pci_upstream_bridge(pdev);
	struct pci_dev *usp = dsp ? pci_upstream_bridge(dsp) : NULL;

	if (!usp || !pci_is_pcie(usp) ||
	    pci_pcie_type(usp) != PCI_EXP_TYPE_UPSTREAM)
		return NULL;
	return usp;
}

static void p2pdma_map_find_clients(struct p2pdma_map_test *t)
{
	struct pci_dev *usp = p2pdma_map_switch_of(t->provider);
	struct pci_dev *rp = pcie_find_root_port(t->provider);
	struct pci_dev *pdev = NULL;

	for_each_pci_dev(pdev) {
		if (!p2pdma_map_is_client(pdev, t->provider))
			continue;
		if (!t->sw_client && usp && p2pdma_map_switch_of(pdev) == usp)
			t->sw_client = pci_dev_get(pdev);
		else if (!t->hb_client && pcie_find_root_port(pdev) != rp)
			t->hb_client = pci_dev_get(pdev);
	}
}

static int p2pdma_map_test_init(struct kunit *test)
{
	struct p2pdma_map_test *t;
	struct pci_dev *pdev = NULL;

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	test->priv = t;

	/* Providers appear when their (often asynchronous) probe finishes. */
	wait_for_device_probe();
	for_each_pci_dev(pdev) {
		if (p2pdma_map_published(pdev)) {
			/* The reference of for_each_pci_dev() is kept. */
			t->provider = pdev;
			break;
		}
	}
	if (!t->provider)
		kunit_skip(test, "no p2pmem provider");
	p2pdma_map_find_clients(t);

	t->p2p = pci_alloc_p2pmem(t->provider, ALT_RUNS * PAGE_SIZE);
	KUNIT_ASSERT_NOT_NULL(test, t->p2p);
	t->host = alloc_pages(GFP_KERNEL, get_order(SZ_1M));
	KUNIT_ASSERT_NOT_NULL(test, t->host);
	t->pages = kunit_kcalloc(test, SEED_PAGES, sizeof(*t->pages),
				 GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t->pages);

	atomic_set(&p2pdma_map_count.iova_allocs, 0);
	atomic_set(&p2pdma_map_count.iova_frees, 0);
	atomic_set(&p2pdma_map_count.dma_map_calls, 0);
	WRITE_ONCE(p2pdma_map_count.task, current);
	return 0;
}

static void p2pdma_map_unmap(struct p2pdma_map_test *t)
{
	pci_p2pdma_unmap_sg(t->mapped, &t->sgt, DMA_TO_DEVICE, 0, &t->state);
	t->mapped = NULL;
}

static void p2pdma_map_test_exit(struct kunit *test)
{
	struct p2pdma_map_test *t = test->priv;

	WRITE_ONCE(p2pdma_map_count.task, NULL);
	if (!t)
		return;
	/* a case that stopped half-way leaves nothing mapped */
	if (t->mapped)
		p2pdma_map_unmap(t);
	sg_free_table(&t->sgt);
	if (t->host)
		__free_pages(t->host, get_order(SZ_1M));
	if (t->p2p)
		pci_free_p2pmem(t->provider, t->p2p, ALT_RUNS * PAGE_SIZE);
	pci_dev_put(t->hb_client);
	pci_dev_put(t->sw_client);
	pci_dev_put(t->provider);
}

static int p2pdma_map_suite_init(struct kunit_suite *suite)
{
	return register_kretprobes(p2pdma_map_probes,
				   ARRAY_SIZE(p2pdma_map_probes));
}

static void p2pdma_map_suite_exit(struct kunit_suite *suite)
{
	unregister_kretprobes(p2pdma_map_probes, ARRAY_SIZE(p2pdma_map_probes));
}

static struct page *p2pdma_map_p2p_page(struct p2pdma_map_test *t, int i)
{
	return virt_to_page(t->p2p + i * PAGE_SIZE);
}

/* A table of @npages of t->pages, in segments @dev can take. */
static void p2pdma_map_build(struct kunit *test, struct device *dev,
			     int npages)
{
	struct p2pdma_map_test *t = test->priv;

	KUNIT_ASSERT_EQ(test,
			sg_alloc_table_from_pages_segment(&t->sgt, t->pages,
							  npages, 0,
							  npages * PAGE_SIZE,
							  dma_get_max_seg_size(dev),
							  GFP_KERNEL),
			0);
}

/* 1 MiB of host pages with one P2PDMA page in the middle. */
static void p2pdma_map_build_seed(struct kunit *test, struct device *dev)
{
	struct p2pdma_map_test *t = test->priv;
	int i;

	for (i = 0; i < SEED_PAGES; i++)
		t->pages[i] = t->host + i;
	t->pages[SEED_PAGES / 2] = p2pdma_map_p2p_page(t, 0);
	p2pdma_map_build(test, dev, SEED_PAGES);
}

/* pci_p2pdma_map_sg() of t->sgt for @dev, with a zeroed IOVA state. */
static int p2pdma_map_map(struct kunit *test, struct device *dev)
{
	struct p2pdma_map_test *t = test->priv;
	int ret;

	memset(&t->state, 0, sizeof(t->state));
	ret = pci_p2pdma_map_sg(dev, &t->sgt, DMA_TO_DEVICE, 0, &t->state);
	if (!ret)
		t->mapped = dev;
	return ret;
}

static bool p2pdma_map_translated(struct device *dev)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(dev);

	return domain && iommu_is_dma_domain(domain);
}

/* IOVA ranges handed out to the test's task */
static int p2pdma_map_iova_ranges(void)
{
	return atomic_read(&p2pdma_map_count.iova_allocs);
}

/* IOVA ranges handed out to the test's task and not taken back */
static int p2pdma_map_iova_live(void)
{
	return atomic_read(&p2pdma_map_count.iova_allocs) -
	       atomic_read(&p2pdma_map_count.iova_frees);
}

static int p2pdma_map_dma_calls(void)
{
	return atomic_read(&p2pdma_map_count.dma_map_calls);
}

/* The client below the provider's switch; skips the case without one. */
static struct device *p2pdma_map_sw_dev(struct kunit *test)
{
	struct p2pdma_map_test *t = test->priv;

	if (!t->sw_client)
		kunit_skip(test, "no bound device below the provider's switch");
	return &t->sw_client->dev;
}

/* @sg is mapped at @page's physical address, or in the IOMMU's range. */
static void p2pdma_map_expect_host(struct kunit *test, struct device *dev,
				   struct scatterlist *sg, struct page *page)
{
	KUNIT_EXPECT_FALSE(test, sg_dma_is_bus_address(sg));
	if (!p2pdma_map_translated(dev))
		KUNIT_EXPECT_EQ(test, sg_dma_address(sg),
				phys_to_dma(dev, page_to_phys(page)));
}

static void p2pdma_map_expect_bus(struct kunit *test, struct scatterlist *sg,
				  void *p2p)
{
	struct p2pdma_map_test *t = test->priv;

	KUNIT_EXPECT_TRUE(test, sg_dma_is_bus_address(sg));
	KUNIT_EXPECT_EQ(test, sg_dma_address(sg),
			pci_p2pmem_virt_to_bus(t->provider, p2p));
	KUNIT_EXPECT_EQ(test, sg_dma_len(sg), PAGE_SIZE);
}

/* Once unmapped, no segment is left marked as a bus address. */
static void p2pdma_map_expect_unmarked(struct kunit *test)
{
	struct p2pdma_map_test *t = test->priv;
	struct scatterlist *sg;
	int i;

	for_each_sgtable_sg(&t->sgt, sg, i)
		KUNIT_EXPECT_FALSE_MSG(test, sg_dma_is_bus_address(sg),
				       "segment %d", i);
}

/*
 * The seed case: 1 MiB of host memory with one 4 KiB P2PDMA page in the
 * middle, mapped for a device below the provider's switch, maps to three
 * segments. The P2PDMA one is at its bus address; behind an IOMMU the two
 * host ones follow each other in exactly one IOVA range, linked through
 * the IOVA API without a call into the DMA layer, and freed at once by
 * the unmap. Without an IOMMU, dma_map_sgtable() puts them at their
 * physical addresses.
 */
static void p2pdma_map_seed(struct kunit *test)
{
	struct p2pdma_map_test *t = test->priv;
	struct scatterlist *sg[3];
	struct device *dev;
	bool iommu;

	dev = p2pdma_map_sw_dev(test);
	iommu = p2pdma_map_translated(dev);

	if (dma_get_max_seg_size(dev) < SZ_512K)
		kunit_skip(test, "%s takes segments of %u bytes at most",
			   dev_name(dev), dma_get_max_seg_size(dev));
	p2pdma_map_build_seed(test, dev);
	KUNIT_ASSERT_EQ(test, t->sgt.orig_nents, 3);

	KUNIT_ASSERT_EQ(test, p2pdma_map_map(test, dev), 0);
	KUNIT_EXPECT_EQ(test, dma_use_iova(&t->state), iommu);
	KUNIT_EXPECT_EQ(test, p2pdma_map_dma_calls(), iommu ? 0 : 1);
	KUNIT_EXPECT_EQ(test, t->sgt.nents, 3);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_ranges(), iommu ? 1 : 0);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_live(), iommu ? 1 : 0);
	sg[0] = t->sgt.sgl;
	sg[1] = sg_next(sg[0]);
	sg[2] = sg_next(sg[1]);

	p2pdma_map_expect_host(test, dev, sg[0], t->host);
	KUNIT_EXPECT_EQ(test, sg_dma_len(sg[0]), SZ_512K);
	p2pdma_map_expect_bus(test, sg[1], t->p2p);
	p2pdma_map_expect_host(test, dev, sg[2], t->host + SEED_PAGES / 2 + 1);
	KUNIT_EXPECT_EQ(test, sg_dma_len(sg[2]), SZ_512K - PAGE_SIZE);
	if (iommu)
		KUNIT_EXPECT_EQ(test, sg_dma_address(sg[2]),
				sg_dma_address(sg[0]) + sg_dma_len(sg[0]));
	kunit_info(test, "%s: %s, %d IOVA range(s), P2PDMA segment at bus address %pad\n",
		   dev_name(dev), iommu ? "IOMMU" : "no IOMMU",
		   p2pdma_map_iova_ranges(), &sg_dma_address(sg[1]));

	p2pdma_map_unmap(t);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_live(), 0);
	KUNIT_EXPECT_FALSE(test, dma_use_iova(&t->state));
	p2pdma_map_expect_unmarked(test);
}

/*
 * ALT_RUNS alternations of one host page and one P2PDMA page: every
 * P2PDMA page at its bus address, the host pages one after the other in a
 * single IOVA range behind an IOMMU.
 */
static void p2pdma_map_alternating(struct kunit *test)
{
	struct p2pdma_map_test *t = test->priv;
	struct scatterlist *sg, *prev_host = NULL;
	struct device *dev;
	bool iommu;
	int i;

	dev = p2pdma_map_sw_dev(test);
	iommu = p2pdma_map_translated(dev);

	/* Every other host page, so no two of them merge into one segment. */
	for (i = 0; i < ALT_RUNS; i++) {
		t->pages[2 * i] = t->host + 2 * i;
		t->pages[2 * i + 1] = p2pdma_map_p2p_page(t, i);
	}
	p2pdma_map_build(test, dev, 2 * ALT_RUNS);
	KUNIT_ASSERT_EQ(test, t->sgt.orig_nents, 2 * ALT_RUNS);

	KUNIT_ASSERT_EQ(test, p2pdma_map_map(test, dev), 0);
	KUNIT_EXPECT_EQ(test, t->sgt.nents, 2 * ALT_RUNS);
	KUNIT_EXPECT_EQ(test, p2pdma_map_dma_calls(), iommu ? 0 : 1);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_ranges(), iommu ? 1 : 0);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_live(), iommu ? 1 : 0);

	for_each_sgtable_dma_sg(&t->sgt, sg, i) {
		if (i % 2) {
			p2pdma_map_expect_bus(test, sg, t->p2p + i / 2 * PAGE_SIZE);
			continue;
		}
		p2pdma_map_expect_host(test, dev, sg, t->host + i);
		if (iommu && prev_host)
			KUNIT_EXPECT_EQ(test, sg_dma_address(sg),
					sg_dma_address(prev_host) + PAGE_SIZE);
		prev_host = sg;
	}
	kunit_info(test, "%s: %s, %d alternations, %d IOVA range(s)\n",
		   dev_name(dev), iommu ? "IOMMU" : "no IOMMU", ALT_RUNS,
		   p2pdma_map_iova_ranges());

	p2pdma_map_unmap(t);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_live(), 0);
	p2pdma_map_expect_unmarked(test);
}

/*
 * A client on another root port reaches the provider through the host
 * bridge when the bridge is whitelisted (any AMD Zen CPU, -cpu EPYC): the
 * table goes to dma_map_sgtable(), which maps the P2PDMA page like host
 * memory, in the same IOVA range as the host pages behind an IOMMU, at its
 * physical address without one. Behind an IOMMU the range the IOVA API
 * had taken before it met the P2PDMA page is given back: one range stays.
 */
static void p2pdma_map_host_bridge(struct kunit *test)
{
	struct p2pdma_map_test *t = test->priv;
	struct scatterlist *sg, *prev = NULL;
	struct device *dev;
	bool iommu;
	int i;

	if (!t->hb_client)
		kunit_skip(test, "no bound device on another root port");
	dev = &t->hb_client->dev;
	if (pci_p2pdma_distance(t->provider, dev, false) < 0)
		kunit_skip(test, "host bridge not whitelisted: see host_bridge_unreachable");
	iommu = p2pdma_map_translated(dev);

	p2pdma_map_build_seed(test, dev);
	KUNIT_ASSERT_EQ(test, p2pdma_map_map(test, dev), 0);
	KUNIT_EXPECT_FALSE(test, dma_use_iova(&t->state));
	KUNIT_EXPECT_EQ(test, p2pdma_map_dma_calls(), 1);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_live(), iommu ? 1 : 0);

	for_each_sgtable_dma_sg(&t->sgt, sg, i) {
		KUNIT_EXPECT_FALSE(test, sg_dma_is_bus_address(sg));
		if (iommu && prev)
			KUNIT_EXPECT_EQ(test, sg_dma_address(sg),
					sg_dma_address(prev) + sg_dma_len(prev));
		prev = sg;
	}
	/* Without an IOMMU, dma-direct maps each segment in place. */
	for_each_sgtable_sg(&t->sgt, sg, i)
		if (!iommu && is_pci_p2pdma_page(sg_page(sg)))
			KUNIT_EXPECT_EQ(test, sg_dma_address(sg),
					phys_to_dma(dev, virt_to_phys(t->p2p)));
	kunit_info(test, "%s: %s, %u segments, %d IOVA range(s) mapped, %d taken\n",
		   dev_name(dev), iommu ? "IOMMU" : "no IOMMU", t->sgt.nents,
		   p2pdma_map_iova_live(), p2pdma_map_iova_ranges());

	p2pdma_map_unmap(t);
}

/*
 * Through a host bridge that is not whitelisted (-cpu qemu64) the provider
 * is unreachable: -EREMOTEIO, and nothing stays mapped. Behind an IOMMU
 * the IOVA API meets the P2PDMA page and gives its range back without a
 * call into the DMA layer; without one, dma_map_sgtable() refuses the
 * table.
 */
static void p2pdma_map_host_bridge_unreachable(struct kunit *test)
{
	struct p2pdma_map_test *t = test->priv;
	struct scatterlist *sg;
	struct device *dev;
	bool iommu;
	int i;

	if (!t->hb_client)
		kunit_skip(test, "no bound device on another root port");
	dev = &t->hb_client->dev;
	if (pci_p2pdma_distance(t->provider, dev, false) >= 0)
		kunit_skip(test, "host bridge whitelisted: see host_bridge");
	iommu = p2pdma_map_translated(dev);

	p2pdma_map_build_seed(test, dev);
	KUNIT_EXPECT_EQ(test, p2pdma_map_map(test, dev), -EREMOTEIO);
	KUNIT_EXPECT_FALSE(test, dma_use_iova(&t->state));
	KUNIT_EXPECT_EQ(test, p2pdma_map_dma_calls(), iommu ? 0 : 1);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_live(), 0);
	for_each_sgtable_sg(&t->sgt, sg, i)
		KUNIT_EXPECT_FALSE(test, sg_dma_is_bus_address(sg));
	kunit_info(test, "%s: %s, -EREMOTEIO, %d DMA layer call(s), %d IOVA range(s) given back\n",
		   dev_name(dev), iommu ? "IOMMU" : "no IOMMU",
		   p2pdma_map_dma_calls(), p2pdma_map_iova_ranges());
}

/*
 * Host memory only: the DMA layer maps it, as it did before this helper:
 * no bus address, one IOVA range behind an IOMMU.
 */
static void p2pdma_map_host_only(struct kunit *test)
{
	struct p2pdma_map_test *t = test->priv;
	struct device *dev;
	bool iommu;
	int i;

	dev = p2pdma_map_sw_dev(test);
	iommu = p2pdma_map_translated(dev);

	for (i = 0; i < ALT_RUNS; i++)
		t->pages[i] = t->host + 2 * i;
	p2pdma_map_build(test, dev, ALT_RUNS);
	KUNIT_ASSERT_EQ(test, p2pdma_map_map(test, dev), 0);
	KUNIT_EXPECT_FALSE(test, dma_use_iova(&t->state));
	KUNIT_EXPECT_EQ(test, p2pdma_map_dma_calls(), 1);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_ranges(), iommu ? 1 : 0);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_live(), iommu ? 1 : 0);
	if (iommu)
		KUNIT_EXPECT_EQ(test, t->sgt.nents, 1);
	else
		p2pdma_map_expect_host(test, dev, t->sgt.sgl, t->host);
	/* the DMA layer may free its IOVA later, from its flush queue */
	p2pdma_map_unmap(t);
}

/*
 * P2PDMA memory only: nothing to link, so the table goes to
 * dma_map_sgtable(), which takes no IOVA range and gives every segment
 * its bus address.
 */
static void p2pdma_map_p2p_only(struct kunit *test)
{
	struct p2pdma_map_test *t = test->priv;
	pci_bus_addr_t bus = pci_p2pmem_virt_to_bus(t->provider, t->p2p);
	struct scatterlist *sg;
	struct device *dev;
	unsigned int len = 0;
	int i;

	dev = p2pdma_map_sw_dev(test);

	for (i = 0; i < P2P_ONLY_PAGES; i++)
		t->pages[i] = p2pdma_map_p2p_page(t, i);
	p2pdma_map_build(test, dev, P2P_ONLY_PAGES);
	KUNIT_ASSERT_EQ(test, p2pdma_map_map(test, dev), 0);
	KUNIT_EXPECT_FALSE(test, dma_use_iova(&t->state));
	KUNIT_EXPECT_EQ(test, p2pdma_map_dma_calls(), 1);
	KUNIT_EXPECT_EQ(test, p2pdma_map_iova_ranges(), 0);

	for_each_sgtable_dma_sg(&t->sgt, sg, i) {
		KUNIT_EXPECT_TRUE(test, sg_dma_is_bus_address(sg));
		KUNIT_EXPECT_EQ(test, sg_dma_address(sg), bus + len);
		len += sg_dma_len(sg);
	}
	KUNIT_EXPECT_EQ(test, len, P2P_ONLY_PAGES * PAGE_SIZE);

	p2pdma_map_unmap(t);
	p2pdma_map_expect_unmarked(test);
}

static struct kunit_case p2pdma_map_test_cases[] = {
	KUNIT_CASE(p2pdma_map_seed),
	KUNIT_CASE(p2pdma_map_alternating),
	KUNIT_CASE(p2pdma_map_host_bridge),
	KUNIT_CASE(p2pdma_map_host_bridge_unreachable),
	KUNIT_CASE(p2pdma_map_host_only),
	KUNIT_CASE(p2pdma_map_p2p_only),
	{}
};

static struct kunit_suite p2pdma_map_test_suite = {
	.name = "pci_p2pdma_map",
	.suite_init = p2pdma_map_suite_init,
	.suite_exit = p2pdma_map_suite_exit,
	.init = p2pdma_map_test_init,
	.exit = p2pdma_map_test_exit,
	.test_cases = p2pdma_map_test_cases,
};

kunit_test_suite(p2pdma_map_test_suite);

MODULE_DESCRIPTION("KUnit tests for pci_p2pdma_map_sg()");
MODULE_LICENSE("GPL");
