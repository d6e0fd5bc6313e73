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
 * debugfs p2pdma_bench/<device>/map times pci_p2pdma_map_sg() for the bound
 * device against a baseline. Write "<kind> <segments> <iterations>" to it,
 * where kind is "host" (one host page per segment; the baseline is a plain
 * dma_map_sgtable()) or "mixed" (host and P2PDMA pages of the bound device
 * alternating; the baseline maps each run of host pages on its own with
 * dma_map_page() and takes the bus address of each P2PDMA page, one IOVA
 * range per host run), then read one line back:
 *
 *   <kind> <segments> <iterations> <helper median> <baseline median>
 *
 * in ns per map and unmap. Each iteration times both, in turn first, so
 * drift on a shared machine hits both alike. No probe is armed while a
 * loop is timed.
 *
 * debugfs p2pdma_bench/<device>/iova_ranges counts the IOVA ranges of one
 * helper map: write "<kind> <segments>", read the count back ("-" when no
 * IOMMU translates for the device). A kretprobe on alloc_iova_fast() is
 * armed for that one map only.
 *
 * debugfs p2pdma_bench/<device>/allocs counts the calls of
 * sgl_alloc_order() (host memory for a scatterlist, as nvmet allocates when
 * it does not stage I/O in p2pmem) and pci_p2pmem_alloc_sgl(), system-wide,
 * between a write of "start" (which arms two kprobes and zeroes the counts)
 * and a write of "stop" (which disarms them). Reading it prints both counts.
 *
 * Built in but unbound, the driver costs nothing, and one device at a time
 * is bound.
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
	bool allocs_armed;		/* under bench_probe_lock */
} bench_count;

/* serializes arming and disarming the probes */
static DEFINE_MUTEX(bench_probe_lock);

static int bench_iova_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	if (current == READ_ONCE(bench_count.task) && regs_return_value(regs))
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

/*
 * Probes are registered again and again: a probe registered before keeps
 * the address and flags its registration set, and registering it again
 * with both an address and a symbol fails with -EINVAL, so they are
 * cleared first.
 */
static void bench_reset_probe(struct kprobe *kp)
{
	kp->addr = NULL;
	kp->flags = 0;
}

static struct kprobe *bench_kprobes[] = {
	&bench_sgl_alloc_probe,
	&bench_p2pmem_alloc_probe,
};

struct bench_dev {
	struct pci_dev *pdev;
	struct dentry *dir;
	struct mutex lock;		/* one map run at a time */
	char result[128];
	char ranges[16];
};

