// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark helpers for PCI peer-to-peer DMA. Not for production use.
 *
 * The driver has no ID table: it binds only to a device named to it through
 * driver_override. It publishes a memory BAR of that device (BAR 2 unless
 * the "bar" parameter says otherwise) as p2pmem. Under QEMU, the BAR of an
 * ivshmem-plain device with a RAM memory backend is plain host RAM, so a
 * benchmark on it measures the P2PDMA code paths rather than QEMU's MMIO
 * emulation, which dominates with an emulated NVMe CMB.
 *
 * debugfs p2pdma_bench/<device>/map times pci_p2pdma_map_sg() against a
 * plain dma_map_sgtable() for the bound device. Write "<kind> <segments>
 * <runs>" to it, where kind is "host" (one host page per segment) or
 * "mixed" (host and P2PDMA pages of the bound device alternating), then
 * read one line back:
 *
 *   <kind> <segments> <runs> <IOVA ranges of one helper map, at most> \
 *   <helper min> <median> <max> <dma min> <median> <max>   (ns per map)
 *
 * The two mappings alternate run by run, so drift on a shared machine hits
 * both alike. IOVA ranges are counted with a kretprobe on alloc_iova_fast()
 * ("-" when no IOMMU translates for the device).
 *
 * debugfs p2pdma_bench/<device>/allocs counts the calls of
 * sgl_alloc_order() (host memory for a scatterlist, as nvmet allocates when
 * it does not stage I/O in p2pmem) and pci_p2pmem_alloc_sgl(), system-wide,
 * while the driver is bound. Reading it prints both counts; writing to it
 * zeroes them.
 *
 * The probes are registered while a device is bound, and one device at a
 * time is: built in but unbound, the driver costs nothing.
 */
#include <linux/debugfs.h>
#include <linux/dma-mapping.h>
#include <linux/iommu.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/sort.h>

#define BENCH_MAX_SEGS	512
#define BENCH_MAX_RUNS	100000

static int bar = 2;
module_param(bar, int, 0444);
MODULE_PARM_DESC(bar, "the BAR to publish as p2pmem (default 2)");

static struct dentry *bench_root;

static struct {
	struct task_struct *task;
	atomic_t iova_ranges;
	atomic_long_t sgl_alloc;
	atomic_long_t p2pmem_alloc;
} bench_count;

static int bench_iova_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	if (current == bench_count.task && regs_return_value(regs))
		atomic_inc(&bench_count.iova_ranges);
	return 0;
}

static struct kretprobe bench_iova_probe = {
	.kp.symbol_name = "alloc_iova_fast",
	.handler = bench_iova_ret,
	.maxactive = 16,
};

static int bench_sgl_alloc_pre(struct kprobe *kp, struct pt_regs *regs)
{
	atomic_long_inc(&bench_count.sgl_alloc);
	return 0;
}

static struct kprobe bench_sgl_alloc_probe = {
	.symbol_name = "sgl_alloc_order",
	.pre_handler = bench_sgl_alloc_pre,
};

static int bench_p2pmem_alloc_pre(struct kprobe *kp, struct pt_regs *regs)
{
	atomic_long_inc(&bench_count.p2pmem_alloc);
	return 0;
}

static struct kprobe bench_p2pmem_alloc_probe = {
	.symbol_name = "pci_p2pmem_alloc_sgl",
	.pre_handler = bench_p2pmem_alloc_pre,
};

struct bench_dev {
	struct pci_dev *pdev;
	struct dentry *dir;
	struct mutex lock;		/* one map run at a time */
	char result[256];
};

struct bench_run {
	struct device *dev;
	struct sg_table sgt;
	struct dma_iova_state state;	/* of the helper's map */
	struct page *host[BENCH_MAX_SEGS];
	void *p2p;
	unsigned int segs;
	bool mixed;
	u64 *helper_ns;
	u64 *dma_ns;
	unsigned int max_ranges;	/* IOVA ranges of one helper map, at most */
};

static int bench_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static void bench_free(struct bench_dev *bd, struct bench_run *r)
{
	unsigned int i;

	sg_free_table(&r->sgt);
	for (i = 0; i < BENCH_MAX_SEGS; i++)
		if (r->host[i])
			__free_page(r->host[i]);
	if (r->p2p)
		pci_free_p2pmem(bd->pdev, r->p2p, BENCH_MAX_SEGS / 2 * PAGE_SIZE);
	kvfree(r->helper_ns);
	kvfree(r->dma_ns);
	kfree(r);
}

