/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* imapd: IMAP4rev1 (RFC 3501) with IDLE, UIDPLUS, MOVE, SPECIAL-USE,
 * LITERAL+, NAMESPACE, ID, ENABLE, UNSELECT, CHILDREN, APPENDLIMIT,
 * CONDSTORE and QRESYNC, on the encrypted per-user store.
 *
 * Two processes per connection (DESIGN section 4, lib/login/login.h): front.c is
 * the pre-auth front (TLS, CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE, ID);
 * everything else here runs in the back after authentication, with the
 * session's plaintext stream on a socketpair. One file per command family. */
#ifndef SEALMAIL_IMAPD_H
#define SEALMAIL_IMAPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "base/buf.h"
#include "sys/conf.h"
#include "sys/conn.h"
#include "proto/imapparse.h"
#include "sys/io.h"
#include "svc/notify.h"
#include "proto/seqset.h"
#include "data/store.h"

#define IMAPD_DELIM '/'
/* RFC 7889: the largest message APPEND accepts is max_message_size. */

/* Capabilities after login (RFC 3501 section 7.2.1 and the extensions). */
#define IMAPD_CAPS_AUTH                                                                            \
	"IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN "      \
	"SPECIAL-USE CONDSTORE QRESYNC"

/* One message as the client knows it: sequence number = index + 1. */
struct imap_msg {
	uint32_t uid;
	bool recent;
};

/* The selected mailbox as this session has reported it to the client. */
struct imap_sel {
	int64_t folder_id;
	char *name;    /* UTF-8 store name */
	bool readonly; /* EXAMINE */
	uint32_t uidvalidity;
	uint32_t uidnext; /* first UID not in msgs */
	struct imap_msg *msgs;
	size_t count, cap;
	size_t recent;         /* how many msgs are \Recent for us */
	uint64_t modseq_seen;  /* changes up to here were reported (flags) */
	uint64_t expunge_seen; /* expunges up to here were reported */
	bool pending_expunge;  /* expunges wait for a command that may report them */
};

/* Session states (RFC 3501 section 3) and IDLE (RFC 2177), which is a
 * state of its own for what the session accepts (only DONE) and shows.
 * Changed only by imap_set_state(). The front is in NOT_AUTH until a login
 * succeeds; the back starts in AUTH. */
enum imap_state {
	IMAP_ST_NOT_AUTH,
	IMAP_ST_AUTH,
	IMAP_ST_SELECTED,
	IMAP_ST_IDLE,
	IMAP_ST_LOGOUT,
};
#define IMAP_S(st)      (1u << (st))
#define IMAP_S_NOT_AUTH IMAP_S(IMAP_ST_NOT_AUTH)
#define IMAP_S_AUTH     IMAP_S(IMAP_ST_AUTH)
#define IMAP_S_SELECTED IMAP_S(IMAP_ST_SELECTED)
#define IMAP_S_LOGGEDIN (IMAP_S_AUTH | IMAP_S_SELECTED)
#define IMAP_S_ANY      (IMAP_S_NOT_AUTH | IMAP_S_LOGGEDIN)

struct login_ctx;

/* One IMAP connection as either process sees it. The front (front.c) uses
 * conf, io (the client, TLS inside), parser, cmd, state, remote and the
 * login fields; the back uses everything else. */
struct imap_sess {
	const struct conf *conf;
	struct io io; /* front: the client; back: plaintext IMAP from the front */
	struct store *st;
	char user[320];
	char user_id[33];
	char remote[CONN_ADDR_MAX]; /* the client's address, for titles */
	enum imap_state state;
	bool front;              /* this is the pre-auth front process */
	struct login_ctx *login; /* front: the login skeleton's context */
	unsigned failures;       /* front: failed logins so far */
	struct imapparse *parser;
	const struct imapparse_cmd *cmd; /* the command being executed */
	struct imap_sel *sel;
	bool condstore;        /* CONDSTORE enabled (ENABLE or a CONDSTORE command) */
	bool qresync;          /* QRESYNC enabled: VANISHED instead of EXPUNGE */
	struct notify *notify; /* Redis: publish our changes, IDLE subscribes */
	int spool_fd;          /* users/<id>/spool, to import new mail */
	struct buf scratch;
};

