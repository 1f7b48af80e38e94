/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Test helper: fill a user's INBOX with N synthetic messages through the
 * store API, for SEARCH benchmarks.
 *   mboxfill ADDRESS N [SEED]
 * The password is the first line of stdin; config from $SEALMAIL_CONF. The
 * messages are deterministic for a seed: headers like real mail (From, To,
 * Subject, Date, Message-ID), bodies of 60..600 words drawn with a Zipf-like
 * law from a vocabulary of 20000 generated words plus common English ones;
 * a fifth are multipart/alternative with a quoted-printable HTML part, a
 * tenth base64 text, a tenth carry a 16 KB binary attachment. Message i
 * (from 1) whose i % 1000 == 0 contains the marker word "zanzibarquux" (so
 * N / 1000 messages match SEARCH TEXT zanzibarquux). Appends are grouped
 * 1000 per transaction, as a spool import would be. Prints the time taken
 * and the raw bytes stored. Exit: 0 ok, 1 wrong password, 3 error.
 * Trust: test tool. */
#include <bsd/stdlib.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/account.h"
#include "base/codec.h"
#include "sys/conf.h"
#include "sys/log.h"
#include "data/store.h"

#define FILL_VOCAB 20000
#define FILL_BATCH 1000

static const char *const fill_common[] = {
    "the",     "of",       "and",      "to",      "in",     "is",      "you",    "that",
    "it",      "he",       "was",      "for",     "on",     "are",     "as",     "with",
    "his",     "they",     "at",       "be",      "this",   "have",    "from",   "or",
    "one",     "had",      "by",       "word",    "but",    "not",     "what",   "all",
    "were",    "we",       "when",     "your",    "can",    "said",    "there",  "use",
    "an",      "each",     "which",    "she",     "do",     "how",     "their",  "if",
    "will",    "up",       "other",    "about",   "out",    "many",    "then",   "them",
    "these",   "so",       "some",     "her",     "would",  "make",    "like",   "him",
    "into",    "time",     "has",      "look",    "two",    "more",    "write",  "go",
    "see",     "number",   "no",       "way",     "could",  "people",  "my",     "than",
    "first",   "water",    "been",     "call",    "who",    "oil",     "its",    "now",
    "find",    "long",     "down",     "day",     "did",    "get",     "come",   "made",
    "may",     "part",     "meeting",  "invoice", "report", "project", "please", "thanks",
    "regards", "attached", "schedule", "budget",  "review", "team",    "client",
};

static uint64_t fill_rng;

static uint32_t fill_rand(void)
{
	/* xorshift64*: deterministic per seed, good enough for test data */
	fill_rng ^= fill_rng >> 12;
	fill_rng ^= fill_rng << 25;
	fill_rng ^= fill_rng >> 27;
	return (uint32_t)((fill_rng * 2685821657736338717ULL) >> 32);
}

static char fill_vocab[FILL_VOCAB][16];

static void fill_make_vocab(void)
{
	static const char *const syl[] = {"ka", "lo", "mi", "ne", "ro", "tu", "sa", "ve", "di",
	                                  "po", "ra", "en", "ul", "is", "ta", "or", "be", "gi",
	                                  "nu", "fe", "qu", "zo", "ch", "an", "el", "st"};
	for (size_t i = 0; i < FILL_VOCAB; i++) {
		size_t n = 2 + fill_rand() % 3, len = 0;
		for (size_t k = 0; k < n; k++) {
			const char *s = syl[fill_rand() % (sizeof(syl) / sizeof(syl[0]))];
			memcpy(fill_vocab[i] + len, s, 2);
			len += 2;
		}
		fill_vocab[i][len] = '\0';
	}
}

/* A word: common English half of the time, else Zipf-like over the vocab. */
static const char *fill_word(void)
{
	if (fill_rand() % 2 == 0)
		return fill_common[fill_rand() % (sizeof(fill_common) / sizeof(fill_common[0]))];
	double u = (fill_rand() + 1.0) / 4294967297.0;
	size_t idx = (size_t)((double)FILL_VOCAB * u * u * u);
	return fill_vocab[idx < FILL_VOCAB ? idx : FILL_VOCAB - 1];
}

static void fill_words(struct buf *b, size_t n, size_t line)
{
	size_t col = 0;
	for (size_t i = 0; i < n; i++) {
		const char *w = fill_word();
		if (col > line) {
			buf_append_str(b, "\r\n");
			col = 0;
		} else if (i > 0) {
			buf_append_byte(b, ' ');
			col++;
		}
		buf_append_str(b, w);
		col += strlen(w);
	}
	buf_append_str(b, "\r\n");
}

static void fill_qp_html(struct buf *b, size_t n)
{
	buf_append_str(b, "<html><body><p>");
	for (size_t i = 0; i < n; i++) {
		if (i % 40 == 39)
			buf_append_str(b, "</p>=\r\n<p>");
		else if (i % 11 == 5)
			buf_printf(b, "<b>%s</b> ", fill_word());
		else
			buf_printf(b, "%s ", fill_word());
		if (i % 8 == 7)
			buf_append_str(b, "=\r\n");
	}
	buf_append_str(b, "</p></body></html>\r\n");
}

