// Thread affinity and ids: glibc declares these only under _GNU_SOURCE, which Swift's
// Glibc module does not set, so they are reached through this file.
#ifndef USBP2P_PLATFORM_H
#define USBP2P_PLATFORM_H

/// Pins the calling thread to one CPU. Returns 0, or an errno value.
int usbp2p_pin_current_thread(int cpu);

/// The calling thread's affinity as a bit mask of CPUs 0...63 (0 on error).
unsigned long long usbp2p_current_thread_affinity(void);

/// The calling thread's kernel thread id (as in /proc/<pid>/task/<tid>).
int usbp2p_current_thread_id(void);

/// Names the calling thread (at most 15 bytes are kept), as seen in /proc and top.
void usbp2p_name_current_thread(const char *name);

/// The kernel's hardware capability bits for this CPU (getauxval(AT_HWCAP); <sys/auxv.h>
/// is not part of Swift's Glibc module).
unsigned long usbp2p_hardware_capabilities(void);

/// glibc's malloc: at most `count` arenas (mallopt M_ARENA_MAX), and what is free at the
/// top of each heap given back to the kernel (malloc_trim). <malloc.h> is not part of
/// Swift's Glibc module either.
void usbp2p_limit_malloc_arenas(int count);
void usbp2p_return_free_memory(void);

/// An eventfd (counter 0, close-on-exec, nonblocking), or -1 with errno set.
/// <sys/eventfd.h> is not part of Swift's Glibc module.
int usbp2p_eventfd(void);

/// Kernel TLS (linux/tls.h, not part of Swift's Glibc module): the "tls" upper-layer
/// protocol on a connected TCP socket. Returns 0, or an errno value (ENOENT: no tls module).
int usbp2p_ktls_start(int fd);

/// Hands one direction's TLS 1.3 record keys to the kernel (`receive`: 1 for TLS_RX, 0 for
/// TLS_TX). `cipher`: 0 AES-128-GCM, 1 AES-256-GCM, 2 ChaCha20-Poly1305; `key` of 16 or 32
/// bytes; `iv` the 12-byte IV of RFC 8446 section 7.3; `sequence` the next record's
/// number. Returns 0, or an errno value.
int usbp2p_ktls_set_keys(int fd, int receive, int cipher, const unsigned char *key, int key_length,
                         const unsigned char *iv, unsigned long long sequence);

/// One receive from a kernel TLS socket: the bytes of one or more records of a single
/// content type, which goes to `*record_type` (23 when the kernel says nothing). Returns
/// the count, 0 at the end of the stream, or -errno.
long usbp2p_ktls_receive(int fd, void *buffer, unsigned long length, unsigned char *record_type);

/// An interactive view's signals (SIGINT, SIGTERM, SIGHUP, SIGWINCH) blocked for the
/// calling thread and those it starts, and a signalfd (close-on-exec, nonblocking) that
/// reads them, or -1 with errno set. <sys/signalfd.h> is not part of Swift's Glibc module.
int usbp2p_view_signals(void);

/// The number of the next signal waiting on `fd` (from usbp2p_view_signals), 0 if none.
int usbp2p_read_signal(int fd);

#endif
