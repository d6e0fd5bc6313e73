/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * CPU access to PCI peer-to-peer (P2PDMA) memory by RDMA devices that use
 * virtual DMA.
 *
 * A user MR may hold P2PDMA pages (see ib_umem_get_revocable_and_lock()),
 * and a kernel client may hand a device P2PDMA memory: ZONE_DEVICE pages
 * backed by a PCI BAR, such as an NVMe CMB. The kernel maps them uncached,
 * so a driver that touches them with the CPU (rxe, siw) must use MMIO
 * accessors, as the copy helpers below do, and says so with
 * IBK_P2PDMA_CPU_ACCESS. A user MR's driver checks ib_umem_revoked()
 * before each access; a kernel client revokes its own P2PDMA memory (as
 * nvmet-rdma does, by draining its queue pairs).
 *
 * A provider can also vanish before the kernel is told (a surprise
 * removal). A read of its BAR then completes with fill data, which the
 * read helpers below recognize with pci_p2pdma_read_lost(): they return
 * -EIO, and the driver fails the work request. A write to a vanished
 * provider is lost, as any posted write to it is.
 */

#ifndef _RDMA_IB_P2P_H
#define _RDMA_IB_P2P_H

#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/memremap.h>
#include <linux/pci-p2pdma.h>

/* The kernel mapping of a P2PDMA page: the uncached map of its BAR. */
static inline void __iomem *ib_p2p_page_iomem(struct page *page)
{
	return (void __iomem __force *)page_address(page);
}

/**
 * ib_p2p_memcpy_from_page() - copy from a page that may be P2PDMA memory
 * @to: kernel buffer to copy to
 * @page: the page to copy from
 * @offset: offset in @page
 * @len: number of bytes; @offset + @len must not cross the end of @page
 *
 * Reads a P2PDMA page with memcpy_fromio() and any other page through a
 * temporary kernel mapping.
 *
 * Context: any; may read the config space of the provider of @page
 * (pci_p2pdma_read_lost()).
 * Return: 0, or -EIO when @page is P2PDMA memory whose provider did not
 * respond: @to then holds fill data, not the page's.
 */
static inline int ib_p2p_memcpy_from_page(void *to, struct page *page,
					  size_t offset, size_t len)
{
	if (!is_pci_p2pdma_page(page)) {
		memcpy_from_page(to, page, offset, len);
		return 0;
	}
	memcpy_fromio(to, ib_p2p_page_iomem(page) + offset, len);
	return pci_p2pdma_read_lost(page, to, len) ? -EIO : 0;
}

/**
 * ib_p2p_memcpy_to_page() - copy to a page that may be P2PDMA memory
 * @page: the page to copy to
 * @offset: offset in @page
 * @from: kernel buffer to copy from
 * @len: number of bytes; @offset + @len must not cross the end of @page
 *
 * Writes a P2PDMA page with memcpy_toio() and any other page through a
 * temporary kernel mapping.
 */
static inline void ib_p2p_memcpy_to_page(struct page *page, size_t offset,
					 const void *from, size_t len)
{
	if (is_pci_p2pdma_page(page))
		memcpy_toio(ib_p2p_page_iomem(page) + offset, from, len);
	else
		memcpy_to_page(page, offset, from, len);
}

/**
 * ib_p2p_kva_is_p2p() - whether a kernel address is in P2PDMA memory
 * @kva: a kernel virtual address, such as the DMA address a virtual-DMA
 *	device gets from pci_p2pdma_map_sg()
 *
 * Return: true when @kva lies in a P2PDMA page, which is MMIO.
 */
static inline bool ib_p2p_kva_is_p2p(const void *kva)
{
	return virt_addr_valid(kva) && is_pci_p2pdma_page(virt_to_page(kva));
}

/**
 * ib_p2p_memcpy_from_kva() - copy from a kernel address that may be MMIO
 * @to: kernel buffer to copy to
 * @kva: kernel virtual address to copy from
 * @len: number of bytes; [@kva, @kva + @len) must lie in one DMA segment
 *
 * Reads P2PDMA memory with memcpy_fromio() and other memory with memcpy().
 *
 * Context: any; may read the config space of the provider of @kva
 * (pci_p2pdma_read_lost()).
 * Return: 0, or -EIO when @kva is P2PDMA memory whose provider did not
 * respond: @to then holds fill data, not the memory's.
 */
static inline int ib_p2p_memcpy_from_kva(void *to, const void *kva,
					 size_t len)
{
	if (!ib_p2p_kva_is_p2p(kva)) {
		memcpy(to, kva, len);
		return 0;
	}
	memcpy_fromio(to, (const void __iomem __force *)kva, len);
	return pci_p2pdma_read_lost(virt_to_page(kva), to, len) ? -EIO : 0;
}

/**
 * ib_p2p_memcpy_to_kva() - copy to a kernel address that may be MMIO
 * @kva: kernel virtual address to copy to
 * @from: kernel buffer to copy from
 * @len: number of bytes; [@kva, @kva + @len) must lie in one DMA segment
 *
 * Writes P2PDMA memory with memcpy_toio() and other memory with memcpy().
 */
static inline void ib_p2p_memcpy_to_kva(void *kva, const void *from,
					size_t len)
{
	if (ib_p2p_kva_is_p2p(kva))
		memcpy_toio((void __iomem __force *)kva, from, len);
	else
		memcpy(kva, from, len);
}

#endif /* _RDMA_IB_P2P_H */
