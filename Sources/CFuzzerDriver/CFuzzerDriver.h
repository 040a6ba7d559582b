#ifndef DOCKET_CFUZZERDRIVER_H
#define DOCKET_CFUZZERDRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for a program that keeps its own `main` (SwiftPM renames the
/// Swift `main`, so libFuzzer's cannot be used). Declared weak so that the same target also
/// links in a plain `swift build`, where libFuzzer is absent and the symbol stays null.
__attribute__((weak)) int LLVMFuzzerRunDriver(int *argc, char ***argv,
                                              int (*callback)(const uint8_t *data, size_t size));

/// Whether the program was linked with `-sanitize=fuzzer`. Swift cannot compare a C
/// function with null, so the test lives here.
static inline int docket_fuzzer_linked(void) { return LLVMFuzzerRunDriver != NULL; }

#endif
