/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "penalty.h"

#include <arpa/inet.h>
#include <bsd/stdlib.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/fmt.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "sys/log.h"
#include "notify.h"

/* How many slots from its home an entry may lie (open addressing). */
#define PENALTY_PROBE 16
/* "sealmail:pen:" and a hex HMAC-SHA256. */
#define PENALTY_RKEY_MAX (16 + 2 * crypto_auth_hmacsha256_BYTES)

int penalty_source_key(const char *remote, char *out, size_t outsz)
{
	unsigned char a6[16];
	struct in_addr a4;
	if (inet_pton(AF_INET, remote, &a4) == 1)
		return fmt_name(out, outsz, "4:%s", remote);
	if (inet_pton(AF_INET6, remote, a6) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a6, mapped, sizeof(mapped)) == 0)
			return fmt_name(out, outsz, "4:%u.%u.%u.%u", a6[12], a6[13], a6[14],
			                a6[15]);
		/* One /64 is what a single subscriber or host gets (RFC 6177):
		 * counting its addresses one by one would hand an attacker
		 * 2^64 sources. */
		return fmt_name(out, outsz, "6:%02x%02x%02x%02x%02x%02x%02x%02x/64", a6[0], a6[1],
		                a6[2], a6[3], a6[4], a6[5], a6[6], a6[7]);
	}
	return fmt_name(out, outsz, "x:%s", remote);
}

uint64_t penalty_step(const struct penalty_policy *pol, unsigned f, uint64_t cap)
{
	if (f == 0 || pol->base_ms == 0)
		return 0;
	uint64_t d = pol->base_ms;
	for (unsigned i = 1; i < f && d < cap; i++)
		d *= 2; /* base <= 60 s and cap <= 60 s: no overflow before d >= cap */
	return d < cap ? d : cap;
}

void penalty_policy_of(const struct conf *c, struct penalty_policy *pol)
{
	pol->base_ms = c->auth_penalty_base_ms;
	pol->max_ms = c->auth_penalty_max_ms < c->auth_penalty_base_ms ? c->auth_penalty_base_ms
	                                                               : c->auth_penalty_max_ms;
	pol->account_max_ms = c->auth_penalty_account_max_ms;
	pol->window_ms = c->auth_penalty_window_ms;
}

/* The keyed hash of kind and key (the account lower-cased): what the table
 * and Redis store instead of an address or a name. */
static void penalty_mac(const unsigned char key[PENALTY_KEY_LEN], char kind, const char *name,
                        unsigned char out[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;
	unsigned char k = (unsigned char)kind;
	crypto_auth_hmacsha256_init(&st, key, PENALTY_KEY_LEN);
	crypto_auth_hmacsha256_update(&st, &k, 1);
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)(kind == 'a' ? tolower((unsigned char)*p) : *p);
		crypto_auth_hmacsha256_update(&st, &ch, 1);
	}
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* ---- the host table ---- */

static void penalty_table_init(struct penalty_table *t)
{
	if (t->magic == PENALTY_TABLE_MAGIC && t->nslots == PENALTY_TABLE_SLOTS)
		return;
	memset(t, 0, sizeof(*t));
	randombytes_buf(t->key, sizeof(t->key));
	t->nslots = PENALTY_TABLE_SLOTS;
	t->magic = PENALTY_TABLE_MAGIC;
}

static bool penalty_live(const struct penalty_slot *s, const struct penalty_policy *pol,
                         int64_t now_ms)
{
	return s->last_ms != 0 && now_ms - s->last_ms <= (int64_t)pol->window_ms;
}

/* The live slot of kind and key, or (create) a free, expired or the least
 * recently failed slot near its home, reset to it; NULL when absent. */
