/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Argon2's memory in 2 MiB pages: this module defines mmap() for every
 * program that links the KDF, and places the one kind of mapping Argon2
 * makes on a 2 MiB boundary advised MADV_HUGEPAGE. Why and how much it
 * saves: kdf_hugepages.c. Trust: post-auth back process and sealctl. */
#ifndef SEALMAIL_KDF_HUGEPAGES_H
#define SEALMAIL_KDF_HUGEPAGES_H

#include <stddef.h>

/* Warm stage of a program that runs the KDF, before its sandbox (which
 * closes /sys): learn whether the kernel has transparent huge pages at all.
 * When they are off ("never"), Argon2's mappings go to the system call
 * unchanged. Without this call the placement is simply tried. */
void kdf_hugepages_init(void);

/* A private anonymous mapping of len bytes placed on a 2 MiB boundary and
 * advised MADV_HUGEPAGE (then populated when flags has MAP_POPULATE): what
 * this module's mmap() gives Argon2, also where that mmap() is compiled out
 * (sanitizer builds). MAP_FAILED on failure; the caller munmaps (address,
 * len). */
void *kdf_hugepages_mmap(size_t len, int prot, int flags);

#endif
