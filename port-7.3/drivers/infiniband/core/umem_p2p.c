// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Revocable user memory registrations, which may hold PCI peer-to-peer
 * (P2PDMA) memory.
 *
 * ib_umem_get_va() pins user memory with FOLL_LONGTERM, which GUP refuses
 * for P2PDMA pages: a long-term pin would make the removal of their
 * provider wait for as long as the MR lives. A driver that can revoke an
 * MR takes its umem from ib_umem_get_revocable_and_lock() instead. Runs
 * of P2PDMA pages are then pinned without FOLL_LONGTERM and the umem is
 * registered with the memory they belong to (pci_p2pdma_register_revoke());
 * host pages around them are pinned long-term as always. The table is
 * mapped with ib_dma_map_sgtable_p2p().
 *
 * The driver's side is that of a pinned revocable dma-buf umem
 * (ib_umem_dmabuf_get_pinned_revocable_and_lock()): the umem comes back
 * with its revoke lock held, the driver sets its callback and private
 * pointer with ib_umem_set_revoke_locked() and unlocks. When P2PDMA memory
 * of the umem is removed, the core calls the callback under the lock,
 * then undoes the DMA mapping, then unpins that memory's pages, so the
 * removal never waits on the MR. The callback is called at most once, and
 * by ib_umem_release() if nothing called it before.
 *
 * Locking: p2p->lock, the revoke lock, serializes the callback with the
 * driver's own critical sections. A removal and ib_umem_release() exclude
 * each other through p2p->busy_lock, p2p->busy and p2p->released:
 * release waits for the calls in progress and makes later ones return at
 * once, since it still holds the pages and unregisters itself.
 */

#include <linux/mm.h>
#include <linux/pci-p2pdma.h>
#include <linux/slab.h>
#include <rdma/ib_umem.h>

#include "core_priv.h"

/* The pages of one P2PDMA pagemap held by a umem */
struct ib_umem_p2p_provider {
	struct list_head list;
	struct ib_umem *umem;
	struct pci_dev *provider;
	struct page *page;		/* one of them, to register with */
	unsigned long first_pfn, last_pfn;
	struct pci_p2pdma_revoke revoke;
	bool registered;		/* on the pagemap's list */
	bool taken_back;		/* its pages are unpinned */
};

struct ib_umem_p2p {
	struct list_head providers;
	struct dma_iova_state iova;
	void (*revoke)(void *priv);
	void *priv;
	struct mutex lock;		/* the revoke lock */
	spinlock_t busy_lock;		/* protects busy and released */
	unsigned int busy;
	bool released;
	bool dying;			/* a removal began; see prepare */
	bool revoked;
	bool mapped;
	wait_queue_head_t wq;
};

/**
 * ib_p2p_user_mr_supported - whether user MRs of a device may hold P2PDMA
 * @device: the RDMA device
 *
 * The driver must revoke MRs (IBK_REVOCABLE_USER_MR), so that the provider
 * of the pages can always be removed, and the device must not bounce user
 * memory (cc_dma_bounce). A device with a DMA device must be a PCI device
 * whose DMA mapping can map P2PDMA memory; a device that uses virtual DMA
 * must touch it with MMIO accessors (IBK_P2PDMA_CPU_ACCESS).
 *
 * Return: true when ib_umem_get_revocable_and_lock() may hand @device
 * P2PDMA pages; the uverbs device capability IB_UVERBS_DEVICE_PCI_P2PDMA.
 */
bool ib_p2p_user_mr_supported(struct ib_device *device)
{
	u64 caps = device->attrs.kernel_cap_flags;

	if (!IS_ENABLED(CONFIG_PCI_P2PDMA) || !(caps & IBK_REVOCABLE_USER_MR) ||
	    device->cc_dma_bounce)
		return false;
	if (ib_uses_virt_dma(device))
		return caps & IBK_P2PDMA_CPU_ACCESS;
	/* pci_p2pdma_map_sg() finds a route only to a PCI DMA device */
	return dev_is_pci(device->dma_device) &&
	       dma_pci_p2pdma_supported(device->dma_device);
}
EXPORT_SYMBOL(ib_p2p_user_mr_supported);

/* The revocable state of @umem, allocated by __ib_umem_get_va(). */
int ib_umem_p2p_init(struct ib_umem *umem)
{
	struct ib_umem_p2p *p2p = kzalloc_obj(*p2p);

	if (!p2p)
		return -ENOMEM;
	INIT_LIST_HEAD(&p2p->providers);
	mutex_init(&p2p->lock);
	spin_lock_init(&p2p->busy_lock);
	init_waitqueue_head(&p2p->wq);
	umem->p2p = p2p;
	return 0;
}

