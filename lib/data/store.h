/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* One user's mailbox: users/<id>/mailbox.db, a SQLCipher database opened
 * with the raw 256-bit mailbox key MK (DESIGN section 2), plus the import of
 * the sealed spool into it (DESIGN section 3). Schema, durability points and
 * the crash analysis are in docs/STORE.md. Implemented by lib/data/store*.c,
 * one file per concern (listed in store_int.h, private to them); callers
 * include this header only.
 *
 * Trust: post-auth. Only a session that unwrapped MK (or sealctl, admin) calls
 * this. Message contents are stored as received; nothing here parses them
 * except the X-Sealmail-Flags field at the top of a spooled message, and
 * lib/proto/msgtext.h (through lib/proto/mime.h) for the full-text index.
 *
 * Conventions: folder ids are the folders.id column; UIDs and UIDVALIDITY are
 * 32-bit and non-zero (RFC 3501 section 2.3.1.1); mod-sequences are positive
 * 63-bit (RFC 7162 section 3). Strings are UTF-8, NUL-terminated. error_r
 * receives a static string. Functions returning -1 on a database failure also
 * log the SQLite message (never any content). Several sessions of one user may
 * have the same mailbox open; writers are serialised by SQLite's lock with a
 * 10 s busy timeout. */
#ifndef SEALMAIL_STORE_H
#define SEALMAIL_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define STORE_KEY_LEN         32
#define STORE_SEAL_KEY_LEN    32
#define STORE_SCHEMA_VERSION  2
#define STORE_BUSY_TIMEOUT_MS 10000
#define STORE_PAGE_SIZE       4096

/* System flags, RFC 3501 section 2.3.2, stored as a bitmask. */
enum store_flag {
	STORE_FLAG_SEEN = 1 << 0,
	STORE_FLAG_ANSWERED = 1 << 1,
	STORE_FLAG_FLAGGED = 1 << 2,
	STORE_FLAG_DELETED = 1 << 3,
	STORE_FLAG_DRAFT = 1 << 4,
};
#define STORE_FLAGS_ALL 0x1fu

/* Keywords (RFC 3501 flag-keyword = atom) are stored as one space-separated
 * string, deduplicated case-insensitively (flags are case-insensitive). */
#define STORE_KEYWORD_MAX     128 /* bytes in one keyword */
#define STORE_KEYWORDS_MAX    64  /* keywords on one message */
#define STORE_FOLDER_NAME_MAX 512

struct store;

struct store_folder {
	int64_t id;
	char *name; /* owned; IMAP name, UTF-8, '/' separates levels */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	char *special_use; /* owned; "\\Sent" etc. (RFC 6154), NULL if none */
	bool subscribed;
};

struct store_msg {
	uint32_t uid;
	uint64_t modseq;
	unsigned flags;       /* enum store_flag bits */
	char *keywords;       /* owned; space-separated, "" if none */
	int64_t internaldate; /* unix seconds */
	uint64_t size;        /* bytes of the raw message */
};

struct store_import_stats {
	size_t imported;  /* new messages inserted */
	size_t leftovers; /* files already imported by an earlier run (crash or
	                   * concurrent session), unlinked now */
	size_t bad;       /* files moved to spool/bad */
	size_t removed;   /* entries that were neither files nor directories
	                   * (symbolic links, FIFOs...), unlinked: no message */
	size_t pruned;    /* names dropped from the imported-names table */
};

/* Create a new mailbox at path (fails if anything exists there) encrypted
 * with mk, holding the sealing secret key seal_sk and the standard folders
 * INBOX, Drafts, Sent, Junk, Trash, Archive (RFC 6154 special-use), all
 * subscribed. The file is created with mode 0600. On failure nothing is left
 * behind. Returns the open store (caller closes), or NULL with *error_r. */
struct store *store_create(const char *path, const unsigned char mk[STORE_KEY_LEN],
                           const unsigned char seal_sk[STORE_SEAL_KEY_LEN], const char **error_r);
