/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The Sendmail milter protocol, version 6 (libmilter 1.0.1, Sendmail 8.14+),
 * as pure code for the MTA side (svc/milter.h drives the sessions):
 *  - framing: a packet is a 32-bit big-endian length (command byte plus
 *    data), the command byte, the data;
 *  - replies: option negotiation and every SMFIR_* reply, checked for shape
 *    (NUL-terminated strings, header names, addresses, SMTP reply codes);
 *  - message editing: header fields as byte ranges of the message so that
 *    untouched fields stay byte for byte, add/insert/change/delete, body
 *    replacement with line endings made CRLF (milter_msg.c).
 * No I/O, no globals, no logging; only allocation.
 *
 * Trust: everything parsed here comes from a milter (admin-configured, but
 * parsed as untrusted input: a misbehaving milter must not corrupt a message
 * or the SMTP dialogue) or from the network (the message). */
#ifndef SEALMAIL_MILTERPROTO_H
#define SEALMAIL_MILTERPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Protocol version spoken (libmilter 1.0.1 / Sendmail 8.14 and later). */
#define MILTER_VERSION 6
/* Body chunk size and default packet data limit of libmilter
 * (MILTER_CHUNK_SIZE, MILTER_MAX_DATA_SIZE). */
#define MILTER_CHUNK_MAX 65535
/* Longest packet accepted from a milter: libmilter's largest negotiable data
 * size (SMFIP_MDS_1M) with room to spare; anything longer is a violation. */
#define MILTER_FRAME_MAX (1024 * 1024 + 1024)
/* A normalised SMTP reply from SMFIR_REPLYCODE: at most MILTER_REPLY_LINES
 * lines (libmilter MAXREPLIES) of at most 510 bytes (RFC 5321 section
 * 4.5.3.1.5: 512 with CRLF), joined by CRLF. */
#define MILTER_REPLY_LINES 32
#define MILTER_REPLY_LINE_MAX 510
#define MILTER_REPLY_MAX 2048
/* An address in SMFIR_ADDRCPT, SMFIR_DELRCPT or SMFIR_CHGFROM: RFC 5321
 * section 4.5.3.1.3 allows 256 octets for a path including the brackets. */
#define MILTER_ADDR_MAX 256

/* Commands, MTA to milter (SMFIC_*). */
#define MILTER_CMD_ABORT 'A'
#define MILTER_CMD_BODY 'B'
#define MILTER_CMD_CONNECT 'C'
#define MILTER_CMD_MACRO 'D'
#define MILTER_CMD_BODYEOB 'E'
#define MILTER_CMD_HELO 'H'
#define MILTER_CMD_QUIT_NC 'K'
#define MILTER_CMD_HEADER 'L'
#define MILTER_CMD_MAIL 'M'
#define MILTER_CMD_EOH 'N'
#define MILTER_CMD_OPTNEG 'O'
#define MILTER_CMD_QUIT 'Q'
#define MILTER_CMD_RCPT 'R'
#define MILTER_CMD_DATA 'T'
#define MILTER_CMD_UNKNOWN 'U'

/* Replies, milter to MTA (SMFIR_*). */
#define MILTER_R_ADDRCPT '+'
#define MILTER_R_DELRCPT '-'
#define MILTER_R_ADDRCPT_PAR '2'
#define MILTER_R_SHUTDOWN '4'
#define MILTER_R_ACCEPT 'a'
#define MILTER_R_REPLBODY 'b'
#define MILTER_R_CONTINUE 'c'
#define MILTER_R_DISCARD 'd'
#define MILTER_R_CHGFROM 'e'
#define MILTER_R_CONN_FAIL 'f'
#define MILTER_R_ADDHEADER 'h'
#define MILTER_R_INSHEADER 'i'
#define MILTER_R_CHGHEADER 'm'
#define MILTER_R_PROGRESS 'p'
#define MILTER_R_QUARANTINE 'q'
#define MILTER_R_REJECT 'r'
#define MILTER_R_SKIP 's'
#define MILTER_R_TEMPFAIL 't'
#define MILTER_R_REPLYCODE 'y'

/* Actions a milter may take (SMFIF_*), offered in SMFIC_OPTNEG. */
#define MILTER_F_ADDHDRS 0x001u      /* SMFIR_ADDHEADER, SMFIR_INSHEADER */
#define MILTER_F_CHGBODY 0x002u      /* SMFIR_REPLBODY */
#define MILTER_F_ADDRCPT 0x004u      /* SMFIR_ADDRCPT */
#define MILTER_F_DELRCPT 0x008u      /* SMFIR_DELRCPT */
#define MILTER_F_CHGHDRS 0x010u      /* SMFIR_CHGHEADER */
#define MILTER_F_QUARANTINE 0x020u   /* SMFIR_QUARANTINE */
#define MILTER_F_CHGFROM 0x040u      /* SMFIR_CHGFROM */
#define MILTER_F_ADDRCPT_PAR 0x080u  /* SMFIR_ADDRCPT_PAR */
#define MILTER_F_SETSYMLIST 0x100u   /* macro lists in the SMFIC_OPTNEG reply */
#define MILTER_F_OFFERED 0x1ffu

