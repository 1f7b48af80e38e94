/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* FETCH BODY / BODYSTRUCTURE of a MIME tree and the IMAP string writer
 * (RFC 3501 section 4.3, section 7.4.2, section 9 "string", "quoted",
 * "literal"). Reads only the public fields of the tree. Trust: any. */
#include "imapbody.h"

#include <string.h>
#include <strings.h>

#include "imapenv.h"

void imapbody_string(const char *s, size_t len, struct buf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	bool literal = len > IMAPBODY_QUOTED_MAX;
	for (size_t i = 0; i < len && !literal; i++) {
		/* quoted = DQUOTE *QUOTED-CHAR DQUOTE; TEXT-CHAR excludes CR and
		 * LF and 8-bit; quoted-specials are sent as literals rather
		 * than escaped, which every client reads the same way. */
		if (u[i] == '\r' || u[i] == '\n' || u[i] == '\0' || u[i] >= 0x80 || u[i] == '"' ||
		    u[i] == '\\')
			literal = true;
	}
	if (!literal) {
		buf_reserve(out, len + 2);
		buf_append_byte(out, '"');
		buf_append(out, s, len);
		buf_append_byte(out, '"');
		return;
	}
	buf_printf(out, "{%zu}\r\n", len);
	size_t start = out->len;
	buf_append(out, s, len);
	/* CHAR8 = %x01-ff: a NUL cannot be sent; Dovecot sends 0x80 instead */
	for (size_t i = start; i < out->len; i++)
		if (out->data[i] == '\0')
			out->data[i] = 0x80;
}

void imapbody_nstring(const char *s, struct buf *out)
{
	if (s == NULL)
		buf_append_str(out, "NIL");
	else
		imapbody_string(s, strlen(s), out);
}

/* body-fld-param: ("name" "value" ...) or NIL; text parts always name a
 * charset, us-ascii by default (RFC 2045 section 5.2, RFC 2046 4.1.2), as
 * Dovecot writes it. */
static void write_params(const struct mime_param *pp, unsigned n, bool default_charset,
                         struct buf *out)
{
	bool charset = false;
	if (n == 0 && !default_charset) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_byte(out, '(');
	for (unsigned i = 0; i < n; i++) {
		if (i > 0)
			buf_append_byte(out, ' ');
		if (pp[i].ext_value != NULL) {
			/* RFC 2231 value as merged: name* "charset'lang'%XX" */
			struct buf name = BUF_INIT;
			buf_append_str(&name, pp[i].name);
			buf_append_byte(&name, '*');
			imapbody_string((const char *)name.data, name.len, out);
			buf_free(&name);
			buf_append_byte(out, ' ');
			imapbody_nstring(pp[i].ext_value, out);
		} else {
			imapbody_nstring(pp[i].name, out);
			buf_append_byte(out, ' ');
			imapbody_nstring(pp[i].value, out);
			if (strcasecmp(pp[i].name, "charset") == 0)
				charset = true;
		}
	}
	if (default_charset && !charset)
		buf_append_str(out,
		               n > 0 ? " \"charset\" \"us-ascii\"" : "\"charset\" \"us-ascii\"");
	buf_append_byte(out, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void write_ext_common(const struct mime_part *part, struct buf *out)
{
	buf_append_byte(out, ' ');
	if (part->disposition == NULL)
		buf_append_str(out, "NIL");
	else {
		buf_append_byte(out, '(');
		imapbody_nstring(part->disposition, out);
		buf_append_byte(out, ' ');
		write_params(part->disp_params, part->ndisp_params, false, out);
		buf_append_byte(out, ')');
	}
	buf_append_byte(out, ' ');
	if (part->nlanguages == 0)
		buf_append_str(out, "NIL");
	else {
		buf_append_byte(out, '(');
		for (unsigned i = 0; i < part->nlanguages; i++) {
			if (i > 0)
				buf_append_byte(out, ' ');
			imapbody_nstring(part->languages[i], out);
		}
		buf_append_byte(out, ')');
	}
	buf_append_byte(out, ' ');
	imapbody_nstring(part->location, out);
}

#define EMPTY_NIL_ENVELOPE "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

void imapbody_bodystructure(const struct mime_part *part, bool extended, struct buf *out)
{
	buf_append_byte(out, '(');
	if ((part->flags & MIME_PART_MULTIPART) != 0) {
		/* body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart] */
		if (part->children == NULL) {
			/* a multipart without parts is not allowed; Dovecot sends
			 * one empty text/plain part, and so do we */
			buf_append_str(out,
			               "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
			               "\"7bit\" 0 0");
			buf_append_str(out, extended ? " NIL NIL NIL NIL)" : ")");
		}
		for (const struct mime_part *c = part->children; c != NULL; c = c->next)
			imapbody_bodystructure(c, extended, out);
		buf_append_byte(out, ' ');
		imapbody_nstring(part->subtype, out);
		if (extended) {
			buf_append_byte(out, ' ');
			write_params(part->params, part->nparams, false, out);
			write_ext_common(part, out);
		}
		buf_append_byte(out, ')');
		return;
	}
	bool text = (part->flags & MIME_PART_TEXT) != 0;
	bool msg = (part->flags & MIME_PART_MESSAGE) != 0 && part->children != NULL;
	if (!msg && (strcasecmp(part->type, "multipart") == 0 ||
	             (strcasecmp(part->type, "message") == 0 &&
	              strcasecmp(part->subtype, "rfc822") == 0))) {
		/* not parsed as a container (a limit, or a header cut short):
		 * "message" "rfc822" or "multipart" without their structure
		 * would break clients' BODYSTRUCTURE parsers */
		buf_append_str(out, "\"application\" \"octet-stream\"");
	} else {
		imapbody_nstring(part->type, out);
		buf_append_byte(out, ' ');
		imapbody_nstring(part->subtype, out);
	}
	/* body-fields = param SP id SP desc SP enc SP octets */
	buf_append_byte(out, ' ');
	write_params(part->params, part->nparams, text, out);
	buf_append_byte(out, ' ');
	imapbody_nstring(part->id, out);
	buf_append_byte(out, ' ');
	imapbody_nstring(part->description, out);
	buf_append_byte(out, ' ');
	if (part->encoding != NULL)
		imapbody_nstring(part->encoding, out);
	else
		buf_append_str(out, "\"7bit\""); /* RFC 2045 section 6.1 default */
	buf_printf(out, " %zu", part->body_size);
	if (text)
		buf_printf(out, " %zu", part->body_lines);
	else if (msg) {
		/* body-type-msg: envelope SP body SP body-fld-lines */
		buf_append_byte(out, ' ');
		const struct mime_msg_fields *f = part->children->msg_fields;
		if (f != NULL)
			imapenv_envelope(f, out);
		else
			buf_append_str(out, EMPTY_NIL_ENVELOPE);
		buf_append_byte(out, ' ');
		imapbody_bodystructure(part->children, extended, out);
		buf_printf(out, " %zu", part->body_lines);
	}
	if (extended) {
		/* body-ext-1part = md5 SP dsp SP lang SP loc */
		buf_append_byte(out, ' ');
		imapbody_nstring(part->md5, out);
		write_ext_common(part, out);
	}
	buf_append_byte(out, ')');
}