/* ---- command table and states (cmd.c) ----
 * One table for both processes (RFC 3501 section 6: which state allows
 * which command), as Postfix's smtpd and OpenSMTPD keep theirs: the
 * dispatcher checks the state set and the UID prefix for every command, a
 * command's check step its syntax (tagged BAD/NO, nothing else happens), its
 * proceed step the effect with its own tagged reply. */
#define IMAP_CMD_UID        0x1u /* has a UID form (RFC 3501 section 6.4.8) */
#define IMAP_CMD_NO_EXPUNGE 0x2u /* RFC 3501 section 7.4.1: no EXPUNGE during it */
#define IMAP_CMD_OWN_SYNC   0x4u /* reports changes itself (SELECT, IDLE) */

/* Check step: 0 go on to proceed, -1 refused (its reply is written). */
typedef int imap_check_fn(struct imap_sess *s, const struct imapparse_cmd *c);
/* Proceed step: 0 go on, -1 end the session. It writes its own tagged
 * reply with imap_ok/imap_no/imap_bad. */
typedef int imap_cmd_fn(struct imap_sess *s, const struct imapparse_arg *args, size_t n);

struct imap_cmd_def {
	const char *name;
	unsigned states;      /* IMAP_S_* where it is allowed */
	unsigned flags;       /* IMAP_CMD_* */
	const char *refused;  /* BAD text in the other states; NULL: by state */
	imap_check_fn *check; /* NULL: proceed checks while it parses */
	imap_cmd_fn *proceed;
};

/* Run one parsed command in the session's state: 0 go on, -1 end. */
int imap_dispatch(struct imap_sess *s, const struct imapparse_cmd *c);
/* The one place the state changes: logs it and sets the process title. */
void imap_set_state(struct imap_sess *s, enum imap_state st);
/* Set the process title for the current state again (after STARTTLS). */
void imap_title(struct imap_sess *s);
/* After a read that ended with IO_TIMEOUT: "* BYE" naming the limit that
 * passed, flushed, and a "disconnect" event with it (back.c). */
void imap_timeout_bye(struct imap_sess *s);
/* A literal's bytes are about to be read: its transfer deadline
 * (imapd.command_timeout, then imapd.min_data_rate; back.c). */
void imap_literal_deadline(struct imap_sess *s);
const char *imap_state_name(enum imap_state st);
/* Check step of commands without arguments: "BAD Syntax: NAME". */
int imap_check_noargs(struct imap_sess *s, const struct imapparse_cmd *c);
/* Copy src into dst[size]: 0, or -1 when it does not fit (dst then holds
 * the empty string). */
int imap_strcpy(char *dst, size_t size, const char *src);