/* Open an existing mailbox. NULL with *error_r when the file does not exist
 * (nothing is created), when mk is wrong ("wrong key or not a mailbox";
 * nothing is written), when it stays locked beyond the busy timeout, or when
 * its schema is newer than this program. Older schemas are migrated. When mk
 * does not open path but opens a complete "<path>.rekey", an interrupted
 * rekey is finished first (see store_rekey_prepare). */
struct store *store_open(const char *path, const unsigned char mk[STORE_KEY_LEN],
                         const char **error_r);
/* Close and free; NULL-safe; sets *st to NULL. */
void store_close(struct store **st);
/* Give back what an idle session does not need: SQLite's unused cache pages
 * (decrypted copies of mailbox pages, too) and free heap. For a session
 * about to wait for its client (IMAP IDLE). */
void store_trim(struct store *st);
/* The SQLite handle, for queries this module does not offer (the IMAP
 * server's cache columns). Owned by st; do not close it. */
sqlite3 *store_db(struct store *st);
/* Message of the last failure on st ("" if none); owned by st. */
const char *store_error(const struct store *st);
/* Whether the last failure on st was a limit of the store that the request
 * ran into (more than STORE_KEYWORDS_MAX keywords on a message, a message
 * beyond what the store holds, a folder out of UIDs) rather than a fault:
 * the IMAP server answers these NO [LIMIT] (RFC 5530 section 3), not
 * [SERVERBUG]. */
bool store_error_is_limit(const struct store *st);

/* Explicit transactions grouping several calls (IMAP COPY of many messages,
 * for instance). store_begin takes the write lock at once (BEGIN IMMEDIATE)
 * so that two sessions never deadlock upgrading a read lock. Calls nest: the
 * calls below run inside the outer transaction (as savepoints). 0 / -1. */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);

/* The X25519 sealing secret key (age identity). 0 ok, -1 error. */
int store_get_seal_secret(struct store *st, unsigned char sk[STORE_SEAL_KEY_LEN]);
/* Replace the sealing secret key. The previous one is kept so that spool
 * files sealed to the old public key before the directory changed can still
 * be imported. 0 / -1. */
int store_set_seal_secret(struct store *st, const unsigned char sk[STORE_SEAL_KEY_LEN]);

/* Find a folder by name ("INBOX" in any case is INBOX, RFC 3501 section
 * 5.1). 1 found (f filled; free with store_folder_clear), 0 not found, -1
 * error. */
int store_folder_get(struct store *st, const char *name, struct store_folder *f);
/* All folders ordered by name. 0 ok (*list_r owned by the caller, free with
 * store_folder_list_free), -1 error. */
int store_folder_list(struct store *st, struct store_folder **list_r, size_t *n_r);
/* Whether name may be given to a new folder (store_folder_create, the target
 * of store_folder_rename): valid UTF-8 without controls, no empty level,
 * at most STORE_FOLDER_NAME_MAX bytes, no LIST wildcard '%' or '*'. When
 * not, *why_r (may be NULL) gets a static reason. Pure. */
bool store_folder_name_valid(const char *name, const char **why_r);
/* Create a folder. special_use may be NULL. 1 created (*id_r set when not
 * NULL), 0 already exists, -1 error or invalid name. */
int store_folder_create(struct store *st, const char *name, const char *special_use, int64_t *id_r);
void store_folder_clear(struct store_folder *f);
void store_folder_list_free(struct store_folder **list, size_t n);

/* Delete a folder with all its messages (their bodies go when no other
 * message shares them). INBOX cannot be deleted. 0 ok, -1. */
int store_folder_delete(struct store *st, int64_t folder_id);
/* Rename a folder and every folder below it ("a" -> "b" also moves "a/x"
 * to "b/x"); UIDVALIDITY is kept since UIDs stay valid. Renaming INBOX
 * (RFC 3501 section 6.3.5) creates the new folder and moves INBOX's
 * messages into it, leaving INBOX empty. 0 ok, -1 (target exists, source
 * missing, invalid name). */