static void fill_message(struct buf *m, size_t i, int64_t date)
{
	char d[64];
	time_t t = (time_t)date;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_reset(m);
	buf_printf(m,
	           "Return-Path: <%s@example.org>\r\nReceived: from mx.example.org by "
	           "mail.example.test; %s\r\nFrom: %s %s <%s@example.org>\r\n"
	           "To: demo@example.test\r\nSubject: ",
	           fill_word(), d, fill_word(), fill_word(), fill_word());
	size_t sw = 3 + fill_rand() % 6;
	for (size_t k = 0; k < sw; k++)
		buf_printf(m, "%s%s", k ? " " : "", fill_word());
	buf_printf(m, "\r\nDate: %s\r\nMessage-ID: <%zu.%08x@example.org>\r\nMIME-Version: 1.0\r\n",
	           d, i, fill_rand());
	size_t words = 60 + fill_rand() % 540;
	uint32_t kind = fill_rand() % 10;
	struct buf text = BUF_INIT;
	fill_words(&text, words, 70);
	if (i % 1000 == 0)
		buf_append_str(&text, "The code word is zanzibarquux today.\r\n");
	if (kind < 6) {
		buf_append_str(m, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
		buf_append(m, text.data, text.len);
	} else if (kind < 8) {
		buf_append_str(m, "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
		                  "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
		buf_append(m, text.data, text.len);
		buf_append_str(m, "--b1\r\nContent-Type: text/html; charset=utf-8\r\n"
		                  "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		fill_qp_html(m, words);
		buf_append_str(m, "--b1--\r\n");
	} else if (kind < 9) {
		buf_append_str(m, "Content-Type: text/plain; charset=utf-8\r\n"
		                  "Content-Transfer-Encoding: base64\r\n\r\n");
		size_t cap = codec_b64_encoded_size(text.len, true);
		char *enc = malloc(cap);
		size_t el = codec_b64_encode(text.data, text.len, enc, CODEC_B64_STD, true);
		for (size_t o = 0; o < el; o += 76) {
			buf_append(m, enc + o, el - o < 76 ? el - o : 76);
			buf_append_str(m, "\r\n");
		}
		free(enc);
	} else {
		buf_append_str(m, "Content-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n"
		                  "--b2\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
		buf_append(m, text.data, text.len);
		buf_append_str(m, "--b2\r\nContent-Type: application/octet-stream\r\n"
		                  "Content-Disposition: attachment; filename=\"data.bin\"\r\n"
		                  "Content-Transfer-Encoding: base64\r\n\r\n");
		unsigned char bin[12288];
		for (size_t k = 0; k < sizeof(bin); k++)
			bin[k] = (unsigned char)fill_rand();
		size_t cap = codec_b64_encoded_size(sizeof(bin), true);
		char *enc = malloc(cap);
		size_t el = codec_b64_encode(bin, sizeof(bin), enc, CODEC_B64_STD, true);
		for (size_t o = 0; o < el; o += 76) {
			buf_append(m, enc + o, el - o < 76 ? el - o : 76);
			buf_append_str(m, "\r\n");
		}
		free(enc);
		buf_append_str(m, "--b2--\r\n");
	}
	buf_free(&text);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	log_init("mboxfill");
	if (sodium_init() < 0)
		return 3;
	const char *e1, *e2 = NULL;
	size_t count = (size_t)strtonum(argv[2], 0, INT_MAX, &e1);
	unsigned long long seed =
	    argc > 3 ? (unsigned long long)strtonum(argv[3], 0, LLONG_MAX, &e2) : 0;
	if (e1 != NULL || e2 != NULL)
		return 2;
	fill_rng = argc > 3 ? seed * 2654435761u + 1 : 88172645463325252ULL;
	struct conf *c = conf_new();
	const char *err;
	if (conf_load(c, conf_path(NULL), &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 3;
	}
	struct directory *d;
	if (directory_open(c->state_dir, DIRECTORY_READ, &d, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 3;
	}
	char pw[1024];
	if (fgets(pw, sizeof(pw), stdin) == NULL)
		return 2;
	pw[strcspn(pw, "\r\n")] = '\0';
	struct directory_user u;
	unsigned char mk[KEYWRAP_MK_LEN];
	int r = account_unlock(d, c, NULL, argv[1], KEYWRAP_PASSWORD, pw, strlen(pw), &u, mk, &err);
	if (r != 1) {
		fprintf(stderr, "unlock: %s\n", err);
		return r == 0 ? 1 : 3;
	}
	struct store_import_stats stats;
	struct store *st = account_open_mailbox(c, u.id, mk, &stats, &err);
	sodium_memzero(mk, sizeof(mk));
	if (st == NULL) {
		fprintf(stderr, "open: %s\n", err);
		return 3;
	}
	struct store_folder f;
	if (store_folder_get(st, "INBOX", &f) != 1)
		return 3;
	fill_make_vocab();
	struct buf m = BUF_INIT;
	uint64_t bytes = 0;
	int64_t t0 = 1700000000;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (size_t i = 1; i <= count; i++) {
		if ((i - 1) % FILL_BATCH == 0 && store_begin(st) < 0)
			return 3;
		int64_t date = t0 + (int64_t)i * 600;
		fill_message(&m, i, date);
		bytes += m.len;
		if (store_append(st, f.id, m.data, m.len, date, i % 3 ? STORE_FLAG_SEEN : 0, NULL,
		                 NULL, NULL) < 0)
			return 3;
		if ((i % FILL_BATCH == 0 || i == count) && store_commit(st) < 0)
			return 3;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("appended %zu messages, %llu bytes, in %.2f s\n", count, (unsigned long long)bytes,
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	buf_free(&m);
	store_folder_clear(&f);
	store_close(&st);
	return 0;
}