/* ---- responses (back.c) ---- */
void imap_untagged(struct imap_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_ok(struct imap_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_no(struct imap_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_bad(struct imap_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Tell other sessions of this user that the mailbox changed (Redis). */
void imap_publish_change(struct imap_sess *s, uint64_t modseq);
/* Mailbox name argument (astring, modified UTF-7 unless UTF8=ACCEPT) to the
 * store's UTF-8 name with INBOX case-folded: 0 ok, -1 after a BAD/NO reply. */
int imap_mailbox_arg(struct imap_sess *s, const struct imapparse_arg *a, struct buf *out);
/* Append name as an IMAP mailbox name (modified UTF-7, quoted). */
void imap_append_mailbox(struct buf *out, const char *utf8name);
/* Flags and keywords as "(\Seen $Label)". */
void imap_append_flags(struct buf *out, unsigned flags, const char *keywords, bool recent);
/* Parse a flag list argument (list or single flag) into a mask and a
 * space-separated keyword string: 0 ok, -1 after a BAD reply. */
int imap_parse_flags(struct imap_sess *s, const struct imapparse_arg *a, unsigned *flags_r,
                     struct buf *keywords);

/* ---- selected mailbox (select.c) ---- */
int imap_check_select(struct imap_sess *s, const struct imapparse_cmd *c);
int imap_cmd_select(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_examine(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_close(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_unselect(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
void imap_sel_free(struct imap_sel **sel);
/* Report changes made by others since the last sync: EXISTS/RECENT, FETCH
 * flags, and (when allowed) EXPUNGE or VANISHED. 0 ok, -1 store error. */
int imap_sync(struct imap_sess *s, bool allow_expunge);
/* Sequence number of uid (1-based) or 0. */
uint32_t imap_seq_of_uid(const struct imap_sel *sel, uint32_t uid);
/* Parse a sequence-set argument (seq numbers or UIDs per s->cmd->uid) into
 * a normalised set of UIDs present in the view. 1 ok, 0 after a BAD reply. */
int imap_uidset_arg(struct imap_sess *s, const struct imapparse_arg *a, bool uid,
                    struct seqset *uids_r);
/* Remove uid from the view after an expunge we reported ourselves. */
void imap_sel_remove(struct imap_sel *sel, uint32_t uid);
/* Report our own expunge of uids (EXPUNGE or VANISHED) and drop them. */
void imap_report_expunged(struct imap_sess *s, const uint32_t *uids, size_t n, uint64_t modseq);

/* ---- message data for FETCH, SEARCH (msgcache.c) ----
 * Per-message metadata plus what is derived from the raw message: ENVELOPE
 * and BODYSTRUCTURE (messages.envelope / messages.bodystructure) and the MIME
 * tree with its offsets (bodies.header_cache, lib/proto/mime.h cache encoding),
 * each filled on first need by one parse and written back in batches. The
 * root header is read from the start of the raw body with incremental blob
 * I/O, which decrypts only the pages that hold it. Loads of one batch share
 * one read snapshot, so metadata and body always belong together. */
#define IMAP_MC_ENVELOPE      0x1u /* mi->envelope */
#define IMAP_MC_BODYSTRUCTURE 0x2u /* mi->bodystructure (extended form) */
#define IMAP_MC_HEADER        0x4u /* mi->header: the root header, empty line included */
#define IMAP_MC_TREE          0x8u /* mi->tree */

struct mime_part;
struct imap_msgcache;

/* One loaded message; every pointer is owned by the cache and valid until
 * the next load, release or free. */
struct imap_msginfo {
	uint32_t uid;
	uint64_t modseq;
	unsigned flags;       /* enum store_flag bits */
	const char *keywords; /* space-separated, "" if none */
	int64_t internaldate; /* unix seconds */
	uint64_t size;        /* RFC822.SIZE */
	const char *envelope; /* "(...)" */
	const char *bodystructure;
	const unsigned char *header;
	size_t header_len;
	struct mime_part *tree;
};

/* A cache for the messages of one folder. Never NULL. */
struct imap_msgcache *imap_msgcache_new(struct store *st, int64_t folder_id);
/* Write what is pending and free; NULL-safe; sets *mc to NULL. */
void imap_msgcache_free(struct imap_msgcache **mc);
/* Load uid with the IMAP_MC_* items of need: 1 loaded (*mi_r set), 0 the
 * message no longer exists (expunged by another session), -1 store error. */
int imap_msgcache_load(struct imap_msgcache *mc, uint32_t uid, unsigned need,
                       const struct imap_msginfo **mi_r);
/* Bytes of the loaded message's raw text: its length, and n bytes at off
 * copied to out (the range must lie inside it). 0 ok, -1 error. */
uint64_t imap_msgcache_raw_size(struct imap_msgcache *mc);
int imap_msgcache_raw(struct imap_msgcache *mc, uint64_t off, void *out, size_t n);
/* End the current read snapshot and write pending cache entries (the next
 * load starts a new snapshot; loaded data is gone). Call between messages
 * after one that streamed a large literal (a held snapshot keeps the WAL
 * from being checkpointed) and before the session writes to the store. */
void imap_msgcache_release(struct imap_msgcache *mc);

/* ---- flag changes (flags.c) ---- */
struct imap_flag_result {
	uint32_t uid;
	int status;     /* 1 done, 0 expunged meanwhile, 2 refused by UNCHANGEDSINCE */
	bool changed;   /* got a new mod-sequence */
	unsigned flags; /* afterwards (status 1) */
	char *keywords; /* owned by the result array */
	uint64_t modseq;
};
/* Apply one flag operation to uids of the selected mailbox in one
 * transaction (RFC 3501 section 6.4.6, RFC 7162 section 3.1.3 when
 * unchangedsince is set: 0 refuses every message), publish the change and
 * keep our own change from being reported again by imap_sync(). 0 ok
 * (*res_r: n results in uids order; free with imap_flag_results_free), -1
 * store error (nothing changed; reason in store_error()). */
int imap_flags_apply(struct imap_sess *s, const uint32_t *uids, size_t n, enum store_flag_op op,
                     unsigned flags, const char *keywords, bool unchangedsince,
                     uint64_t unchangedsince_modseq, struct imap_flag_result **res_r);
void imap_flag_results_free(struct imap_flag_result **res, size_t n);
/* Mark CONDSTORE enabled (RFC 7162 section 3.1): when it was not yet and a
 * mailbox is selected, report its HIGHESTMODSEQ as Dovecot does. */
void imap_condstore_enable(struct imap_sess *s);

/* ---- command families ---- */
int imap_cmd_list(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_lsub(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_create(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_delete(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_rename(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_subscribe(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_unsubscribe(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_status(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_append(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_fetch(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_store(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_search(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_copy(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_move(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_check_expunge(struct imap_sess *s, const struct imapparse_cmd *c);
int imap_cmd_expunge(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_idle(struct imap_sess *s, const struct imapparse_arg *args, size_t n);

/* ---- small commands of every state (back.c) ---- */
int imap_cmd_capability(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_noop(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_logout(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_check_id(struct imap_sess *s, const struct imapparse_cmd *c);
int imap_cmd_id(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_check_enable(struct imap_sess *s, const struct imapparse_cmd *c);
int imap_cmd_enable(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_namespace(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_cmd_check(struct imap_sess *s, const struct imapparse_arg *args, size_t n);

/* ---- pre-auth commands (front.c) ---- */
/* The capabilities before login (they depend on TLS and configuration). */
void imap_front_caps(struct imap_sess *s, struct buf *out);
int imap_check_starttls(struct imap_sess *s, const struct imapparse_cmd *c);
int imap_cmd_starttls(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_check_login(struct imap_sess *s, const struct imapparse_cmd *c);
int imap_cmd_login(struct imap_sess *s, const struct imapparse_arg *args, size_t n);
int imap_check_authenticate(struct imap_sess *s, const struct imapparse_cmd *c);
int imap_cmd_authenticate(struct imap_sess *s, const struct imapparse_arg *args, size_t n);

/* ---- entry points ---- */
/* Front: serve the connection pre-auth and relay afterwards (front.c). */
int imapd_front(struct login_ctx *ctx);
/* Back: authenticate what the front sends, then serve (auth.c). */
int imapd_back(int fd, void *arg);
/* Back: the post-auth session on fd (back.c); remote is the client's
 * address for the process title. */
int imap_session(const struct conf *c, int fd, const struct buf *pending, struct store *st,
                 int spool_fd, const char *user, const char *user_id, const char *tag,
                 const char *remote);
/* Import mail waiting in the spool (cheap when there is none): the number
 * of messages imported, or -1 (logged). */
int imap_import_spool(struct imap_sess *s);

#endif
