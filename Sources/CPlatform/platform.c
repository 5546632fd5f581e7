#define _GNU_SOURCE
#include <string.h>
#include "platform.h"
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <malloc.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <signal.h>

int usbp2p_pin_current_thread(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return 22; /* EINVAL */
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

unsigned long long usbp2p_current_thread_affinity(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0) return 0;
    unsigned long long mask = 0;
    for (int cpu = 0; cpu < 64; cpu++) {
        if (CPU_ISSET(cpu, &set)) mask |= 1ULL << cpu;
    }
    return mask;
}

int usbp2p_current_thread_id(void) { return (int)syscall(SYS_gettid); }

void usbp2p_name_current_thread(const char *name) {
    // The kernel keeps 15 bytes and a NUL; a longer name would be refused (ERANGE).
    char kept[16];
    strncpy(kept, name, sizeof kept - 1);
    kept[sizeof kept - 1] = '\0';
    pthread_setname_np(pthread_self(), kept);
}

unsigned long usbp2p_hardware_capabilities(void) { return getauxval(AT_HWCAP); }

void usbp2p_limit_malloc_arenas(int count) { mallopt(M_ARENA_MAX, count); }

void usbp2p_return_free_memory(void) { malloc_trim(0); }

int usbp2p_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef SOL_TLS
#define SOL_TLS 282
#endif

int usbp2p_ktls_start(int fd) {
    return setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 ? 0 : errno;
}

// TLS 1.3 splits the 12-byte IV as the kernel's 4-byte salt and 8-byte "iv" for AES-GCM
// (the sequence number is XORed into the last 8); ChaCha20-Poly1305 takes all 12 as iv.
int usbp2p_ktls_set_keys(int fd, int receive, int cipher, const unsigned char *key, int key_length,
                         const unsigned char *iv, unsigned long long sequence) {
    unsigned char sequence_bytes[8];
    for (int i = 0; i < 8; i++) sequence_bytes[i] = (unsigned char)(sequence >> (56 - 8 * i));
    int option = receive ? TLS_RX : TLS_TX;
    int rc;
    switch (cipher) {
    case 0: {
        struct tls12_crypto_info_aes_gcm_128 info;
        memset(&info, 0, sizeof info);
        if (key_length != (int)sizeof info.key) return EINVAL;
        info.info.version = TLS_1_3_VERSION;
        info.info.cipher_type = TLS_CIPHER_AES_GCM_128;
        memcpy(info.salt, iv, 4);
        memcpy(info.iv, iv + 4, 8);
        memcpy(info.key, key, sizeof info.key);
        memcpy(info.rec_seq, sequence_bytes, 8);
        rc = setsockopt(fd, SOL_TLS, option, &info, sizeof info);
        explicit_bzero(&info, sizeof info);
        break;
    }
    case 1: {
        struct tls12_crypto_info_aes_gcm_256 info;
        memset(&info, 0, sizeof info);
        if (key_length != (int)sizeof info.key) return EINVAL;
        info.info.version = TLS_1_3_VERSION;
        info.info.cipher_type = TLS_CIPHER_AES_GCM_256;
        memcpy(info.salt, iv, 4);
        memcpy(info.iv, iv + 4, 8);
        memcpy(info.key, key, sizeof info.key);
        memcpy(info.rec_seq, sequence_bytes, 8);
        rc = setsockopt(fd, SOL_TLS, option, &info, sizeof info);
        explicit_bzero(&info, sizeof info);
        break;
    }
    case 2: {
        struct tls12_crypto_info_chacha20_poly1305 info;
        memset(&info, 0, sizeof info);
        if (key_length != (int)sizeof info.key) return EINVAL;
        info.info.version = TLS_1_3_VERSION;
        info.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
        memcpy(info.iv, iv, 12);
        memcpy(info.key, key, sizeof info.key);
        memcpy(info.rec_seq, sequence_bytes, 8);
        rc = setsockopt(fd, SOL_TLS, option, &info, sizeof info);
        explicit_bzero(&info, sizeof info);
        break;
    }
    default:
        return EINVAL;
    }
    return rc == 0 ? 0 : errno;
}

long usbp2p_ktls_receive(int fd, void *buffer, unsigned long length, unsigned char *record_type) {
    char control[CMSG_SPACE(sizeof(unsigned char))];
    struct iovec vector = {.iov_base = buffer, .iov_len = length};
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd, &message, 0);
    if (n < 0) return -errno;
    *record_type = 23;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE) {
            *record_type = *(unsigned char *)CMSG_DATA(c);
        }
    }
    return (long)n;
}

int usbp2p_view_signals(void) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGWINCH);
    int error = pthread_sigmask(SIG_BLOCK, &mask, NULL);
    if (error != 0) {
        errno = error;
        return -1;
    }
    return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

int usbp2p_read_signal(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}
