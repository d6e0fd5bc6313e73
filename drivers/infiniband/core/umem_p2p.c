// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * User memory registrations on PCI peer-to-peer (P2PDMA) memory.
 *
 * ib_umem_get() pins user memory with FOLL_LONGTERM. GUP refuses that for
 * P2PDMA pages, so that a provider can always be unplugged: a long-term
 * pin would make the removal wait for as long as the MR lives. Here a
 * run of P2PDMA pages is pinned without FOLL_LONGTERM instead, and the
 * umem records each provider it holds pages of. Host pages around such a
 * run are still pinned long-term by ib_umem_get(), exactly as before.
 *
 * Once the driver has built its MR it arms the umem with ib_umem_p2p_arm(),
 * which registers it with each provider (pci_p2pdma_register_revoke()).
 * When a provider is removed, ib_umem_p2p_revoke() makes the device stop
 * touching the MR's memory (ib_device_ops.revoke_umem) and unpins the
 * provider's pages, so the removal never waits on the MR. The MR stays a
 * handle that fails every access until it is deregistered.
 *
 * Locking: a revocation and ib_umem_release() of the same umem exclude each
 * other through p2p->lock and p2p->busy; revocations by two providers of
 * one umem are serialized by p2p->revoke_mutex.
 */

#include <linux/mm.h>
#include <linux/pci-p2pdma.h>
#include <linux/slab.h>
#include <rdma/ib_p2p.h>

/* The pages of one P2PDMA pagemap held by a umem */
struct ib_umem_p2p_provider {
	struct list_head list;
	struct ib_umem *umem;
	struct pci_dev *provider;
	struct dev_pagemap *pgmap;
	struct page *page;		/* one of them, to register with */
	unsigned long first_pfn, last_pfn;
	unsigned long npages;
	struct pci_p2pdma_revoke revoke;
	bool armed;			/* registered with the provider */
	bool revoked;			/* the provider took the pages back */
};

/**
 * ib_umem_p2p_supported() - whether user MRs of a device may hold P2PDMA pages
 * @device: the RDMA device
 *
 * The driver must implement ib_device_ops.revoke_umem, so that the
 * provider of the pages can always be removed. Then a driver whose CPU
 * accesses to P2PDMA pages are MMIO-safe sets IB_DEVICE_PCI_P2PDMA, and a
 * device that DMAs through a dma_device which can map P2PDMA pages
 * supports them without doing anything more.
 *
 * Return: true when ib_umem_get() may hand @device P2PDMA pages.
 */
bool ib_umem_p2p_supported(struct ib_device *device)
{
	if (!device->ops.revoke_umem)
		return false;
	return (device->attrs.device_cap_flags & IB_DEVICE_PCI_P2PDMA) ||
	       ib_dma_pci_p2p_dma_supported(device);
}
EXPORT_SYMBOL(ib_umem_p2p_supported);

/*
 * Whether the route from the provider to the device's DMA device is usable
 * is decided when the umem is mapped: pci_p2pdma_map_sg() fails with
 * -EREMOTEIO, naming both, before mapping anything.
 */
static int ib_umem_p2p_check(struct ib_device *device,
			     struct pci_dev *provider)
{
	if (ib_umem_p2p_supported(device))
		return 0;

	ibdev_warn_ratelimited(device, "user MR on P2P memory of %s refused: %s\n",
			       pci_name(provider),
			       device->ops.revoke_umem ?
			       "device does not support PCI P2PDMA" :
			       "driver cannot revoke MRs");
	return -EOPNOTSUPP;
}

static struct ib_umem_p2p *ib_umem_p2p_state(struct ib_umem *umem)
{
	struct ib_umem_p2p *p2p;

	if (umem->has_p2p)
		return umem->p2p;
	p2p = kzalloc(sizeof(*p2p), GFP_KERNEL);
	if (!p2p)
		return NULL;
	INIT_LIST_HEAD(&p2p->providers);
	mutex_init(&p2p->revoke_mutex);
	spin_lock_init(&p2p->lock);
	init_waitqueue_head(&p2p->wq);
	umem->p2p = p2p;
	umem->has_p2p = 1;
	return p2p;
}

static int ib_umem_p2p_add_provider(struct ib_umem *umem, struct page *page,
				    unsigned long npages)
{
	struct ib_umem_p2p *p2p = ib_umem_p2p_state(umem);
	struct dev_pagemap *pgmap = page->pgmap;
	struct ib_umem_p2p_provider *p;

	if (!p2p)
		return -ENOMEM;
	list_for_each_entry(p, &p2p->providers, list) {
		if (p->pgmap == pgmap) {
			p->npages += npages;
			return 0;
		}
	}
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->umem = umem;
	p->provider = pci_dev_get(pci_p2pdma_page_provider(page));
	p->pgmap = pgmap;
	p->page = page;
	p->first_pfn = PHYS_PFN(pgmap->range.start);
	p->last_pfn = PHYS_PFN(pgmap->range.end);
	p->npages = npages;
	list_add_tail(&p->list, &p2p->providers);
	return 0;
}