/* Protocol steps (SMFIP_*): what the milter does not want to see (NO*) or
 * will not answer (NR_*). */
#define MILTER_P_NOCONNECT 0x000001u
#define MILTER_P_NOHELO 0x000002u
#define MILTER_P_NOMAIL 0x000004u
#define MILTER_P_NORCPT 0x000008u
#define MILTER_P_NOBODY 0x000010u
#define MILTER_P_NOHDRS 0x000020u
#define MILTER_P_NOEOH 0x000040u
#define MILTER_P_NR_HDR 0x000080u
#define MILTER_P_NOUNKNOWN 0x000100u
#define MILTER_P_NODATA 0x000200u
#define MILTER_P_SKIP 0x000400u      /* the MTA understands SMFIR_SKIP */
#define MILTER_P_RCPT_REJ 0x000800u  /* not offered: rejected RCPTs are not shown */
#define MILTER_P_NR_CONN 0x001000u
#define MILTER_P_NR_HELO 0x002000u
#define MILTER_P_NR_MAIL 0x004000u
#define MILTER_P_NR_RCPT 0x008000u
#define MILTER_P_NR_DATA 0x010000u
#define MILTER_P_NR_UNKN 0x020000u
#define MILTER_P_NR_EOH 0x040000u
#define MILTER_P_NR_BODY 0x080000u
#define MILTER_P_HDR_LEADSPC 0x100000u /* header values with their leading space */
/* Everything above except RCPT_REJ (SMFIC_UNKNOWN is never sent, so NOUNKNOWN
 * and NR_UNKN are offered as harmless). */
#define MILTER_P_OFFERED (0x1fffffu & ~MILTER_P_RCPT_REJ)

/* Macro stages (SMFIM_*) of the SMFIR_SETSYMLIST lists in SMFIC_OPTNEG. */
enum milter_stage {
	MILTER_STAGE_CONNECT = 0,
	MILTER_STAGE_HELO = 1,
	MILTER_STAGE_ENVFROM = 2,
	MILTER_STAGE_ENVRCPT = 3,
	MILTER_STAGE_DATA = 4,
	MILTER_STAGE_EOM = 5,
	MILTER_STAGE_EOH = 6,
	MILTER_STAGE_COUNT
};
/* Longest macro list accepted for one stage. */
#define MILTER_MACRO_LIST_MAX 1024

/* ---- framing (pure) ------------------------------------------------------ */

/* One packet; data points into the caller's buffer. */
struct milter_frame {
	unsigned char cmd;
	const unsigned char *data;
	size_t len;
};

/* Append one packet (cmd plus len bytes of data) to out. len must not exceed
 * MILTER_FRAME_MAX (callers bound what they send; beyond it the process
 * aborts as for any broken invariant). */
void milter_frame_put(struct buf *out, unsigned char cmd, const void *data, size_t len);
/* Decode one packet from p[0..n): 1 with *f and *used_r (bytes taken), 0
 * need more bytes, -1 invalid length (0, or data longer than max). Pure. */
int milter_frame_parse(const unsigned char *p, size_t n, size_t max, struct milter_frame *f,
		       size_t *used_r);

/* ---- option negotiation (pure) ------------------------------------------- */

struct milter_optneg {
	uint32_t version;
	uint32_t actions;  /* MILTER_F_* */
	uint32_t protocol; /* MILTER_P_* */
	/* Macro list per stage requested with smfi_setsymlist, NULL if none;
	 * owned, freed by milter_optneg_clear. */
	char *macros[MILTER_STAGE_COUNT];
};

/* The SMFIC_OPTNEG packet the MTA sends. */
void milter_optneg_put(struct buf *out, uint32_t version, uint32_t actions, uint32_t protocol);
/* Parse the milter's SMFIC_OPTNEG reply: version, actions, protocol, then
 * optional (uint32 stage, NUL-terminated macro list) pairs. 1 ok (free with
 * milter_optneg_clear), -1 malformed (nothing to free). Does not judge the
 * values; the session does. */
int milter_optneg_parse(const struct milter_frame *f, struct milter_optneg *o);
void milter_optneg_clear(struct milter_optneg *o);

/* ---- replies (pure) ------------------------------------------------------ */

/* A parsed reply. Pointers point into the frame's data (valid as long as
 * the frame is); text and addr are copies. */
