#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro cast Swift cannot import.
static inline sqlite3_destructor_type docket_sqlite_transient(void) {
    return SQLITE_TRANSIENT;
}

// sqlite3_config is variadic, which Swift cannot call. Turning off memory statistics takes a
// global mutex off every allocation SQLite makes (docketd never reads the statistics).
// Effective only before the first connection is opened.
static inline int docket_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

// Extended result codes are macro expressions, which Swift does not import.
static const int DOCKET_SQLITE_IOERR_FSYNC = SQLITE_IOERR_FSYNC;
