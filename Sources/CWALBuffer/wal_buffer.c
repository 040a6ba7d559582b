// A VFS that is the default one except for WAL files, whose writes are gathered in memory
// while they append and written with one write() per commit.
//
// SQLite writes each WAL frame with two pwrite calls, its 24-byte header and then its page,
// so a frame straddles two page-cache pages and a commit of sixteen frames costs 32 system
// calls and about 48 page-cache updates; in docketd the kernel's write path cost as much
// CPU as SQLite's own work. Gathered, the same commit is one call over 17 pages.
//
// What keeps this safe:
// - A commit becomes visible to other connections only when the writer updates the
//   wal-index header, after it has written the commit's last frame. The buffer is written
//   out when the page of a frame whose header carries a commit mark arrives, before that
//   xWrite returns, so the commit is in the file before anyone can read it, and a failed
//   write fails the commit (SQLite rolls it back; frames past the last commit are ignored).
// - Every other operation on the WAL (read, sync, truncate, size, file control, close)
//   writes the buffer out first, and so does any write that does not append to it.
// - Only the connection that writes frames uses this VFS; readers and the checkpointer
//   read the file itself, and only frames of published commits.

#include "CWALBuffer.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

const char *const docket_wal_buffer_vfs_name = "docket-wal-buffer";

enum { BUFFER_CAPACITY = 1 << 20, WRITE_CHUNK_BYTES = 120 << 10, FRAME_HEADER_BYTES = 24, WAL_HEADER_BYTES = 32 };

typedef struct BufferedFile {
    sqlite3_file base;
    sqlite3_file *real;  // the default VFS's file, allocated right after this struct
    unsigned char *buffer;  // WAL files only
    int used;
    sqlite3_int64 start;  // where buffer[0] goes in the file
    int commitFramePending;  // the last write buffered was the header of a commit frame
} BufferedFile;

static sqlite3_vfs *realVfs;
static sqlite3_vfs bufferVfs;

static int flushBuffer(BufferedFile *p) {
    int rc = SQLITE_OK;
    // The unix VFS writes at most 128 KiB - 1 per call (it masks the length with 0x1ffff).
    for (int done = 0; done < p->used && rc == SQLITE_OK; done += WRITE_CHUNK_BYTES) {
        int amount = p->used - done < WRITE_CHUNK_BYTES ? p->used - done : WRITE_CHUNK_BYTES;
        rc = p->real->pMethods->xWrite(p->real, p->buffer + done, amount, p->start + done);
    }
    p->used = 0;
    return rc;
}

static int bufClose(sqlite3_file *f) {
    BufferedFile *p = (BufferedFile *)f;
    int flushed = flushBuffer(p);
    int rc = p->real->pMethods->xClose(p->real);
    free(p->buffer);
    p->buffer = NULL;
    return flushed != SQLITE_OK ? flushed : rc;
}

static int bufRead(sqlite3_file *f, void *data, int amount, sqlite3_int64 offset) {
    BufferedFile *p = (BufferedFile *)f;
    int rc = flushBuffer(p);
    return rc != SQLITE_OK ? rc : p->real->pMethods->xRead(p->real, data, amount, offset);
}

static int bufWrite(sqlite3_file *f, const void *data, int amount, sqlite3_int64 offset) {
    BufferedFile *p = (BufferedFile *)f;
    if (p->buffer == NULL) return p->real->pMethods->xWrite(p->real, data, amount, offset);
    // Taken before the buffer may be written out for room below: a commit frame's header can
    // fit where its page does not, and that page must still be written before returning.
    int endsCommit = p->commitFramePending;
    p->commitFramePending = 0;
    int appends = p->used > 0 && offset == p->start + p->used;
    if (!appends || p->used + amount > BUFFER_CAPACITY) {
        int rc = flushBuffer(p);
        if (rc != SQLITE_OK) return rc;
    }
    if (amount > WRITE_CHUNK_BYTES) return p->real->pMethods->xWrite(p->real, data, amount, offset);
    if (p->used == 0) p->start = offset;
    memcpy(p->buffer + p->used, data, (size_t)amount);
    p->used += amount;
    if (amount == FRAME_HEADER_BYTES && offset >= WAL_HEADER_BYTES) {
        // Bytes 4 to 7 of a frame header: the database size after the commit, on a commit
        // frame only, and 0 on every other frame.
        const unsigned char *header = data;
        p->commitFramePending = (header[4] | header[5] | header[6] | header[7]) != 0;
        return SQLITE_OK;
    }
    return endsCommit ? flushBuffer(p) : SQLITE_OK;
}

static int bufTruncate(sqlite3_file *f, sqlite3_int64 size) {
    BufferedFile *p = (BufferedFile *)f;
    int rc = flushBuffer(p);
    return rc != SQLITE_OK ? rc : p->real->pMethods->xTruncate(p->real, size);
}

static int bufSync(sqlite3_file *f, int flags) {
    BufferedFile *p = (BufferedFile *)f;
    int rc = flushBuffer(p);
    return rc != SQLITE_OK ? rc : p->real->pMethods->xSync(p->real, flags);
}