static int ib_umem_p2p_add_provider(struct ib_umem *umem, struct page *page)
{
	struct dev_pagemap *pgmap = page_pgmap(page);
	struct ib_umem_p2p_provider *p;

	list_for_each_entry(p, &umem->p2p->providers, list)
		if (page_pgmap(p->page) == pgmap)
			return 0;
	p = kzalloc_obj(*p);
	if (!p)
		return -ENOMEM;
	p->umem = umem;
	p->provider = pci_dev_get(pci_p2pdma_page_provider(page));
	p->page = page;
	p->first_pfn = PHYS_PFN(pgmap->range.start);
	p->last_pfn = PHYS_PFN(pgmap->range.end);
	list_add_tail(&p->list, &umem->p2p->providers);
	return 0;
}

/*
 * ib_umem_p2p_pin - pin a run of P2PDMA pages where a long-term pin failed
 * @umem: a revocable umem being built
 * @start: page-aligned user address at which the FOLL_LONGTERM pin failed
 * @npages: the most pages to pin
 * @gup_flags: the FOLL_ flags of that pin
 * @pages: array of @npages entries for the pinned pages
 * @err: the error of that pin
 *
 * Pins the pages at @start without FOLL_LONGTERM and with FOLL_PCI_P2PDMA,
 * and keeps the leading run of P2PDMA pages of one pagemap; the pages
 * after it are unpinned and left to the caller's next long-term pin.
 *
 * Return: the number of pages pinned into @pages; @err when the memory at
 * @start is not P2PDMA memory; -EOPNOTSUPP when the device cannot hold
 * P2PDMA pages; or another negative errno.
 */
int ib_umem_p2p_pin(struct ib_umem *umem, unsigned long start,
		    unsigned long npages, unsigned int gup_flags,
		    struct page **pages, int err)
{
	struct ib_device *device = umem->ibdev;
	int pinned, n, ret;

	if (!IS_ENABLED(CONFIG_PCI_P2PDMA) ||
	    (err != -EFAULT && err != -EREMOTEIO))
		return err;

	gup_flags &= ~FOLL_LONGTERM;
	pinned = pin_user_pages_fast(start, npages, gup_flags | FOLL_PCI_P2PDMA,
				     pages);
	if (pinned <= 0)
		return pinned ?: err;

	for (n = 0; n < pinned; n++)
		if (!is_pci_p2pdma_page(pages[n]) ||
		    page_pgmap(pages[n]) != page_pgmap(pages[0]))
			break;
	unpin_user_pages(pages + n, pinned - n);
	if (!n)
		return err;