int store_folder_rename(struct store *st, const char *from, const char *to);
/* Set a folder's subscription: 1 done, 0 no such folder, -1 error. */
int store_folder_subscribe(struct store *st, const char *name, bool on);
/* Copy messages (RFC 3501 section 6.4.7) into another folder, keeping flags,
 * keywords and INTERNALDATE and sharing the stored body; the copies get new
 * UIDs in the order of uids and one new mod-sequence. *dst_uids_r (caller
 * frees; one per copied source, ascending) and *n_r get the new UIDs and the
 * sources actually copied go to *src_uids_r (missing UIDs are skipped). With
 * move set, the sources are expunged in the same transaction (RFC 6851) and
 * *src_modseq_r gets that expunge's mod-sequence. 0 ok, -1. */
int store_copy(struct store *st, int64_t from_folder, const uint32_t *uids, size_t n,
               int64_t to_folder, bool move, uint32_t **src_uids_r, uint32_t **dst_uids_r,
               size_t *n_r, uint64_t *src_modseq_r);

/* Append a message to a folder in its own transaction (or inside the
 * caller's): assigns UID = UIDNEXT, bumps UIDNEXT and HIGHESTMODSEQ.
 * internaldate in unix seconds; flags is a mask of enum store_flag; keywords
 * is space-separated or NULL. 0 ok (*uid_r, *modseq_r set when not NULL), -1
 * error (unknown folder, invalid keyword, folder out of UIDs, database). */
int store_append(struct store *st, int64_t folder_id, const void *data, size_t len,
                 int64_t internaldate, unsigned flags, const char *keywords, uint32_t *uid_r,
                 uint64_t *modseq_r);
/* Number of messages in a folder and how many lack \Seen. 0 / -1. */
int store_message_count(struct store *st, int64_t folder_id, uint64_t *count_r, uint64_t *unseen_r);
/* The UIDs of a folder in ascending order. 0 ok (*uids_r owned by the
 * caller, NULL when *n_r is 0), -1 error. */
int store_uids(struct store *st, int64_t folder_id, uint32_t **uids_r, size_t *n_r);
/* Metadata of one message. 1 found (m filled; free with store_msg_clear),
 * 0 no such message, -1 error. */
int store_message_get(struct store *st, int64_t folder_id, uint32_t uid, struct store_msg *m);
void store_msg_clear(struct store_msg *m);
/* Append the raw message to out. 1 found, 0 no such message, -1 error. */
int store_fetch_raw(struct store *st, int64_t folder_id, uint32_t uid, struct buf *out);

enum store_flag_op {
	STORE_FLAGS_REPLACE, /* STORE FLAGS */
	STORE_FLAGS_ADD,     /* STORE +FLAGS */
	STORE_FLAGS_REMOVE,  /* STORE -FLAGS */
};
/* Change the flags and keywords of one message. When something changes the
 * message gets a new mod-sequence (the folder's HIGHESTMODSEQ + 1); when
 * nothing changes the mod-sequence stays (RFC 7162 section 3.2 only requires
 * a new one for an actual change). unchangedsince: 0 for none, else the
 * CONDSTORE UNCHANGEDSINCE value (RFC 7162 section 3.2): a message whose
 * mod-sequence is greater is left alone. Returns 1 applied (or nothing to
 * change), 0 no such message or refused by unchangedsince, -1 error.
 * *modseq_r (may be NULL) gets the message's mod-sequence afterwards. */
int store_set_flags(struct store *st, int64_t folder_id, uint32_t uid, enum store_flag_op op,
                    unsigned flags, const char *keywords, uint64_t unchangedsince,
                    uint64_t *modseq_r);
/* Remove the given UIDs (missing ones are skipped) with one new mod-sequence
 * recorded in the expunged table for QRESYNC (RFC 7162 section 3.2.10).
 * *removed_r (may be NULL) gets how many were removed; *modseq_r (may be NULL)
 * the mod-sequence used (0 when nothing was removed). 0 / -1. */
int store_expunge(struct store *st, int64_t folder_id, const uint32_t *uids, size_t n,
                  size_t *removed_r, uint64_t *modseq_r);
/* Expunge every message flagged \Deleted (IMAP EXPUNGE). *uids_r gets the
 * removed UIDs, ascending, owned by the caller (NULL when none). 0 / -1. */
int store_expunge_deleted(struct store *st, int64_t folder_id, uint32_t **uids_r, size_t *n_r,
                          uint64_t *modseq_r);

