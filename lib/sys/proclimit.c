/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Trust: admin. See proclimit.h.
 *
 * RLIMIT_AS counts address space, not resident memory: the mapped
 * libraries (OpenSSL, SQLCipher, libsodium, glibc), malloc's heap and
 * mappings, SQLite's page cache. VmPeak (and VmHWM, resident) of release
 * builds on Debian 12 x86_64, measured with the workloads of
 * tests/integration/test_imap_memory.py and a few more:
 *   front, pre-auth; and relaying TLS for a 47 MB FETCH      13 MiB (9 resident)
 *   back, logged in, mailbox selected                        13 MiB (6)
 *   back, FETCH 100 x BINARY.PEEK[1] of an 8 MB base64 part  15 MiB (8)
 *   back, FETCH BODY[] and BINARY[1] of a 47 MB message      16 MiB (8)
 *   back, SEARCH TEXT and BODY over 200 messages of 200 KB   16 MiB (8)
 *   back, login importing a 47 MB message from the spool    128 MiB (104)
 *   back, APPEND of a 49 MB message                         177 MiB (140)
 *   pop3d back, RETR of a 40 MB message                     120 MiB (90)
 * A back holds at most one message at a time (with its sealed copy and the
 * store's buffers while it is written), about 3.4 times its size at the
 * most; the rest is a fixed part. The ceilings below leave about twice
 * that. Argon2's memory (kdf_memlimit, 32 MiB by default) is not counted:
 * the back sets its limit once the user is known and the derivation's
 * mapping is gone. */
#include "proclimit.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"

/* A front: 13 MiB measured; TLS records and an AUTHENTICATE line are
 * bounded, so this is room for the libraries' own growth. */
#define PROCLIMIT_FRONT_AS ((uint64_t)64 << 20)
/* A back's fixed part: 16 MiB measured at most without a whole message. */
#define PROCLIMIT_BACK_AS_FIXED ((uint64_t)128 << 20)
/* Per byte of max_message_size: 3.4 measured (APPEND). */
#define PROCLIMIT_BACK_AS_PER_MSG 6

uint64_t proclimit_as_bytes(enum proclimit_role role, const struct conf *c)
{
	if (role == PROCLIMIT_FRONT)
		return PROCLIMIT_FRONT_AS;
	uint64_t per = 0, as = 0;
	/* max_message_size is at most 4 GiB (conf.c): no overflow, but say so. */
	if (__builtin_mul_overflow(c->max_message_size, (uint64_t)PROCLIMIT_BACK_AS_PER_MSG,
	                           &per) ||
	    __builtin_add_overflow(per, PROCLIMIT_BACK_AS_FIXED, &as))
		return UINT64_MAX;
	return as;
}

#if defined(SEALMAIL_SAN) || defined(__SANITIZE_ADDRESS__)
int proclimit_apply(enum proclimit_role role, const struct conf *c)
{
	(void)role;
	(void)c;
	return 0;
}
#else
int proclimit_apply(enum proclimit_role role, const struct conf *c)
{
	uint64_t want = proclimit_as_bytes(role, c);
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) < 0) {
		log_event(LOG_WARNING, "rlimit-failed", "REASON", strerror(errno), NULL);
		return -1;
	}
	/* RLIM_INFINITY is the largest value: min() keeps whatever lower
	 * soft or hard limit the unit (LimitAS=) already set. */
	if (want < rl.rlim_max)
		rl.rlim_max = (rlim_t)want;
	if (rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_AS, &rl) < 0) {
		log_event(LOG_WARNING, "rlimit-failed", "REASON", strerror(errno), NULL);
		return -1;
	}
	return 0;
}
#endif
