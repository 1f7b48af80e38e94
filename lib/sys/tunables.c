/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* An accept loop runs with glibc's per-thread cache of freed chunks
 * (tcache) turned off, and so do the children it forks.
 *
 * Every child starts with a copy of the loop's allocator state, and with the
 * cache on, its first small allocations are served from the chunks the loop
 * freed last, spread all over the loop's heap: each one copies a page of
 * that heap on write. Comparing page frames of children with the loop's
 * (/proc/<pid>/pagemap), an idle IMAP connection's two processes held 240
 * and 248 KB of copied heap; without the cache, 200 and 200 KB. Measured
 * with tests/bench/idlemem.py, 50 idle connections: 776 → 671 KB of PSS per
 * TLS connection and 438 → 378 KB in plaintext, while CPU per message
 * (smtpd, smtp-source c10) and per login (TLS c8) stayed within the noise
 * (docs/BENCHMARKS.md). glibc reads tunables only at start-up, so a process
 * given listening sockets execs itself once with the tunable added, before
 * anything else happens; when that is not possible it goes on as it is.
 *
 * The same exec also turns off glibc's registration of a restartable
 * sequence area (rseq, used by nothing here but sched_getcpu): the kernel
 * writes the current CPU into it whenever the loop returns to user space
 * after being moved, and the page it sits on is shared with the children
 * just forked, so each such write copied it. Trust: admin. */
#include "tunables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"

void tunables_reexec(char **argv)
{
	if (!conn_listeners_passed())
		return;
	const char *t = getenv("GLIBC_TUNABLES");
	if (t != NULL && strstr(t, TUNABLES_LOOP) != NULL)
		return; /* set (by us or the unit), whether or not glibc honoured it */
	char v[1024];
	int n = t != NULL && t[0] != '\0' ? snprintf(v, sizeof(v), "%s:%s", t, TUNABLES_LOOP)
	                                  : snprintf(v, sizeof(v), "%s", TUNABLES_LOOP);
	/* A cut list would drop tunables the administrator set: serve as is. */
	if (n < 0 || (size_t)n >= sizeof(v) || setenv("GLIBC_TUNABLES", v, 1) < 0)
		return;
	/* The file's own name, so that the process keeps its name (comm). */
	char self[4096];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (k <= 0 || (size_t)k >= sizeof(self) - 1)
		return;
	self[k] = '\0';
	execv(self, argv);
	/* Still here: no /proc, the file was replaced, or exec refused. Serve
	 * with the cache on. */
}
