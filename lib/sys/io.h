/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Bounded, deadline-driven I/O for one protocol connection, over plain file
 * descriptors or an OpenSSL TLS session (implicit TLS or a STARTTLS upgrade).
 * Every read is bounded in length and in time, by up to four limits at once:
 *  - the idle timeout: time without any byte from the peer;
 *  - the line deadline: a line must be complete this long after the server
 *    starts waiting for its rest (also bounds a TLS handshake), so a line
 *    that trickles in a byte at a time ends when the deadline passes, not
 *    when the bytes stop;
 *  - a transfer deadline (message content, literals): a grace period, then a
 *    minimum rate: each byte read moves the deadline 1/rate s later;
 *  - a total deadline for the session (or its pre-login part).
 * All are absolute CLOCK_MONOTONIC times; io->expired says which one ended a
 * read with IO_TIMEOUT, so that the session can tell the client why.
 * Trust: pre-auth; everything read here comes from the network. */
#ifndef SEALMAIL_IO_H
#define SEALMAIL_IO_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum io_err {
	IO_OK = 0,
	IO_EOF,     /* peer closed the connection */
	IO_TIMEOUT, /* a time limit passed: io->expired says which */
	IO_TOOLONG, /* line exceeded the caller's bound (the rest of it was discarded) */
	IO_BARELF,  /* line ended with LF not preceded by CR (RFC 5321 section 2.3.8) */
	IO_BARECR,  /* CR not followed by LF inside a line */
	IO_SYSERR,  /* read/write/poll failure */
	IO_TLSERR,  /* TLS protocol failure */
};

#define IO_READ_CHUNK 16384

/* Which limit ended the last read or write with IO_TIMEOUT. */
enum io_limit {
	IO_LIMIT_NONE = 0,
	IO_LIMIT_IDLE,     /* no byte for idle_ms */
	IO_LIMIT_LINE,     /* a line (or a TLS handshake) not complete in line_ms */
	IO_LIMIT_TRANSFER, /* a transfer below its minimum rate after its grace */
	IO_LIMIT_TOTAL,    /* the total deadline (io_set_deadline) */
};

struct io {
	int rfd, wfd;
	SSL *ssl;            /* owned; NULL for plaintext */
	struct buf in;       /* bytes read but not consumed */
	size_t in_pos;       /* consumed prefix of in */
	size_t in_peak;      /* the most bytes in has held: what a wipe must cover */
	struct buf out;      /* bytes queued for io_flush */
	int idle_ms;         /* <= 0: no idle timeout */
	int64_t deadline_ms; /* monotonic; 0: none */
	int line_ms;         /* <= 0: no line deadline */
	int64_t line_dl_ms;  /* the line being read: its deadline; 0: none */
	/* A transfer (io_transfer_begin): deadline = start + grace + bytes / rate. */
	int64_t xfer_start_ms; /* 0: no transfer */
	int64_t xfer_grace_ms;
	uint64_t xfer_rate; /* bytes/s; 0: the grace is a fixed total */
	uint64_t xfer_bytes;
	enum io_err err;       /* last error */
	enum io_limit expired; /* after IO_TIMEOUT: which limit */
	bool discarding;       /* inside an over-long line */
	bool write_failed;     /* a flush failed (the queued output was dropped) */
	uint64_t bytes_in, bytes_out;
};

/* rfd and wfd may be the same socket. Both are set non-blocking. */
void io_init(struct io *io, int rfd, int wfd, int idle_ms);
/* Free buffers and the TLS session; does not close the descriptors. */
void io_cleanup(struct io *io);
void io_set_idle(struct io *io, int idle_ms);
/* Free the read and write buffers when they hold nothing (the next read or
 * write allocates again): for a connection about to sit idle for long, before
 * malloc_trim gives the freed pages back. */
void io_trim(struct io *io);
/* Absolute total deadline, ms from now; 0 clears. */
void io_set_deadline(struct io *io, int64_t ms_from_now);
/* Every later io_read_line must complete a line within ms of starting to
 * wait for its rest (its first byte, in practice), and a TLS handshake
 * within ms of its start; <= 0: no line deadline. */