/**
 * ib_umem_p2p_pin() - pin a run of P2PDMA pages for ib_umem_get()
 * @umem: the umem being built
 * @start: page-aligned user address at which a FOLL_LONGTERM pin failed
 * @npages: the most pages to pin
 * @gup_flags: the FOLL_ flags of that pin
 * @pages: array of @npages entries for the pinned pages
 * @err: the error of that pin
 *
 * Pins the pages at @start without FOLL_LONGTERM and with FOLL_PCI_P2PDMA,
 * and keeps the leading run of P2PDMA pages of one provider; any pages
 * after that run are unpinned again and left to the caller's next
 * long-term pin. The provider is checked against @umem's device and
 * recorded in @umem.
 *
 * Return: the number of pages pinned into @pages; @err when the memory
 * at @start is not P2PDMA memory; -EOPNOTSUPP when the device cannot hold
 * P2PDMA pages; -EREMOTEIO when its DMA device cannot reach the provider;
 * or another negative errno from GUP.
 */
int ib_umem_p2p_pin(struct ib_umem *umem, unsigned long start,
		    unsigned long npages, unsigned int gup_flags,
		    struct page **pages, int err)
{
	struct pci_dev *provider;
	int pinned, n, ret;

	if (!IS_ENABLED(CONFIG_PCI_P2PDMA) || (err != -EFAULT && err != -EREMOTEIO))
		return err;

	gup_flags &= ~FOLL_LONGTERM;
	pinned = pin_user_pages_fast(start, npages, gup_flags | FOLL_PCI_P2PDMA,
				     pages);
	if (pinned <= 0)
		return pinned ?: err;

	for (n = 0; n < pinned; n++)
		if (!is_pci_p2pdma_page(pages[n]) ||
		    pages[n]->pgmap != pages[0]->pgmap)
			break;
	unpin_user_pages(pages + n, pinned - n);
	if (!n)
		return err;

	provider = pci_p2pdma_page_provider(pages[0]);
	ret = ib_umem_p2p_check(umem->ibdev, provider);
	if (!ret)
		ret = ib_umem_p2p_add_provider(umem, pages[0], n);
	if (ret) {
		unpin_user_pages(pages, n);
		return ret;
	}
	return n;
}

/* Unpin the pages of @sg in [@first, @last]. */
static void ib_umem_p2p_unpin_range(struct scatterlist *sg, unsigned long first,
				    unsigned long last, bool dirty)
{
	unsigned long pfn = page_to_pfn(sg_page(sg));
	unsigned long end = pfn + DIV_ROUND_UP(sg->length, PAGE_SIZE) - 1;
	unsigned long lo = max(pfn, first), hi = min(end, last);

	if (lo <= hi)
		unpin_user_page_range_dirty_lock(pfn_to_page(lo), hi - lo + 1,
						 dirty);
}

/* Whether a revoked provider of @umem took back a page in [@first, @last]. */
static bool ib_umem_p2p_taken_back(struct ib_umem *umem, unsigned long first,
				   unsigned long last)
{
	struct ib_umem_p2p_provider *p;

	list_for_each_entry(p, &umem->p2p->providers, list)
		if (p->revoked && first <= p->last_pfn && last >= p->first_pfn)
			return true;
	return false;
}

/*
 * The provider's removal calls this: stop the device, then give the pages
 * back. Runs in process context with no P2PDMA lock held.
 */
static void ib_umem_p2p_revoke(struct pci_p2pdma_revoke *r)
{
	struct ib_umem_p2p_provider *p =
		container_of(r, struct ib_umem_p2p_provider, revoke);
	struct ib_umem *umem = p->umem;
	struct ib_umem_p2p *p2p = umem->p2p;
	bool dirty = umem->writable;
	struct scatterlist *sg;
	unsigned int i;

	spin_lock(&p2p->lock);
	if (p2p->released) {
		/* ib_umem_release() unpins; it waits for us to return. */
		spin_unlock(&p2p->lock);
		return;
	}
	p2p->busy++;
	spin_unlock(&p2p->lock);

	mutex_lock(&p2p->revoke_mutex);
	if (!p2p->revoked) {
		WRITE_ONCE(p2p->revoked, true);
		umem->ibdev->ops.revoke_umem(umem, p2p->priv);
		ibdev_info_ratelimited(umem->ibdev,
				       "user MR revoked: its P2PDMA memory on %s is being removed\n",
				       pci_name(p->provider));
	}
	/* The device no longer touches the pages: give them back. */
	for_each_sgtable_sg(&umem->sgt_append.sgt, sg, i)
		ib_umem_p2p_unpin_range(sg, p->first_pfn, p->last_pfn, dirty);
	p->revoked = true;
	p->armed = false;
	mutex_unlock(&p2p->revoke_mutex);

	spin_lock(&p2p->lock);
	if (!--p2p->busy)
		wake_up_all(&p2p->wq);
	spin_unlock(&p2p->lock);
}

