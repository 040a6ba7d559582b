#include <systemd/sd-daemon.h>
#include <sys/socket.h>

// Glibc hides `struct ucred` from Swift (no _GNU_SOURCE); this has the same layout.
struct docket_ucred {
    int pid;
    unsigned int uid;
    unsigned int gid;
};