void io_set_line_deadline(struct io *io, int ms);
/* Start a transfer of content read with io_peek/io_read_some: it must go on
 * at min_rate bytes/s after grace_ms (each byte read moves its deadline
 * 1/min_rate s later, as Postfix's smtpd_min_data_rate); min_rate 0 makes
 * grace_ms a fixed total. io_transfer_end clears it. */
void io_transfer_begin(struct io *io, int64_t grace_ms, uint64_t min_rate);
void io_transfer_end(struct io *io);
/* "idle timeout", "line deadline", ... for logs. */
const char *io_limit_name(enum io_limit l);

/* Read one line ending in CRLF. On 1, *line_r points at the line without
 * CRLF, NUL-terminated, valid until the next read call; *len_r its length.
 * max is the longest accepted line without the CRLF. Returns 1 line, 0 EOF
 * (also at EOF in the middle of a line), -1 error in io->err: IO_TOOLONG
 * (the whole over-long line has been consumed, so the session can reply and
 * go on), IO_BARELF / IO_BARECR (the line was consumed), IO_TIMEOUT,
 * IO_SYSERR, IO_TLSERR. A line containing NUL bytes is returned as is:
 * callers check len against strlen when they need text. */
int io_read_line(struct io *io, char **line_r, size_t *len_r, size_t max);
/* Read up to n bytes (at least 1 unless EOF): returns bytes, 0 EOF, -1 error. */
ssize_t io_read_some(struct io *io, void *out, size_t n);
/* Read exactly n bytes: 1 ok, 0 EOF before n, -1 error. */
int io_read_exact(struct io *io, void *out, size_t n);
/* Make at least one byte available (reading if the buffer is empty) and
 * point *p_r at all buffered bytes: returns the count, 0 EOF, -1 error.
 * Consume what was used with io_consume; the rest stays for later reads
 * (pipelined commands after the end of DATA, for instance). */
ssize_t io_peek(struct io *io, unsigned char **p_r);
void io_consume(struct io *io, size_t n);
/* Bytes already buffered and not consumed. */
size_t io_pending(const struct io *io);
/* Put bytes that arrived elsewhere (pipelined before a hand-over) in front
 * of whatever is read next. */
void io_prefill(struct io *io, const void *p, size_t n);
/* Wait until input is available (buffered, TLS-pending or readable) or
 * timeout_ms passes: 1 readable, 0 timeout, -1 error. */
int io_wait_readable(struct io *io, int timeout_ms);

/* Queue output; flushed by io_flush (or automatically beyond 64 KiB, which
 * waits for the peer within the idle timeout): the queue never holds more
 * than 64 KiB and the last write, so a writer that sends in chunks uses
 * bounded memory however slowly the peer reads. After a failed flush
 * write_failed stays set: a long writer checks it to stop early. */
void io_write(struct io *io, const void *p, size_t n);
void io_puts(struct io *io, const char *s);
void io_printf(struct io *io, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send everything queued, within the idle timeout: 0 ok, -1 error. */
int io_flush(struct io *io);
/* Without a struct io: send all n bytes on a blocking socket (retrying
 * after signals and short writes; MSG_NOSIGNAL). 0, or -1 with errno. */
int io_send_all(int fd, const void *p, size_t n);

/* Start TLS as server on this connection (STARTTLS, or implicit TLS before
 * any read). Bytes the client sent before the handshake and that are still
 * buffered are discarded — never interpreted after the upgrade (the
 * CVE-2011-0411 class of command injection); their count goes to
 * *discarded_r. Returns 0 ok, -1 with io->err = IO_TLSERR/IO_TIMEOUT/...;
 * a failed handshake leaves the connection unusable. */
int io_starttls(struct io *io, SSL_CTX *ctx, size_t *discarded_r);
/* Client side, for tests and outbound SMTP. */
int io_starttls_client(struct io *io, SSL_CTX *ctx, const char *sni);
bool io_is_tls(const struct io *io);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" without TLS. */
const char *io_tls_desc(const struct io *io, char *out, size_t outsz);
const char *io_strerror(enum io_err err);

#endif