/* One page per segment: host pages, or host and P2PDMA pages in turn. */
static int bench_build(struct bench_dev *bd, struct bench_run *r)
{
	struct scatterlist *sg;
	unsigned int i;

	if (r->mixed) {
		r->p2p = pci_alloc_p2pmem(bd->pdev,
					  BENCH_MAX_SEGS / 2 * PAGE_SIZE);
		if (!r->p2p)
			return -ENOMEM;
	}
	for (i = 0; i < r->segs; i++) {
		r->host[i] = alloc_page(GFP_KERNEL);
		if (!r->host[i])
			return -ENOMEM;
	}
	if (sg_alloc_table(&r->sgt, r->segs, GFP_KERNEL))
		return -ENOMEM;
	for_each_sgtable_sg(&r->sgt, sg, i) {
		if (r->mixed && i % 2)
			sg_set_page(sg, virt_to_page(r->p2p + i / 2 * PAGE_SIZE),
				    PAGE_SIZE, 0);
		else
			sg_set_page(sg, r->host[i], PAGE_SIZE, 0);
	}
	return 0;
}

static int bench_map_once(struct bench_run *r, bool helper, u64 *ns)
{
	u64 t0;
	int ret;

	/* IOVA ranges are counted for the helper's maps only. */
	atomic_set(&bench_count.iova_ranges, 0);
	bench_count.task = helper ? current : NULL;
	t0 = ktime_get_ns();
	if (helper)
		ret = pci_p2pdma_map_sg(r->dev, &r->sgt, DMA_TO_DEVICE, 0,
					&r->state);
	else
		ret = dma_map_sgtable(r->dev, &r->sgt, DMA_TO_DEVICE, 0);
	*ns = ktime_get_ns() - t0;
	bench_count.task = NULL;
	if (ret)
		return ret;
	r->max_ranges = max_t(unsigned int, r->max_ranges,
			      atomic_read(&bench_count.iova_ranges));
	if (helper)
		pci_p2pdma_unmap_sg(r->dev, &r->sgt, DMA_TO_DEVICE, 0,
				    &r->state);
	else
		dma_unmap_sgtable(r->dev, &r->sgt, DMA_TO_DEVICE, 0);
	return 0;
}

static int bench_map(struct bench_dev *bd, struct bench_run *r,
		     unsigned int runs)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(r->dev);
	bool translated = domain && iommu_is_dma_domain(domain);
	char ranges[16] = "-";
	unsigned int i;
	int ret = 0;

	for (i = 0; i < runs && !ret; i++) {
		ret = bench_map_once(r, true, &r->helper_ns[i]);
		if (!ret)
			ret = bench_map_once(r, false, &r->dma_ns[i]);
		cond_resched();
	}
	if (ret) {
		pci_warn(bd->pdev, "p2pdma_bench: mapping %u segments failed: %d\n",
			 r->segs, ret);
		return ret;
	}

	if (translated)
		snprintf(ranges, sizeof(ranges), "%u", r->max_ranges);
	sort(r->helper_ns, runs, sizeof(u64), bench_cmp_u64, NULL);
	sort(r->dma_ns, runs, sizeof(u64), bench_cmp_u64, NULL);
	snprintf(bd->result, sizeof(bd->result),
		 "%s %u %u %s %llu %llu %llu %llu %llu %llu\n",
		 r->mixed ? "mixed" : "host", r->segs, runs, ranges,
		 r->helper_ns[0], r->helper_ns[runs / 2], r->helper_ns[runs - 1],
		 r->dma_ns[0], r->dma_ns[runs / 2], r->dma_ns[runs - 1]);
	return 0;
}

static ssize_t bench_map_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	struct bench_dev *bd = file->private_data;
	unsigned int segs, runs;
	struct bench_run *r;
	char buf[64], kind[8];
	int ret;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	if (sscanf(buf, "%7s %u %u", kind, &segs, &runs) != 3 ||
	    (strcmp(kind, "host") && strcmp(kind, "mixed")) ||
	    segs < 1 || segs > BENCH_MAX_SEGS || runs < 1 ||
	    runs > BENCH_MAX_RUNS) {
		pci_warn(bd->pdev, "p2pdma_bench: map takes \"host|mixed <1..%u segments> <1..%u runs>\"\n",
			 BENCH_MAX_SEGS, BENCH_MAX_RUNS);
		return -EINVAL;
	}

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->dev = &bd->pdev->dev;
	r->segs = segs;
	r->mixed = !strcmp(kind, "mixed");
	r->helper_ns = kvcalloc(runs, sizeof(u64), GFP_KERNEL);
	r->dma_ns = kvcalloc(runs, sizeof(u64), GFP_KERNEL);
	ret = -ENOMEM;
	if (r->helper_ns && r->dma_ns)
		ret = bench_build(bd, r);
	if (!ret) {
		mutex_lock(&bd->lock);
		bd->result[0] = '\0';
		ret = bench_map(bd, r, runs);
		mutex_unlock(&bd->lock);
	}
	bench_free(bd, r);
	return ret ? ret : count;
}

static ssize_t bench_map_read(struct file *file, char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	struct bench_dev *bd = file->private_data;
	ssize_t ret;

	mutex_lock(&bd->lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, bd->result,
				      strlen(bd->result));
	mutex_unlock(&bd->lock);
	return ret;
}

static const struct file_operations bench_map_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = bench_map_read,
	.write = bench_map_write,
};