static struct penalty_slot *penalty_find(struct penalty_table *t, const struct penalty_policy *pol,
                                         char kind, const char *key, int64_t now_ms, bool create)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	penalty_table_init(t);
	penalty_mac(t->key, kind, key, mac);
	uint32_t home =
	    ((uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 | (uint32_t)mac[2] << 8 | mac[3]) %
	    PENALTY_TABLE_SLOTS;
	struct penalty_slot *victim = NULL;
	for (unsigned i = 0; i < PENALTY_PROBE; i++) {
		struct penalty_slot *s = &t->slot[(home + i) % PENALTY_TABLE_SLOTS];
		bool live = penalty_live(s, pol, now_ms);
		if (live && memcmp(s->id, mac, sizeof(s->id)) == 0)
			return s;
		/* Eviction: a dead slot first, else the oldest failure. */
		if (victim == NULL || (!live && penalty_live(victim, pol, now_ms)) ||
		    (live == penalty_live(victim, pol, now_ms) && s->last_ms < victim->last_ms))
			victim = s;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->id, mac, sizeof(victim->id));
	return victim;
}

uint64_t penalty_table_begin(struct penalty_table *t, const struct penalty_policy *pol, char kind,
                             const char *key, uint64_t cap, int64_t now_ms, unsigned *failures,
                             bool *beyond)
{
	struct penalty_slot *s = penalty_find(t, pol, kind, key, now_ms, false);
	*failures = s ? s->failures : 0;
	*beyond = false;
	if (s == NULL || s->failures == 0)
		return 0;
	int64_t turn = s->next_ms > now_ms ? s->next_ms : now_ms;
	uint64_t wait = (uint64_t)(turn - now_ms);
	if (wait > cap) {
		*beyond = true;
		return cap;
	}
	s->next_ms = turn + (int64_t)penalty_step(pol, s->failures, cap);
	return wait;
}

void penalty_table_fail(struct penalty_table *t, const struct penalty_policy *pol, char kind,
                        const char *key, uint64_t cap, int64_t now_ms)
{
	struct penalty_slot *s = penalty_find(t, pol, kind, key, now_ms, true);
	if (s->failures < UINT32_MAX)
		s->failures++;
	s->last_ms = now_ms;
	int64_t next = now_ms + (int64_t)penalty_step(pol, s->failures, cap);
	if (s->next_ms < next)
		s->next_ms = next;
}

void penalty_table_clear(struct penalty_table *t, char kind, const char *key)
{
	struct penalty_policy any = {.window_ms = INT64_MAX};
	struct penalty_slot *s = penalty_find(t, &any, kind, key, 0, false);
	if (s != NULL)
		memset(s, 0, sizeof(*s));
}

unsigned penalty_table_failures(struct penalty_table *t, const struct penalty_policy *pol,
                                char kind, const char *key, int64_t now_ms)
{
	struct penalty_slot *s = penalty_find(t, pol, kind, key, now_ms, false);
	return s ? s->failures : 0;
}

/* ---- the process's handle ---- */

struct penalty {
	struct penalty_policy pol;
	int table_fd; /* -1: no table */
	struct penalty_table *table;
	redisContext *rc; /* NULL: no Redis (or it failed: not retried) */
	unsigned char secret[PENALTY_KEY_LEN];
};

