/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* glibc tunables for an accept loop: a process given listening sockets
 * (Accept=no) execs itself once with GLIBC_TUNABLES set, because glibc
 * reads tunables only at start-up. The reasons and the measurements are in
 * tunables.c and docs/BENCHMARKS.md section 4. Trust: admin (the
 * environment and the sockets systemd passed). */
#ifndef SEALMAIL_TUNABLES_H
#define SEALMAIL_TUNABLES_H

/* The tunables an accept loop runs with. */
#define TUNABLES_LOOP "glibc.malloc.tcache_count=0:glibc.pthread.rseq=0"

/* First thing in main(), before anything is opened or read from a client:
 * when this process was given listening sockets and GLIBC_TUNABLES lacks
 * TUNABLES_LOOP, add it and exec this program's own file with argv (the
 * sockets and the name, comm, pass through unchanged). Returns when nothing
 * is to be done, or when the exec could not happen (no /proc, the file was
 * replaced): the process then serves as it is. */
void tunables_reexec(char **argv);

#endif