struct bench_run {
	struct device *dev;
	struct sg_table sgt;
	struct dma_iova_state state;	/* of the helper's map */
	struct page *host[BENCH_MAX_SEGS];
	dma_addr_t addr[BENCH_MAX_SEGS];	/* of the baseline's map */
	void *p2p;
	unsigned int segs;
	bool mixed;
	u64 *helper_ns;
	u64 *base_ns;
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
	kvfree(r->base_ns);
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

static int bench_helper_map(struct bench_run *r)
{
	int ret;

	ret = pci_p2pdma_map_sg(r->dev, &r->sgt, DMA_TO_DEVICE, 0, &r->state);
	if (!ret)
		pci_p2pdma_unmap_sg(r->dev, &r->sgt, DMA_TO_DEVICE, 0,
				    &r->state);
	return ret;
}

static void bench_unmap_runs(struct bench_run *r, unsigned int n)
{
	struct scatterlist *sg;
	unsigned int i;

	for_each_sgtable_sg(&r->sgt, sg, i) {
		if (i == n)
			break;
		if (!is_pci_p2pdma_page(sg_page(sg)))
			dma_unmap_page(r->dev, r->addr[i], sg->length,
				       DMA_TO_DEVICE);
	}
}

/*
 * A mixed list mapped one host run at a time: an IOVA range for each host
 * page (every run of this list is one page long) and the bus address of
 * each P2PDMA page.
 */
static int bench_runs_map(struct bench_run *r)
{
	struct pci_p2pdma_map_state p2p = {};
	struct scatterlist *sg;
	unsigned int i;

	for_each_sgtable_sg(&r->sgt, sg, i) {
		switch (pci_p2pdma_state(&p2p, r->dev, sg_page(sg))) {
		case PCI_P2PDMA_MAP_NONE:
			r->addr[i] = dma_map_page(r->dev, sg_page(sg),
						  sg->offset, sg->length,
						  DMA_TO_DEVICE);
			if (!dma_mapping_error(r->dev, r->addr[i]))
				continue;
			break;
		case PCI_P2PDMA_MAP_BUS_ADDR:
			r->addr[i] = pci_p2pdma_bus_addr_map(p2p.mem,
							     sg_phys(sg));
			continue;
		default:
			break;
		}
		bench_unmap_runs(r, i);
		return -EIO;
	}
	bench_unmap_runs(r, r->segs);
	return 0;
}

static int bench_base_map(struct bench_run *r)
{
	int ret;

	if (r->mixed)
		return bench_runs_map(r);
	ret = dma_map_sgtable(r->dev, &r->sgt, DMA_TO_DEVICE, 0);
	if (!ret)
		dma_unmap_sgtable(r->dev, &r->sgt, DMA_TO_DEVICE, 0);
	return ret;
}

/* One timed map and unmap, of the helper or of the baseline */
static int bench_time(struct bench_run *r, bool helper, u64 *ns)
{
	u64 t0 = ktime_get_ns();
	int ret = helper ? bench_helper_map(r) : bench_base_map(r);

	*ns = ktime_get_ns() - t0;
	return ret;
}

static int bench_map(struct bench_dev *bd, struct bench_run *r,
		     unsigned int iters)
{
	unsigned int i;
	int ret = 0;

	bd->result[0] = '\0';
	for (i = 0; i < iters && !ret; i++) {
		bool helper_first = !(i % 2);

		ret = bench_time(r, helper_first, helper_first ?
				 &r->helper_ns[i] : &r->base_ns[i]);
		if (!ret)
			ret = bench_time(r, !helper_first, helper_first ?
					 &r->base_ns[i] : &r->helper_ns[i]);
		cond_resched();
	}
	if (ret) {
		pci_warn(bd->pdev, "p2pdma_bench: mapping %u segments failed: %d\n",
			 r->segs, ret);
		return ret;
	}

	sort(r->helper_ns, iters, sizeof(u64), bench_cmp_u64, NULL);
	sort(r->base_ns, iters, sizeof(u64), bench_cmp_u64, NULL);
	snprintf(bd->result, sizeof(bd->result), "%s %u %u %llu %llu\n",
		 r->mixed ? "mixed" : "host", r->segs, iters,
		 r->helper_ns[iters / 2], r->base_ns[iters / 2]);
	return 0;
}

/* The IOVA ranges of one helper map, with the kretprobe armed for it */
static int bench_count_ranges(struct bench_dev *bd, struct bench_run *r)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(r->dev);
	int ret;

	bd->ranges[0] = '\0';
	if (!domain || !iommu_is_dma_domain(domain)) {
		snprintf(bd->ranges, sizeof(bd->ranges), "-\n");
		return 0;
	}
	mutex_lock(&bench_probe_lock);
	bench_reset_probe(&bench_iova_probe.kp);
	ret = register_kretprobe(&bench_iova_probe);
	if (!ret) {
		atomic_set(&bench_count.iova_ranges, 0);
		WRITE_ONCE(bench_count.task, current);
		ret = bench_helper_map(r);
		WRITE_ONCE(bench_count.task, NULL);
		unregister_kretprobe(&bench_iova_probe);
	}
	mutex_unlock(&bench_probe_lock);
	if (ret) {
		pci_warn(bd->pdev, "p2pdma_bench: counting the IOVA ranges of %u segments failed: %d\n",
			 r->segs, ret);
		return ret;
	}
	snprintf(bd->ranges, sizeof(bd->ranges), "%d\n",
		 atomic_read(&bench_count.iova_ranges));
	return 0;
}

/* "<kind> <segments>" and, for the map file, "<iterations>" */
static struct bench_run *bench_parse(struct bench_dev *bd,
				     const char __user *ubuf, size_t count,
				     bool timed, unsigned int *iters)
{
	unsigned int segs, n = 1;
	struct bench_run *r;
	char buf[64], kind[8];
	int fields;

	if (count >= sizeof(buf))
		return ERR_PTR(-EINVAL);
	if (copy_from_user(buf, ubuf, count))
		return ERR_PTR(-EFAULT);
	buf[count] = '\0';
	fields = sscanf(buf, "%7s %u %u", kind, &segs, &n);
	if (fields != (timed ? 3 : 2) ||
	    (strcmp(kind, "host") && strcmp(kind, "mixed")) ||
	    segs < 1 || segs > BENCH_MAX_SEGS || n < 1 ||
	    n > BENCH_MAX_RUNS) {
		pci_warn(bd->pdev, "p2pdma_bench: %s takes \"host|mixed <1..%u segments>%s\"\n",
			 timed ? "map" : "iova_ranges", BENCH_MAX_SEGS,
			 timed ? " <1..100000 iterations>" : "");
		return ERR_PTR(-EINVAL);
	}

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return ERR_PTR(-ENOMEM);
	r->dev = &bd->pdev->dev;
	r->segs = segs;
	r->mixed = !strcmp(kind, "mixed");
	r->helper_ns = kvcalloc(n, sizeof(u64), GFP_KERNEL);
	r->base_ns = kvcalloc(n, sizeof(u64), GFP_KERNEL);
	if (!r->helper_ns || !r->base_ns || bench_build(bd, r)) {
		bench_free(bd, r);
		return ERR_PTR(-ENOMEM);
	}
	*iters = n;
	return r;
}