int penalty_key_ensure(int state_fd)
{
	if (faccessat(state_fd, PENALTY_KEY_FILE, F_OK, AT_EACCESS) == 0)
		return 0;
	/* A complete file appears under its name at once: written unnamed,
	 * then linked; a loser of a race with another process keeps the
	 * winner's key. */
	unsigned char k[PENALTY_KEY_LEN];
	char proc[64];
	randombytes_buf(k, sizeof(k));
	int tfd = openat(state_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (tfd >= 0 && write(tfd, k, sizeof(k)) == (ssize_t)sizeof(k) && fsync(tfd) == 0 &&
	    fmt_name(proc, sizeof(proc), "/proc/self/fd/%d", tfd) == 0 &&
	    linkat(AT_FDCWD, proc, state_fd, PENALTY_KEY_FILE, AT_SYMLINK_FOLLOW) < 0 &&
	    errno != EEXIST)
		log_event(LOG_WARNING, "auth-penalty-error", "REASON", strerror(errno), NULL);
	if (tfd >= 0)
		close(tfd);
	sodium_memzero(k, sizeof(k));
	return faccessat(state_fd, PENALTY_KEY_FILE, F_OK, AT_EACCESS) == 0 ? 0 : -1;
}

/* The install secret, made on first use if need be. 0, or -1 (logged). */
static int penalty_secret(int state_fd, unsigned char out[PENALTY_KEY_LEN])
{
	ssize_t n = -1;
	int fd = -1;
	if (penalty_key_ensure(state_fd) == 0)
		fd = openat(state_fd, PENALTY_KEY_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		n = read(fd, out, PENALTY_KEY_LEN);
		close(fd);
	}
	if (n != PENALTY_KEY_LEN) {
		sodium_memzero(out, PENALTY_KEY_LEN);
		log_event(LOG_WARNING, "auth-penalty-error", "REASON",
		          "cannot read or create the penalty key (sealctl init makes it); "
		          "Redis not used for penalties",
		          NULL);
		return -1;
	}
	return 0;
}

static void penalty_open_table(struct penalty *p, const struct conf *c)
{
	char path[4200];
	if (fmt_name(path, sizeof(path), "%s/%s", c->run_dir, PENALTY_TABLE_FILE) < 0)
		goto fail;
	p->table_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct stat st;
	if (p->table_fd < 0 || fstat(p->table_fd, &st) < 0)
		goto fail;
	/* A new file is made full size once; zeros are an empty table. */
	if ((size_t)st.st_size != PENALTY_TABLE_SIZE &&
	    ftruncate(p->table_fd, (off_t)PENALTY_TABLE_SIZE) < 0)
		goto fail;
	void *m =
	    mmap(NULL, PENALTY_TABLE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, p->table_fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	p->table = m;
	return;
fail:
	log_event(LOG_WARNING, "auth-penalty-error", "REASON", "cannot map the penalty table",
	          "ERRNO", strerror(errno), NULL);
	if (p->table_fd >= 0)
		close(p->table_fd);
	p->table_fd = -1;
}

static void penalty_open_redis(struct penalty *p, const struct conf *c, const char *spec)
{
	struct timeval tv = {0, PENALTY_REDIS_TIMEOUT_MS * 1000};
	if (strncmp(spec, "unix:", 5) == 0) {
		p->rc = redisConnectUnixWithTimeout(spec + 5, tv);
	} else {
		/* "host:port", as notify.c reads it. */
		char host[256];
		const char *colon = strrchr(spec, ':');
		size_t hl = colon ? (size_t)(colon - spec) : strlen(spec);
		const char *errstr = NULL;
		int port = colon ? (int)strtonum(colon + 1, 1, 65535, &errstr) : 6379;
		if (hl == 0 || hl >= sizeof(host) || errstr != NULL)
			return;
		memcpy(host, spec, hl);
		host[hl] = '\0';
		p->rc = redisConnectWithTimeout(host, port, tv);
	}
	const char *why = p->rc == NULL ? "cannot allocate a Redis context"
	                  : p->rc->err != 0 ? p->rc->errstr
	                                    : NULL;
	const char *err;
	/* The same ACL user as the notifications (docs/INSTALL.md). Loaded
	 * here if this process had not yet: the auth child opens this before
	 * its sandbox, which then wipes the password. */
	if (why == NULL && notify_password_load(c, &err) < 0)
		why = err;
	if (why == NULL)
		why = notify_auth(p->rc->fd);
	if (why == NULL && redisSetTimeout(p->rc, tv) != REDIS_OK)
		why = p->rc->errstr;
	if (why == NULL)
		return;
	log_event(LOG_WARNING, "auth-penalty-error", "REASON", why, "STORE", "local", NULL);
	if (p->rc != NULL)
		redisFree(p->rc);
	p->rc = NULL;
}

struct penalty *penalty_open(const struct conf *c, int state_fd)
{
	if (c->auth_penalty_base_ms == 0)
		return NULL;
	struct penalty *p = mem_zalloc(sizeof(*p));
	p->table_fd = -1;
	penalty_policy_of(c, &p->pol);
	penalty_open_table(p, c);
	if (c->redis[0] != '\0' && penalty_secret(state_fd, p->secret) == 0)
		penalty_open_redis(p, c, c->redis);
	return p;
}

void penalty_close(struct penalty **pp)
{
	struct penalty *p = *pp;
	if (p == NULL)
		return;
	if (p->table != NULL)
		munmap(p->table, PENALTY_TABLE_SIZE);
	if (p->table_fd >= 0)
		close(p->table_fd);
	if (p->rc != NULL)
		redisFree(p->rc);
	sodium_memzero(p->secret, sizeof(p->secret));
	free(p);
	*pp = NULL;
}

/* ---- Redis: one script call (one round trip, atomic) per event ---- */

/* KEYS: source, account. ARGV: base, window, source cap, account cap.
 * Each key is a hash {f: failures, n: next turn in ms of the server's
 * clock}, expiring a window after its last failure. Returns {f1, w1, b1,
 * f2, w2, b2}: failures, wait, and 1 when the turn was beyond the cap. An
 * attempt its source refuses takes no turn of the account. */
static const char penalty_lua_begin[] =
    "local t=redis.call('TIME') local now=t[1]*1000+math.floor(t[2]/1000) "
    "local base=tonumber(ARGV[1]) local out={} local refused=false "
    "for i=1,2 do "
    " local v=redis.call('HMGET',KEYS[i],'f','n') local f=tonumber(v[1]) or 0 "
    " local w,b=0,0 "
    " if f>0 and not refused then "
    "  local cap=tonumber(ARGV[2+i]) local d=math.min(base*2^math.min(f-1,30),cap) "
    "  local turn=math.max(now,tonumber(v[2]) or 0) w=turn-now "
    "  if w>cap then w=cap b=1 else redis.call('HSET',KEYS[i],'n',turn+d) end "
    " end "
    " refused=(b==1) "
    " out[#out+1]=f out[#out+1]=w out[#out+1]=b "
    "end return out";

/* KEYS: source, account. ARGV: base, window, source cap, account cap. */
static const char penalty_lua_fail[] =
    "local t=redis.call('TIME') local now=t[1]*1000+math.floor(t[2]/1000) "
    "local base=tonumber(ARGV[1]) "
    "for i=1,2 do "
    " local f=redis.call('HINCRBY',KEYS[i],'f',1) "
    " local d=math.min(base*2^math.min(f-1,30),tonumber(ARGV[2+i])) "
    " local n=tonumber(redis.call('HGET',KEYS[i],'n')) or 0 "
    " if n<now+d then redis.call('HSET',KEYS[i],'n',now+d) end "
    " redis.call('PEXPIRE',KEYS[i],ARGV[2]) "
    "end return 1";

static void penalty_rkey(const struct penalty *p, char kind, const char *key,
                         char out[PENALTY_RKEY_MAX])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char hex[2 * sizeof(mac) + 1];
	penalty_mac(p->secret, kind, key, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	(void)fmt_name(out, PENALTY_RKEY_MAX, "sealmail:pen:%s", hex); /* fits: sized for it */
}

/* A failed command: drop Redis for the rest of this process (the table
 * takes over) rather than wait on it at every attempt. */
static void penalty_redis_drop(struct penalty *p, redisReply *r)
{
	log_event(LOG_WARNING, "auth-penalty-error", "REASON",
	          p->rc->err ? p->rc->errstr : (r && r->str ? r->str : "unexpected reply"), "STORE",
	          "local", NULL);
	if (r != NULL)
		freeReplyObject(r);
	redisFree(p->rc);
	p->rc = NULL;
}

static redisReply *penalty_eval(struct penalty *p, const char *script, const char *src,
                                const char *acct)
{
	char k1[PENALTY_RKEY_MAX], k2[PENALTY_RKEY_MAX];
	penalty_rkey(p, 's', src, k1);
	penalty_rkey(p, 'a', acct, k2);
	redisReply *r = redisCommand(
	    p->rc, "EVAL %s 2 %s %s %llu %llu %llu %llu", script, k1, k2,
	    (unsigned long long)p->pol.base_ms, (unsigned long long)p->pol.window_ms,
	    (unsigned long long)p->pol.max_ms, (unsigned long long)p->pol.account_max_ms);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		penalty_redis_drop(p, r);
		return NULL;
	}
	return r;
}

static bool penalty_redis_begin(struct penalty *p, const char *src, const char *acct,
                                struct penalty_verdict *v, uint64_t w[2], bool b[2])
{
	redisReply *r = penalty_eval(p, penalty_lua_begin, src, acct);
	if (r == NULL)
		return false;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
		penalty_redis_drop(p, r);
		return false;
	}
	for (size_t i = 0; i < 6; i++)
		if (r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer < 0) {
			penalty_redis_drop(p, r);
			return false;
		}
	v->source_failures = (unsigned)r->element[0]->integer;
	w[0] = (uint64_t)r->element[1]->integer;
	b[0] = r->element[2]->integer != 0;
	v->account_failures = (unsigned)r->element[3]->integer;
	w[1] = (uint64_t)r->element[4]->integer;
	b[1] = r->element[5]->integer != 0;
	freeReplyObject(r);
	v->store = "redis";
	return true;
}