struct milter_reply {
	unsigned char cmd;
	uint32_t index;           /* SMFIR_CHGHEADER (1-based per name), SMFIR_INSHEADER */
	const char *name;         /* header field name */
	const char *value;        /* header value; quarantine reason */
	const unsigned char *body; /* SMFIR_REPLBODY chunk */
	size_t body_len;
	size_t nargs;             /* ESMTP arguments after the address (ADDRCPT_PAR, CHGFROM) */
	char addr[MILTER_ADDR_MAX + 1]; /* address without <>; "" = null sender (CHGFROM) */
	char text[MILTER_REPLY_MAX];    /* SMFIR_REPLYCODE, normalised (see milter_reply_text) */
};

/* Parse and check the shape of one reply packet: commands without data
 * must have none, strings must be NUL-terminated and fill the packet, header
 * names must be RFC 5322 field names, addresses printable and short enough,
 * reply codes valid. 1 ok, -1 protocol violation (unknown command
 * included). Pure; never allocates. */
int milter_reply_parse(const struct milter_frame *f, struct milter_reply *r);
/* Normalise SMFIR_REPLYCODE data ("550 5.7.1 text", or several lines joined
 * by CRLF as smfi_setmlreply makes them, NUL-terminated) into out: every
 * line starts with the same 4xx or 5xx code followed by '-' or ' ' as RFC
 * 5321 section 4.2.1 wants, an RFC 3463 enhanced status code of the same
 * class is added where missing (x.7.1) or corrected, "%%" becomes "%"
 * (libmilter asks for printf-style doubling), control characters become
 * spaces and long lines are cut. Lines are joined by CRLF, without a final
 * CRLF. 1 ok, -1 invalid. Pure. */
int milter_reply_text(const unsigned char *data, size_t len, char *out, size_t outsz);
/* RFC 5322 section 2.2 field name: 1 to 997 printable characters, no colon. */
bool milter_header_name_ok(const char *name);

/* ---- message editing (pure, milter_msg.c) -------------------------------- */

/* One header field: its raw bytes (first line, continuation lines, line
 * ending) either inside the original message or owned. */
struct milter_field {
	const unsigned char *raw;
	size_t len;
	size_t name_len;
	unsigned char *own; /* non-NULL when raw is owned (added or changed) */
};

/* A message split into header fields and the rest. The original bytes are
 * borrowed and must outlive the object. */
struct milter_msg {
	const unsigned char *orig;
	size_t orig_len;
	struct milter_field *f;
	size_t nf;
	size_t sep_off, sep_len; /* the empty line ending the header (0 long if none) */
	size_t body_off;
	bool body_replaced;
	struct buf body; /* replacement body, CRLF line endings */
	bool changed;
};

/* Split msg into header fields (RFC 5322 section 2.2: a field starts with a
 * name and a colon, continues on lines starting with SP or HTAB) and body
 * (after the empty line). A line that is neither a field nor a
 * continuation ends the header without a separator: it belongs to the body,
 * as in Postfix. Never fails. */
void milter_msg_init(struct milter_msg *m, const unsigned char *msg, size_t len);
void milter_msg_clear(struct milter_msg *m);
/* The value of field i as a milter sees it: everything after the colon
 * without the final line ending, CRLF inside folded values as LF
 * (libmilter's xxfi_header), and unless leadspc (SMFIP_HDR_LEADSPC) without
 * the leading spaces and tabs. Replaces out's content. */
void milter_msg_value(const struct milter_msg *m, size_t i, bool leadspc, struct buf *out);
/* Body bytes (after the separator), original or replaced. */
const unsigned char *milter_msg_body(const struct milter_msg *m, size_t *len_r);
/* Edits. Values use LF (or CRLF) between folded lines, as from libmilter;
 * they are stored with CRLF, and a line break not followed by a space or tab
 * gets one (a milter cannot start a new field or end the header through a
 * value). Without leadspc a space is put after the colon. */
void milter_msg_add(struct milter_msg *m, const char *name, const char *value, bool leadspc);
/* Insert at position index among all fields (0 = first; past the end =
 * last), smfi_insheader. */
void milter_msg_insert(struct milter_msg *m, uint32_t index, const char *name, const char *value,
		       bool leadspc);
/* Change the index-th (1-based; 0 is taken as 1, as Sendmail does) field
 * called name (case-insensitive); an empty value deletes it; a missing field
 * is added when the value is not empty (smfi_chgheader). */
void milter_msg_change(struct milter_msg *m, uint32_t index, const char *name, const char *value,
		       bool leadspc);
/* Replace the body by data (line endings made CRLF). */
void milter_msg_set_body(struct milter_msg *m, const unsigned char *data, size_t len);
/* The whole message after the edits (appended to out). */
void milter_msg_render(const struct milter_msg *m, struct buf *out);

#endif