static int bench_allocs_show(struct seq_file *m, void *v)
{
	seq_printf(m, "sgl_alloc_order %ld\npci_p2pmem_alloc_sgl %ld\n",
		   atomic_long_read(&bench_count.sgl_alloc),
		   atomic_long_read(&bench_count.p2pmem_alloc));
	return 0;
}

static int bench_allocs_open(struct inode *inode, struct file *file)
{
	return single_open(file, bench_allocs_show, NULL);
}

static ssize_t bench_allocs_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	atomic_long_set(&bench_count.sgl_alloc, 0);
	atomic_long_set(&bench_count.p2pmem_alloc, 0);
	return count;
}

static const struct file_operations bench_allocs_fops = {
	.owner = THIS_MODULE,
	.open = bench_allocs_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
	.write = bench_allocs_write,
};

static struct kprobe *bench_kprobes[] = {
	&bench_sgl_alloc_probe,
	&bench_p2pmem_alloc_probe,
};

/*
 * Probes are registered at each bind: a probe registered before keeps the
 * address and flags its registration set, and registering it again with
 * both an address and a symbol fails with -EINVAL, so they are cleared.
 */
static void bench_reset_probe(struct kprobe *kp)
{
	kp->addr = NULL;
	kp->flags = 0;
}

static int bench_register_probes(void)
{
	int i, ret;

	bench_reset_probe(&bench_iova_probe.kp);
	for (i = 0; i < ARRAY_SIZE(bench_kprobes); i++)
		bench_reset_probe(bench_kprobes[i]);
	ret = register_kretprobe(&bench_iova_probe);
	if (ret)
		return ret;
	ret = register_kprobes(bench_kprobes, ARRAY_SIZE(bench_kprobes));
	if (ret)
		unregister_kretprobe(&bench_iova_probe);
	return ret;
}

static void bench_unregister_probes(void)
{
	unregister_kprobes(bench_kprobes, ARRAY_SIZE(bench_kprobes));
	unregister_kretprobe(&bench_iova_probe);
}

static atomic_t bench_bound = ATOMIC_INIT(0);

static int bench_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct bench_dev *bd;
	int ret;

	if (bar < 0 || bar >= PCI_STD_NUM_BARS ||
	    !(pci_resource_flags(pdev, bar) & IORESOURCE_MEM)) {
		pci_err(pdev, "p2pdma_bench: BAR %d is not a memory BAR\n", bar);
		return -EINVAL;
	}
	if (atomic_cmpxchg(&bench_bound, 0, 1)) {
		pci_err(pdev, "p2pdma_bench: bound to another device already\n");
		return -EBUSY;
	}

	ret = -ENOMEM;
	bd = devm_kzalloc(&pdev->dev, sizeof(*bd), GFP_KERNEL);
	if (!bd)
		goto out_unbound;
	bd->pdev = pdev;
	mutex_init(&bd->lock);

	ret = pcim_enable_device(pdev);
	if (ret)
		goto out_unbound;
	ret = pci_p2pdma_add_resource(pdev, bar, 0, 0);
	if (ret) {
		pci_err(pdev, "p2pdma_bench: BAR %d is not usable as p2pmem: %d\n",
			bar, ret);
		goto out_unbound;
	}
	ret = bench_register_probes();
	if (ret) {
		pci_err(pdev, "p2pdma_bench: cannot register its kprobes: %d\n",
			ret);
		goto out_unbound;
	}
	atomic_long_set(&bench_count.sgl_alloc, 0);
	atomic_long_set(&bench_count.p2pmem_alloc, 0);
	pci_p2pmem_publish(pdev, true);

	bd->dir = debugfs_create_dir(pci_name(pdev), bench_root);
	debugfs_create_file("map", 0600, bd->dir, bd, &bench_map_fops);
	debugfs_create_file("allocs", 0600, bd->dir, NULL, &bench_allocs_fops);
	pci_set_drvdata(pdev, bd);
	pci_info(pdev, "p2pdma_bench: BAR %d published as p2pmem\n", bar);
	return 0;

out_unbound:
	atomic_set(&bench_bound, 0);
	return ret;
}

static void bench_remove(struct pci_dev *pdev)
{
	struct bench_dev *bd = pci_get_drvdata(pdev);

	debugfs_remove_recursive(bd->dir);
	pci_p2pmem_publish(pdev, false);
	bench_unregister_probes();
	atomic_set(&bench_bound, 0);
}

static struct pci_driver bench_driver = {
	.name = "p2pdma_bench",
	.probe = bench_probe,
	.remove = bench_remove,
};

static int __init bench_init(void)
{
	int ret;

	bench_root = debugfs_create_dir("p2pdma_bench", NULL);
	ret = pci_register_driver(&bench_driver);
	if (ret)
		debugfs_remove_recursive(bench_root);
	return ret;
}
module_init(bench_init);

static void __exit bench_exit(void)
{
	pci_unregister_driver(&bench_driver);
	debugfs_remove_recursive(bench_root);
}
module_exit(bench_exit);

MODULE_DESCRIPTION("PCI P2PDMA benchmark: RAM-backed BAR provider, map_sg timing");
MODULE_LICENSE("GPL");
