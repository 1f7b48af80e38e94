/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Runs a libFuzzer target over files given on the command line (or every
 * file in given directories) without libFuzzer, so `make check` keeps every
 * fuzz target compiling and its seed corpus passing under plain gcc. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	unsigned char *data = malloc(cap);
	size_t r;
	while (data != NULL && (r = fread(data + len, 1, cap - len, f)) > 0) {
		len += r;
		if (len == cap) {
			unsigned char *n = realloc(data, cap * 2);
			if (n == NULL)
				break;
			data = n;
			cap *= 2;
		}
	}
	fclose(f);
	if (data == NULL)
		return -1;
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0;
	/* The empty input is always a case worth surviving. */
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) == 0)
				n++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		while (d != NULL && (e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (replay_file(path) == 0)
				n++;
		}
		if (d != NULL)
			closedir(d);
	}
	printf("replayed %d inputs\n", n);
	return 0;
}
