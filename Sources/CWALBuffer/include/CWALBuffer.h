#ifndef DOCKET_WAL_BUFFER_H
#define DOCKET_WAL_BUFFER_H

/// Registers the "docket-wal-buffer" VFS (once; later calls return the first result): the
/// default VFS, except that a WAL file's frames are gathered in memory and written with one
/// write per commit instead of two per frame. Returns an SQLite result code.
int docket_wal_buffer_register(void);

/// The name to pass to sqlite3_open_v2.
extern const char *const docket_wal_buffer_vfs_name;

#endif