	if (!ib_p2p_user_mr_supported(device)) {
		bool revocable = device->attrs.kernel_cap_flags &
				 IBK_REVOCABLE_USER_MR;

		ibdev_warn_ratelimited(device,
				       "user MR on P2PDMA memory of %s refused: %s\n",
				       pci_name(pci_p2pdma_page_provider(pages[0])),
				       revocable ? "the device cannot reach P2PDMA memory" :
						   "the driver cannot revoke MRs");
		ret = -EOPNOTSUPP;
	} else {
		ret = ib_umem_p2p_add_provider(umem, pages[0]);
	}
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

/* Whether a provider of @umem took back a page in [@first, @last]. */
static bool ib_umem_p2p_taken_back(struct ib_umem *umem, unsigned long first,
				   unsigned long last)
{
	struct ib_umem_p2p_provider *p;

	list_for_each_entry(p, &umem->p2p->providers, list)
		if (p->taken_back && first <= p->last_pfn && last >= p->first_pfn)
			return true;
	return false;
}

/* Under p2p->lock: stop the driver, then undo the DMA mapping, once. */
static void ib_umem_p2p_revoke_locked(struct ib_umem *umem)
{
	struct ib_umem_p2p *p2p = umem->p2p;

	lockdep_assert_held(&p2p->lock);
	if (p2p->revoked)
		return;
	if (p2p->revoke)
		p2p->revoke(p2p->priv);
	WRITE_ONCE(p2p->revoked, true);
	if (p2p->mapped)
		ib_dma_unmap_sgtable_p2p(umem->ibdev, &umem->sgt_append.sgt,
					 DMA_BIDIRECTIONAL, umem->dma_attrs,
					 &p2p->iova);
	p2p->mapped = false;
}

/* The removal has begun: CPU accesses checking ib_umem_revoked() stop. */
static void ib_umem_p2p_prepare(struct pci_p2pdma_revoke *r)
{
	struct ib_umem_p2p_provider *p =
		container_of(r, struct ib_umem_p2p_provider, revoke);

	WRITE_ONCE(p->umem->p2p->dying, true);
}

/*
 * The removal of P2PDMA memory of the umem calls this, in process context
 * and with no P2PDMA lock held: revoke, then give the pages back.
 */
static void ib_umem_p2p_provider_revoke(struct pci_p2pdma_revoke *r)
{
	struct ib_umem_p2p_provider *p =
		container_of(r, struct ib_umem_p2p_provider, revoke);
	struct ib_umem *umem = p->umem;
	struct ib_umem_p2p *p2p = umem->p2p;
	struct scatterlist *sg;
	unsigned int i;

	spin_lock(&p2p->busy_lock);
	if (p2p->released) {
		/* ib_umem_release() unpins; it waits for us to return. */
		spin_unlock(&p2p->busy_lock);
		return;
	}
	p2p->busy++;
	spin_unlock(&p2p->busy_lock);

	mutex_lock(&p2p->lock);
	if (!p2p->revoked)
		ibdev_info_ratelimited(umem->ibdev,
				       "user MR revoked: its P2PDMA memory on %s is being removed\n",
				       pci_name(p->provider));
	ib_umem_p2p_revoke_locked(umem);
	for_each_sgtable_sg(&umem->sgt_append.sgt, sg, i) {
		ib_umem_p2p_unpin_range(sg, p->first_pfn, p->last_pfn,
					umem->writable);
		cond_resched();
	}
	p->taken_back = true;
	p->registered = false;
	mutex_unlock(&p2p->lock);

	spin_lock(&p2p->busy_lock);
	if (!--p2p->busy)
		wake_up_all(&p2p->wq);
	spin_unlock(&p2p->busy_lock);
}

/*
 * Map the table and register with every provider, under the revoke lock,
 * which the caller keeps: a removal that starts now waits for the driver
 * to set its callback.
 */
int ib_umem_p2p_map_and_lock(struct ib_umem *umem)
{
	struct ib_umem_p2p *p2p = umem->p2p;
	struct ib_umem_p2p_provider *p;
	int ret;

	ret = ib_dma_map_sgtable_p2p(umem->ibdev, &umem->sgt_append.sgt,
				     DMA_BIDIRECTIONAL, umem->dma_attrs,
				     &p2p->iova);
	if (ret)
		return ret;
	p2p->mapped = true;

	mutex_lock(&p2p->lock);
	list_for_each_entry(p, &p2p->providers, list) {
		p->revoke.prepare = ib_umem_p2p_prepare;
		p->revoke.revoke = ib_umem_p2p_provider_revoke;
		/* the pin of p->page keeps the pagemap alive */
		ret = pci_p2pdma_register_revoke(p->page, &p->revoke);
		if (ret) {
			/* ib_umem_release() unregisters the others */
			ib_umem_p2p_revoke_locked(umem);
			mutex_unlock(&p2p->lock);
			return ret;
		}
		/* the callback, which clears it, waits for the revoke lock */
		p->registered = true;
	}
	return 0;
}

/**
 * ib_umem_set_revoke_locked - set the driver's revoke callback of a umem
 * @umem: a umem from ib_umem_get_revocable_and_lock(), revoke lock held
 * @revoke: called under the revoke lock when the umem's memory is taken
 *	away, at most once: the device must not access the memory once it
 *	returns, and later accesses should fail. ib_umem_release() calls it
 *	if nothing did before. It may sleep.
 * @priv: the argument of @revoke; it must stay valid until
 *	ib_umem_release() of @umem returns
 *
 * As ib_umem_dmabuf_set_revoke_locked() for a pinned revocable dma-buf
 * umem. After the callback returns, the core unmaps the umem for DMA and
 * unpins the memory being removed; the driver keeps the MR's key until
 * the MR is deregistered.
 *
 * Context: process context, with the revoke lock held.
 */
void ib_umem_set_revoke_locked(struct ib_umem *umem,
			       void (*revoke)(void *priv), void *priv)
{
	lockdep_assert_held(&umem->p2p->lock);
	umem->p2p->revoke = revoke;
	umem->p2p->priv = priv;
}
EXPORT_SYMBOL(ib_umem_set_revoke_locked);

/**
 * ib_umem_revoke_lock - take the revoke lock of a revocable umem
 * @umem: a umem from ib_umem_get_revocable_and_lock()
 *
 * Serializes the driver with the revoke callback, as
 * ib_umem_dmabuf_revoke_lock() does. A removal of the umem's memory waits
 * for the lock: hold it only for bounded work.
 *
 * Context: process context; may sleep.
 */
void ib_umem_revoke_lock(struct ib_umem *umem)
{
	mutex_lock(&umem->p2p->lock);
}
EXPORT_SYMBOL(ib_umem_revoke_lock);

/**
 * ib_umem_revoke_unlock - drop the revoke lock of a revocable umem
 * @umem: a umem from ib_umem_get_revocable_and_lock()
 *
 * Context: process context, with the revoke lock held.
 */
void ib_umem_revoke_unlock(struct ib_umem *umem)
{
	mutex_unlock(&umem->p2p->lock);
}
EXPORT_SYMBOL(ib_umem_revoke_unlock);

/**
 * ib_umem_revoked - whether the memory of a umem is being taken away
 * @umem: a umem, or NULL
 *
 * A driver that touches a user MR's memory with the CPU checks this under
 * rcu_read_lock() before each access and keeps the lock until the access
 * is over: a removal marks the umem before the one grace period it waits
 * for, for all umems at once, so the driver's revoke callback does not
 * have to wait for such accesses. Once this returns true, the struct
 * pages of the memory being removed may be gone.
 *
 * Return: true when @umem is revocable and a removal of its memory began;
 * false for a NULL @umem, such as that of a DMA MR.
 */
bool ib_umem_revoked(struct ib_umem *umem)
{
	return umem && umem->p2p &&
	       (READ_ONCE(umem->p2p->dying) || READ_ONCE(umem->p2p->revoked));
}
EXPORT_SYMBOL(ib_umem_revoked);

/*
 * ib_umem_p2p_release - revoke, unmap and unregister a umem being released
 * @umem: the umem, whose pages are still pinned but for those taken back
 *
 * Waits for a removal's call in progress, makes later ones return at
 * once, calls the revoke callback if nothing did, and unregisters from
 * the memory not taken back. ib_umem_release() then unpins.
 */
void ib_umem_p2p_release(struct ib_umem *umem)
{
	struct ib_umem_p2p *p2p = umem->p2p;
	struct ib_umem_p2p_provider *p;

	/* a removal's callback in progress may wait for the revoke lock */
	lockdep_assert_not_held(&p2p->lock);
	spin_lock(&p2p->busy_lock);
	p2p->released = true;
	spin_unlock(&p2p->busy_lock);
	wait_event(p2p->wq, !READ_ONCE(p2p->busy));

	mutex_lock(&p2p->lock);
	ib_umem_p2p_revoke_locked(umem);
	mutex_unlock(&p2p->lock);

	/* the pins still held keep those pagemaps alive */
	list_for_each_entry(p, &p2p->providers, list)
		if (p->registered)
			pci_p2pdma_unregister_revoke(&p->revoke);
}

/*
 * ib_umem_p2p_unpin_sg - unpin what no provider took back
 * @umem: the umem being released, after ib_umem_p2p_release()
 * @sg: one entry of its table
 * @dirty: whether to mark the pages dirty
 *
 * Return: false when no page of @sg was taken back, and nothing was done:
 * the caller unpins @sg as usual. True when this unpinned the pages of
 * @sg that are still pinned, never touching the struct pages of memory
 * that is gone.
 */
bool ib_umem_p2p_unpin_sg(struct ib_umem *umem, struct scatterlist *sg,
			  bool dirty)
{
	unsigned long pfn, first, last;

	if (!umem->p2p || list_empty(&umem->p2p->providers))
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
 * ib_umem_holds_p2pdma - whether a umem holds PCI P2PDMA memory
 * @umem: a umem
 *
 * Return: true when @umem, from ib_umem_get_revocable_and_lock(), holds
 * P2PDMA pages, which are MMIO and may be revoked.
 */
bool ib_umem_holds_p2pdma(struct ib_umem *umem)
{
	return umem->p2p && !list_empty(&umem->p2p->providers);
}
EXPORT_SYMBOL(ib_umem_holds_p2pdma);

/* Free the revocable state of a umem whose pages are unpinned. */
void ib_umem_p2p_free(struct ib_umem *umem)
{
	struct ib_umem_p2p *p2p = umem->p2p;
	struct ib_umem_p2p_provider *p, *tmp;

	if (!p2p)
		return;
	list_for_each_entry_safe(p, tmp, &p2p->providers, list) {
		list_del(&p->list);
		pci_dev_put(p->provider);
		kfree(p);
	}
	/* a removal's call has unlocked busy_lock after waking us */
	spin_lock(&p2p->busy_lock);
	spin_unlock(&p2p->busy_lock);
	mutex_destroy(&p2p->lock);
	kfree(p2p);
	umem->p2p = NULL;
}
