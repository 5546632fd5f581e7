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
