/*
 * readfile.h -- reading a whole file into memory, the one way every
 * module does it (Corefiles, manifests, kubeconfigs, tokens, CAs).
 */
#ifndef GLOBALDNS_READFILE_H
#define GLOBALDNS_READFILE_H

#include <stddef.h>

/*
 * Read the file at path whole into a new buffer (*out, caller frees) of
 * *len bytes followed by a NUL; the content itself may hold NUL bytes.
 * Returns 0, or -1 with errno: EISDIR for a directory, EFBIG for more
 * than max bytes, ENOMEM, or what open/read said.
 */
int read_whole_file(const char *path, size_t max, char **out, size_t *len);

#endif