/**
 * ib_umem_p2p_arm() - let the providers of a umem's P2PDMA pages revoke it
 * @umem: a umem from ib_umem_get()
 * @priv: the driver's object for the MR built on @umem; it must stay
 *	valid until ib_umem_release() of @umem returns
 *
 * A driver that implements ib_device_ops.revoke_umem calls this once the
 * MR is complete, before returning it from reg_user_mr. From then on,
 * when a provider of pages of @umem is removed, the core calls
 * revoke_umem(@umem, @priv) and then unpins that provider's pages; the
 * device must not touch them after revoke_umem returns. On an error the
 * driver fails the registration and releases @umem as usual.
 *
 * Return: 0, including for a umem without P2PDMA pages; -ENODEV when a
 * provider is already being removed.
 */
int ib_umem_p2p_arm(struct ib_umem *umem, void *priv)
{
	struct ib_umem_p2p_provider *p;
	int ret;

	if (!umem->has_p2p)
		return 0;
	umem->p2p->priv = priv;
	list_for_each_entry(p, &umem->p2p->providers, list) {
		p->revoke.revoke = ib_umem_p2p_revoke;
		/* the pin of p->page keeps the provider's state alive */
		ret = pci_p2pdma_register_revoke(p->page, &p->revoke);
		if (ret) {
			ibdev_dbg(umem->ibdev, "MR on P2PDMA memory of %s refused: %d\n",
				  pci_name(p->provider), ret);
			ib_umem_p2p_disarm(umem);
			return ret;
		}
		p->armed = true;
	}
	return 0;
}
EXPORT_SYMBOL(ib_umem_p2p_arm);

/**
 * ib_umem_p2p_disarm() - stop revocations of a umem that is being released
 * @umem: the umem
 *
 * Waits for a revocation in progress and unregisters from the providers
 * whose pages @umem still holds. Called by ib_umem_release() before it
 * unpins; the pages a provider took back are skipped there.
 */
void ib_umem_p2p_disarm(struct ib_umem *umem)
{
	struct ib_umem_p2p *p2p = umem->p2p;
	struct ib_umem_p2p_provider *p;

	if (!umem->has_p2p)
		return;

	spin_lock(&p2p->lock);
	p2p->released = true;
	spin_unlock(&p2p->lock);
	/* busy only falls now; ib_umem_p2p_release() syncs with its unlock */
	wait_event(p2p->wq, !READ_ONCE(p2p->busy));

	/*
	 * No revocation runs or starts now. The pins of the providers not
	 * revoked are still held, which keeps those providers alive.
	 */
	list_for_each_entry(p, &p2p->providers, list) {
		if (p->armed)
			pci_p2pdma_unregister_revoke(&p->revoke);
		p->armed = false;
	}
}

/**
 * ib_umem_p2p_unpin_sg() - unpin what a provider did not take back
 * @umem: the umem being released, after ib_umem_p2p_disarm()
 * @sg: one entry of its table
 * @dirty: whether to mark the pages dirty
 *
 * Return: false when no page of @sg was revoked, and nothing was done: the
 * caller unpins @sg as usual. True when this unpinned the pages of @sg
 * that are still pinned, never touching the struct pages of a provider
 * that is gone.
 */
bool ib_umem_p2p_unpin_sg(struct ib_umem *umem, struct scatterlist *sg,
			  bool dirty)
{
	unsigned long pfn, first, last;

	if (!umem->has_p2p || !READ_ONCE(umem->p2p->revoked))
		return false;

	first = page_to_pfn(sg_page(sg));
	last = first + DIV_ROUND_UP(sg->length, PAGE_SIZE) - 1;
	if (!ib_umem_p2p_taken_back(umem, first, last))
		return false;

	for (pfn = first; pfn <= last; pfn++)
		if (!ib_umem_p2p_taken_back(umem, pfn, pfn))
			unpin_user_page_range_dirty_lock(pfn_to_page(pfn), 1,
							 dirty);
	return true;
}

/**
 * ib_umem_p2p_release() - free the P2PDMA state of a released umem
 * @umem: the umem, whose pages ib_umem_release() has unpinned
 */
void ib_umem_p2p_release(struct ib_umem *umem)
{
	struct ib_umem_p2p_provider *p, *tmp;
	struct ib_umem_p2p *p2p = umem->p2p;

	if (!umem->has_p2p)
		return;
	list_for_each_entry_safe(p, tmp, &p2p->providers, list) {
		list_del(&p->list);
		pci_dev_put(p->provider);
		kfree(p);
	}
	/* a revocation's last unlock is done before we free */
	spin_lock(&p2p->lock);
	spin_unlock(&p2p->lock);
	kfree(p2p);
	umem->p2p = NULL;
	umem->has_p2p = 0;
}
