/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Argon2's memory in 2 MiB pages.
 *
 * libsodium's Argon2 takes its whole memory (memlimit bytes) with one
 * mmap(MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE) and unmaps it at the end,
 * so every derivation maps, zeroes and unmaps memlimit / 4 KiB pages: 4,864
 * pages for 19 MiB. Measured on the 2-vCPU hosts of docs/BENCHMARKS.md that
 * is 9.7 ms to populate and 1.7 ms to unmap, against 2.3 ms and 0.15 ms in
 * 2 MiB pages, and the hash itself runs ~20% faster with fewer TLB misses:
 * one 19 MiB t=2 derivation costs ~19 ms of CPU in 4 KiB pages and ~13 ms
 * in 2 MiB pages. On kernels whose transparent huge pages are in "madvise"
 * mode (as on the measured hosts) a mapping only gets them when asked, and
 * libsodium has no way to be given memory, so this file defines mmap(): a
 * program that runs a KDF links it (kdf.c refers to this file), and the
 * dynamic linker binds libsodium's (and every other library's) mmap calls
 * to it. It changes exactly one kind of call,
 * the populated private anonymous mapping of KDF_HUGE_MIN or more that only
 * Argon2 makes here: that one is placed on a 2 MiB boundary and advised
 * MADV_HUGEPAGE before it is populated. Everything else goes to the system
 * call unchanged. Where huge pages are off or unavailable the kernel falls
 * back to 4 KiB pages, as before; where the kernel says they are off
 * ("never", read by kdf_hugepages_init in a handler's warm stage) the call
 * is not even reshaped. Sanitizer builds keep their own mmap interceptor.
 * Trust: post-auth back process and sealctl (admin). */
#include "kdf_hugepages.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define KDF_NO_MMAP_HOOK 1
#endif
#endif
#if defined(SEALMAIL_SAN) || defined(__SANITIZE_ADDRESS__)
#define KDF_NO_MMAP_HOOK 1
#endif
/* SYS_mmap takes mmap's own arguments on 64-bit Linux only (i386 has
 * old_mmap and mmap2). */
#if !defined(__LP64__)
#define KDF_NO_MMAP_HOOK 1
#endif

#define KDF_HUGE_PAGE ((size_t)2 << 20)
#define KDF_HUGE_MIN  (2 * KDF_HUGE_PAGE)

static void *kdf_hugepages_sys(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

void *kdf_hugepages_mmap(size_t len, int prot, int flags)
{
	size_t span;
	if (__builtin_add_overflow(len, KDF_HUGE_PAGE, &span))
		return MAP_FAILED;
	unsigned char *p = kdf_hugepages_sys(NULL, span, prot, flags & ~MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	uintptr_t start = ((uintptr_t)p + KDF_HUGE_PAGE - 1) & ~(uintptr_t)(KDF_HUGE_PAGE - 1);
	unsigned char *a = (unsigned char *)start;
	size_t head = (size_t)(a - p), tail = span - head - len;
	if (head > 0)
		syscall(SYS_munmap, p, head);
	if (tail > 0)
		syscall(SYS_munmap, a + len, tail);
	/* Both advices are best effort: without THP the first does nothing,
	 * before Linux 5.14 the second fails and pages come at first touch. */
	(void)madvise(a, len, MADV_HUGEPAGE);
#ifdef MADV_POPULATE_WRITE
	if (flags & MAP_POPULATE)
		(void)madvise(a, len, MADV_POPULATE_WRITE);
#endif
	return a;
}

/* Set once, before any fork, by kdf_hugepages_init. */
static bool kdf_hugepages_off;

void kdf_hugepages_init(void)
{
	/* "always [madvise] never": the brackets mark the mode in force. */
	char mode[128];
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
	if (f == NULL)
		return; /* no THP in this kernel, or no /sys: try anyway */
	if (fgets(mode, sizeof(mode), f) != NULL && strstr(mode, "[never]") != NULL)
		kdf_hugepages_off = true;
	fclose(f);
}

#ifndef KDF_NO_MMAP_HOOK
/* Named "mmap" for the linker whatever the headers redirect mmap to
 * (mmap64 under _FILE_OFFSET_BITS=64): libsodium calls mmap. */
void *kdf_hugepages_hook(void *addr, size_t len, int prot, int flags, int fd,
                         off_t off) __asm__("mmap");
void *kdf_hugepages_hook(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	const int want = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
	const int other =
	    MAP_SHARED | MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_HUGETLB | MAP_GROWSDOWN;
	if (!kdf_hugepages_off && addr == NULL && fd == -1 && off == 0 && (flags & want) == want &&
	    !(flags & other) && prot == (PROT_READ | PROT_WRITE) && len >= KDF_HUGE_MIN)
		return kdf_hugepages_mmap(len, prot, flags);
	return kdf_hugepages_sys(addr, len, prot, flags, fd, off);
}
#endif
