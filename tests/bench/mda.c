/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Benchmark helper: a minimal durable maildir delivery agent, used as
 * chasquid's mail_delivery_agent_bin when chasquid is measured next to
 * smtpd (the same MDA as the team's performance anchors).
 *   mda ROOT USER < message
 * writes ROOT/USER/tmp/<unique>, fsyncs it, renames it into ROOT/USER/new/
 * and fsyncs new/, the same durability smtpd gives a spool file.
 * Built by tests/bench/run.sh with libc only (no link with the project's
 * libraries), so that exec per message costs chasquid no more than it must.
 * Exit: 0 delivered, 64 usage, 75 temporary failure (as sysexits.h).
 * Trust: test tool. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int mkdir_p(const char *p)
{
	return mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 64;
	char dir[2048], sub[2200], tmp[2300], dst[2300];
	static char buf[65536];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(dir, sizeof(dir), "%s/%s", argv[1], argv[2]);
	if (mkdir_p(argv[1]) < 0 || mkdir_p(dir) < 0)
		return 75;
	snprintf(sub, sizeof(sub), "%s/tmp", dir);
	if (mkdir_p(sub) < 0)
		return 75;
	snprintf(sub, sizeof(sub), "%s/new", dir);
	if (mkdir_p(sub) < 0)
		return 75;
	snprintf(tmp, sizeof(tmp), "%s/tmp/%lld.%09ld.%d", dir, (long long)ts.tv_sec, ts.tv_nsec,
	         (int)getpid());
	snprintf(dst, sizeof(dst), "%s/new/%lld.%09ld.%d", dir, (long long)ts.tv_sec, ts.tv_nsec,
	         (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return 75;
	ssize_t r;
	while ((r = read(0, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)r) != r)
			return 75;
	if (r < 0 || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, dst) < 0)
		return 75;
	int dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		return 75;
	close(dfd);
	return 0;
}