static int bufFileSize(sqlite3_file *f, sqlite3_int64 *size) {
    BufferedFile *p = (BufferedFile *)f;
    int rc = flushBuffer(p);
    return rc != SQLITE_OK ? rc : p->real->pMethods->xFileSize(p->real, size);
}

static int bufLock(sqlite3_file *f, int level) {
    BufferedFile *p = (BufferedFile *)f;
    return p->real->pMethods->xLock(p->real, level);
}

static int bufUnlock(sqlite3_file *f, int level) {
    BufferedFile *p = (BufferedFile *)f;
    return p->real->pMethods->xUnlock(p->real, level);
}

static int bufCheckReservedLock(sqlite3_file *f, int *reserved) {
    BufferedFile *p = (BufferedFile *)f;
    return p->real->pMethods->xCheckReservedLock(p->real, reserved);
}

static int bufFileControl(sqlite3_file *f, int op, void *arg) {
    BufferedFile *p = (BufferedFile *)f;
    int rc = flushBuffer(p);
    return rc != SQLITE_OK ? rc : p->real->pMethods->xFileControl(p->real, op, arg);
}

static int bufSectorSize(sqlite3_file *f) {
    BufferedFile *p = (BufferedFile *)f;
    return p->real->pMethods->xSectorSize(p->real);
}

static int bufDeviceCharacteristics(sqlite3_file *f) {
    BufferedFile *p = (BufferedFile *)f;
    return p->real->pMethods->xDeviceCharacteristics(p->real);
}

static int bufShmMap(sqlite3_file *f, int region, int size, int extend, void volatile **memory) {
    BufferedFile *p = (BufferedFile *)f;
    return p->real->pMethods->xShmMap(p->real, region, size, extend, memory);
}

static int bufShmLock(sqlite3_file *f, int offset, int n, int flags) {
    BufferedFile *p = (BufferedFile *)f;
    return p->real->pMethods->xShmLock(p->real, offset, n, flags);
}

static void bufShmBarrier(sqlite3_file *f) {
    BufferedFile *p = (BufferedFile *)f;
    p->real->pMethods->xShmBarrier(p->real);
}

static int bufShmUnmap(sqlite3_file *f, int deleteFlag) {
    BufferedFile *p = (BufferedFile *)f;
    return p->real->pMethods->xShmUnmap(p->real, deleteFlag);
}

static int bufFetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **pointer) {
    BufferedFile *p = (BufferedFile *)f;
    int rc = flushBuffer(p);
    return rc != SQLITE_OK ? rc : p->real->pMethods->xFetch(p->real, offset, amount, pointer);
}

static int bufUnfetch(sqlite3_file *f, sqlite3_int64 offset, void *pointer) {
    BufferedFile *p = (BufferedFile *)f;
    return p->real->pMethods->xUnfetch(p->real, offset, pointer);
}

static const sqlite3_io_methods bufferMethods = {
    3,
    bufClose, bufRead, bufWrite, bufTruncate, bufSync, bufFileSize,
    bufLock, bufUnlock, bufCheckReservedLock, bufFileControl, bufSectorSize, bufDeviceCharacteristics,
    bufShmMap, bufShmLock, bufShmBarrier, bufShmUnmap,
    bufFetch, bufUnfetch,
};

static int bufOpen(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *outFlags) {
    (void)vfs;
    BufferedFile *p = (BufferedFile *)f;
    memset(p, 0, sizeof(*p));
    p->real = (sqlite3_file *)&p[1];
    int rc = realVfs->xOpen(realVfs, name, p->real, flags, outFlags);
    if (rc != SQLITE_OK || p->real->pMethods == NULL) {
        p->base.pMethods = NULL;  // tells SQLite there is nothing to close
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    if (p->real->pMethods->iVersion < 3) {
        p->real->pMethods->xClose(p->real);
        p->base.pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    if (flags & SQLITE_OPEN_WAL) {
        p->buffer = malloc(BUFFER_CAPACITY);
        if (p->buffer == NULL) {
            p->real->pMethods->xClose(p->real);
            p->base.pMethods = NULL;
            return SQLITE_NOMEM;
        }
    }
    p->base.pMethods = &bufferMethods;
    return SQLITE_OK;
}

static pthread_once_t registration = PTHREAD_ONCE_INIT;
static int registrationResult = SQLITE_ERROR;

static void registerOnce(void) {
    realVfs = sqlite3_vfs_find(NULL);
    if (realVfs == NULL) return;
    bufferVfs = *realVfs;  // every other method is the default VFS's, with its own data
    bufferVfs.pNext = NULL;
    bufferVfs.zName = docket_wal_buffer_vfs_name;
    bufferVfs.szOsFile = (int)sizeof(BufferedFile) + realVfs->szOsFile;
    bufferVfs.xOpen = bufOpen;
    registrationResult = sqlite3_vfs_register(&bufferVfs, 0);
}

int docket_wal_buffer_register(void) {
    pthread_once(&registration, registerOnce);
    return registrationResult;
}