/* A request to the map file (@timed) or the iova_ranges file */
static ssize_t bench_write(struct file *file, const char __user *ubuf,
			   size_t count, bool timed)
{
	struct bench_dev *bd = file->private_data;
	struct bench_run *r;
	unsigned int iters;
	int ret;

	r = bench_parse(bd, ubuf, count, timed, &iters);
	if (IS_ERR(r))
		return PTR_ERR(r);
	mutex_lock(&bd->lock);
	ret = timed ? bench_map(bd, r, iters) : bench_count_ranges(bd, r);
	mutex_unlock(&bd->lock);
	bench_free(bd, r);
	return ret ? ret : count;
}

/* The answer to the last request to the map file or the iova_ranges file */
static ssize_t bench_read(struct file *file, char __user *ubuf, size_t count,
			  loff_t *ppos, bool timed)
{
	struct bench_dev *bd = file->private_data;
	const char *buf = timed ? bd->result : bd->ranges;
	ssize_t ret;

	mutex_lock(&bd->lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, buf, strlen(buf));
	mutex_unlock(&bd->lock);
	return ret;
}

static ssize_t bench_map_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	return bench_write(file, ubuf, count, true);
}

static ssize_t bench_map_read(struct file *file, char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	return bench_read(file, ubuf, count, ppos, true);
}

static const struct file_operations bench_map_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = bench_map_read,
	.write = bench_map_write,
};

static ssize_t bench_ranges_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	return bench_write(file, ubuf, count, false);
}

static ssize_t bench_ranges_read(struct file *file, char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	return bench_read(file, ubuf, count, ppos, false);
}

static const struct file_operations bench_ranges_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = bench_ranges_read,
	.write = bench_ranges_write,
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

static int bench_arm_allocs(void)
{
	int i, ret;

	for (i = 0; i < ARRAY_SIZE(bench_kprobes); i++)
		bench_reset_probe(bench_kprobes[i]);
	atomic_long_set(&bench_count.sgl_alloc, 0);
	atomic_long_set(&bench_count.p2pmem_alloc, 0);
	ret = register_kprobes(bench_kprobes, ARRAY_SIZE(bench_kprobes));
	if (!ret)
		bench_count.allocs_armed = true;
	return ret;
}

static void bench_disarm_allocs(void)
{
	if (!bench_count.allocs_armed)
		return;
	unregister_kprobes(bench_kprobes, ARRAY_SIZE(bench_kprobes));
	bench_count.allocs_armed = false;
}

static ssize_t bench_allocs_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	char buf[8];
	int ret = 0;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	mutex_lock(&bench_probe_lock);
	if (sysfs_streq(buf, "start")) {
		bench_disarm_allocs();
		ret = bench_arm_allocs();
	} else if (sysfs_streq(buf, "stop")) {
		bench_disarm_allocs();
	} else {
		ret = -EINVAL;
	}
	mutex_unlock(&bench_probe_lock);
	return ret ? ret : count;
}

static const struct file_operations bench_allocs_fops = {
	.owner = THIS_MODULE,
	.open = bench_allocs_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
	.write = bench_allocs_write,
};

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
	pci_p2pmem_publish(pdev, true);

	bd->dir = debugfs_create_dir(pci_name(pdev), bench_root);
	debugfs_create_file("map", 0600, bd->dir, bd, &bench_map_fops);
	debugfs_create_file("iova_ranges", 0600, bd->dir, bd,
			    &bench_ranges_fops);
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
	mutex_lock(&bench_probe_lock);
	bench_disarm_allocs();
	mutex_unlock(&bench_probe_lock);
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
