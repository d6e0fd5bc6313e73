// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * User memory registrations on PCI peer-to-peer (P2PDMA) memory.
 *
 * ib_umem_get() pins user memory with FOLL_LONGTERM. GUP refuses that for
 * P2PDMA pages, so that a provider can always be unplugged: a long-term
 * pin would make the removal wait for as long as the MR lives. Here a
 * run of P2PDMA pages is pinned without FOLL_LONGTERM instead, and the
 * umem records each provider it holds pages of, which is what a provider
 * needs to find the registrations it must revoke before it goes away.
 * Host pages around such a run are still pinned long-term by
 * ib_umem_get(), exactly as before.
 */

#include <linux/mm.h>
#include <linux/pci-p2pdma.h>
#include <linux/slab.h>
#include <rdma/ib_p2p.h>

struct ib_umem_p2p_provider {
	struct list_head list;
	struct pci_dev *provider;
	unsigned long npages;
};

/**
 * ib_umem_p2p_supported() - whether user MRs of a device may hold P2PDMA pages
 * @device: the RDMA device
 *
 * A driver whose CPU accesses to P2PDMA pages are MMIO-safe sets
 * IB_DEVICE_PCI_P2PDMA. A device that DMAs through a dma_device which
 * can map P2PDMA pages supports them without doing anything.
 *
 * Return: true when ib_umem_get() may hand @device P2PDMA pages.
 */
bool ib_umem_p2p_supported(struct ib_device *device)
{
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
			       "device does not support PCI P2PDMA");
	return -EOPNOTSUPP;
}

static int ib_umem_p2p_add_provider(struct ib_umem *umem,
				    struct pci_dev *provider,
				    unsigned long npages)
{
	struct ib_umem_p2p_provider *p;

	if (!umem->has_p2p) {
		INIT_LIST_HEAD(&umem->p2p_providers);
		umem->has_p2p = 1;
	}
	list_for_each_entry(p, &umem->p2p_providers, list) {
		if (p->provider == provider) {
			p->npages += npages;
			return 0;
		}
	}
	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->provider = pci_dev_get(provider);
	p->npages = npages;
	list_add_tail(&p->list, &umem->p2p_providers);
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
		ret = ib_umem_p2p_add_provider(umem, provider, n);
	if (ret) {
		unpin_user_pages(pages, n);
		return ret;
	}
	return n;
}

/**
 * ib_umem_p2p_release() - forget the P2PDMA providers of a umem
 * @umem: the umem, whose pages the caller has unpinned or is unpinning
 */
void ib_umem_p2p_release(struct ib_umem *umem)
{
	struct ib_umem_p2p_provider *p, *tmp;

	if (!umem->has_p2p)
		return;
	list_for_each_entry_safe(p, tmp, &umem->p2p_providers, list) {
		list_del(&p->list);
		pci_dev_put(p->provider);
		kfree(p);
	}
	umem->has_p2p = 0;
}