/* ---- Full-text index (schema 2) ----
 * The searchable text of each body, as msgtext_extract() (lib/proto/msgtext.h)
 * folds it, in two plain tables keyed by bodies.id: body_hdr(id, hdr) and
 * body_text(id, body); and an external-content FTS4 index over each
 * (unicode61 tokenizer): hdr_fts and text_fts, whose docid is bodies.id.
 * Triggers keep the indexes in step with the tables, and drop a body's rows
 * with the body; bodies shared by COPY are indexed once. store_append and
 * the spool import store each new body's text in the same transaction.
 * Bodies stored before the index existed (a mailbox migrated from schema 1)
 * wait in body_text_todo for store_text_index_pending(). Everything lives in
 * mailbox.db, so it is encrypted like the mail. The IMAP server reads these
 * tables through store_db(); nothing ever updates a row in place (the
 * indexes would not follow). */
#define STORE_TEXT_BATCH       256         /* bodies per indexing transaction */
#define STORE_TEXT_BATCH_BYTES (32u << 20) /* raw bytes per indexing transaction */
/* Index up to max queued bodies (0: all of them), in short transactions so
 * that other sessions can write in between. *done_r (may be NULL) gets how
 * many were indexed. 0 ok (also when nothing waits; that case costs one read
 * and takes no write lock), -1 error. */
int store_text_index_pending(struct store *st, size_t max, size_t *done_r);

/* Re-encrypt the whole mailbox under new_mk (sealctl user rekey), in two
 * steps around the caller's own commit of the new key (docs/STORE.md, "Rekey"):
 *
 *   store_rekey_prepare  exports everything into "<path>.rekey" under new_mk
 *                        (sqlcipher_export), verifies it opens and holds as
 *                        many messages, fsyncs it and its directory, and keeps
 *                        an exclusive lock on the old file. Fails with
 *                        "mailbox in use", changing nothing, when another
 *                        connection has the mailbox open. Until commit or
 *                        abort, st can read but every write fails.
 *   (caller)             durably records new_mk (the directory's wrapped MK).
 *   store_rekey_commit   renames the export over path (the commit point),
 *                        fsyncs the directory and reopens st on the new file.
 *                        "rekeyed, reopen failed": st is unusable, close it.
 *   store_rekey_abort    removes the export and releases the lock (no-op when
 *                        nothing is prepared or after a successful commit).
 *
 * If the process dies between recording new_mk and the rename, store_open
 * with new_mk finishes the rename. store_close of a prepared st keeps the
 * export for that reason. store_rekey = prepare + commit, for callers that
 * can lose the new key without harm (tests, a key kept elsewhere).
 * Why an export and not PRAGMA rekey: docs/STORE.md. All: 0 ok, -1 with
 * *error_r. */
int store_rekey_prepare(struct store *st, const unsigned char new_mk[STORE_KEY_LEN],
                        const char **error_r);
int store_rekey_commit(struct store *st, const unsigned char new_mk[STORE_KEY_LEN],
                       const char **error_r);
void store_rekey_abort(struct store *st);
int store_rekey(struct store *st, const unsigned char new_mk[STORE_KEY_LEN], const char **error_r);

/* Import every sealed file of spool/new (spool_dirfd is the user's spool/
 * directory) in ONE transaction (DESIGN section 3): decrypt with the sealing
 * secret key, strip a leading X-Sealmail-Flags field and apply its flags,
 * keywords and folder= routing (INBOX when absent or unknown), INTERNALDATE =
 * the spool name's timestamp, record every name in the imported table, COMMIT,
 * then unlink the files and fsync spool/new. Names already recorded (an
 * earlier run crashed before unlinking) are only unlinked. Files that fail to
 * decrypt or exceed max_size bytes of plaintext are moved to spool/bad and
 * logged; so are directories. Other entries that are not regular files
 * (symbolic links, FIFOs...) are never opened: they are unlinked and logged
 * once. 0 ok (stats filled when not NULL), -1 with *error_r: nothing was
 * committed and no message file was removed. */
int store_import_spool(struct store *st, int spool_dirfd, size_t max_size,
                       struct store_import_stats *stats, const char **error_r);

#endif
