/*
 * readfile.c -- see readfile.h.  A regular file is read into a buffer of
 * its stat size (one read, no growing); anything else grows by doubling.
 */
#include "globaldns/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int read_whole_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL, *p;
	size_t n = 0, cap;
	ssize_t r;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	/* one spare byte past the size, so that EOF needs no growing */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 2 : 65536;
	if (!(buf = malloc(cap)))
		goto nomem;
	for (;;) {
		if (n + 1 == cap) {     /* grown since stat, or not a regular file */
			if (n > max) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap > max / 2 + 1 ? max + 2 : 2 * cap;
			if (!(p = realloc(buf, cap)))
				goto nomem;
			buf = p;
		}
		r = read(fd, buf + n, cap - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		errno = EFBIG;
		goto fail;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
nomem:
	errno = ENOMEM;
fail:
	e = errno;
	free(buf);
	close(fd);
	errno = e;
	return -1;
}
