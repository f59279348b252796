/*
 * replay.h -- the corpus replay shared by the fuzz targets: built without
 * libFuzzer, a target's main() runs every file of its corpus folder through
 * LLVMFuzzerTestOneInput and prints TAP, so the corpus is an ordinary test.
 */
#ifndef GLOBALDNS_FUZZ_REPLAY_H
#define GLOBALDNS_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Replay argv[1], or $TOP_SRCDIR/tests/fuzz/corpus/CORPUS, in name order;
 * cleanup (may be NULL) runs after the last input.  Returns main's status.
 */
int fuzz_replay_main(int argc, char **argv, const char *corpus, void (*cleanup)(void));

#endif