/* The table under its lock: false when there is none. */
static bool penalty_lock(struct penalty *p)
{
	if (p->table == NULL)
		return false;
	while (flock(p->table_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return false;
	return true;
}

static void penalty_unlock(struct penalty *p)
{
	(void)flock(p->table_fd, LOCK_UN);
}

void penalty_begin(struct penalty *p, const char *remote, const char *user,
                   struct penalty_verdict *v)
{
	char src[PENALTY_SOURCE_MAX];
	uint64_t w[2] = {0, 0};
	bool b[2] = {false, false};
	memset(v, 0, sizeof(*v));
	v->store = "none";
	if (p == NULL || penalty_source_key(remote, src, sizeof(src)) < 0)
		return;
	if (p->rc == NULL || !penalty_redis_begin(p, src, user, v, w, b)) {
		if (!penalty_lock(p))
			return;
		int64_t now = timeutil_mono_ms();
		w[0] = penalty_table_begin(p->table, &p->pol, 's', src, p->pol.max_ms, now,
		                           &v->source_failures, &b[0]);
		/* An attempt its source refuses takes no turn of the account. */
		if (b[0])
			v->account_failures =
			    penalty_table_failures(p->table, &p->pol, 'a', user, now);
		else
			w[1] =
			    penalty_table_begin(p->table, &p->pol, 'a', user, p->pol.account_max_ms,
			                        now, &v->account_failures, &b[1]);
		penalty_unlock(p);
		v->store = "local";
	}
	/* A source beyond its cap is refused; an account only waits. */
	v->refuse = b[0];
	v->wait_ms = w[0] > w[1] ? w[0] : w[1];
}

void penalty_fail(struct penalty *p, const char *remote, const char *user)
{
	char src[PENALTY_SOURCE_MAX];
	if (p == NULL || penalty_source_key(remote, src, sizeof(src)) < 0)
		return;
	if (p->rc != NULL) {
		redisReply *r = penalty_eval(p, penalty_lua_fail, src, user);
		if (r != NULL) {
			freeReplyObject(r);
			return;
		}
	}
	if (!penalty_lock(p))
		return;
	int64_t now = timeutil_mono_ms();
	penalty_table_fail(p->table, &p->pol, 's', src, p->pol.max_ms, now);
	penalty_table_fail(p->table, &p->pol, 'a', user, p->pol.account_max_ms, now);
	penalty_unlock(p);
}

void penalty_success(struct penalty *p, const char *remote)
{
	char src[PENALTY_SOURCE_MAX], k[PENALTY_RKEY_MAX];
	if (p == NULL || penalty_source_key(remote, src, sizeof(src)) < 0)
		return;
	if (p->rc != NULL) {
		penalty_rkey(p, 's', src, k);
		redisReply *r = redisCommand(p->rc, "DEL %s", k);
		if (r == NULL || r->type == REDIS_REPLY_ERROR)
			penalty_redis_drop(p, r);
		else
			freeReplyObject(r);
	}
	/* The table too: it may hold failures from while Redis was down. */
	if (!penalty_lock(p))
		return;
	penalty_table_clear(p->table, 's', src);
	penalty_unlock(p);
}
