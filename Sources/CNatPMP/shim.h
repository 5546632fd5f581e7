#include <natpmp.h>
#include <sys/select.h>
#include <string.h>
#include <time.h>

// One NAT-PMP (RFC 6886) exchange with the default gateway, bounded by timeout_ms (the
// library alone would retry for about a minute). Fills *response; returns 0 or a
// NATPMP_ERR_* code (negative), NATPMP_ERR_SOCKETERROR-like -100 on timeout.
enum { USBP2P_NATPMP_PUBLIC_ADDRESS = 0, USBP2P_NATPMP_MAP_TCP = 1 };
enum { USBP2P_NATPMP_TIMEOUT = -100 };

static inline int usbp2p_natpmp_exchange(int kind, unsigned short private_port, unsigned short public_port,
                                         unsigned int lifetime, int timeout_ms, natpmpresp_t *response) {
    natpmp_t natpmp;
    int r = initnatpmp(&natpmp, 0, 0);
    if (r < 0) return r;
    r = kind == USBP2P_NATPMP_MAP_TCP
        ? sendnewportmappingrequest(&natpmp, NATPMP_PROTOCOL_TCP, private_port, public_port, lifetime)
        : sendpublicaddressrequest(&natpmp);
    if (r < 0) { closenatpmp(&natpmp); return r; }
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        fd_set fds;
        struct timeval timeout;
        FD_ZERO(&fds);
        FD_SET(natpmp.s, &fds);
        getnatpmprequesttimeout(&natpmp, &timeout);
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= timeout_ms) { r = USBP2P_NATPMP_TIMEOUT; break; }
        long left = timeout_ms - elapsed;
        if (timeout.tv_sec * 1000 + timeout.tv_usec / 1000 > left) {
            timeout.tv_sec = left / 1000;
            timeout.tv_usec = (left % 1000) * 1000;
        }
        select(natpmp.s + 1, &fds, NULL, NULL, &timeout);
        memset(response, 0, sizeof *response);
        r = readnatpmpresponseorretry(&natpmp, response);
    } while (r == NATPMP_TRYAGAIN);
    closenatpmp(&natpmp);
    return r;
}

static inline unsigned short usbp2p_natpmp_mapped_port(const natpmpresp_t *r) { return r->pnu.newportmapping.mappedpublicport; }
static inline unsigned int usbp2p_natpmp_lifetime(const natpmpresp_t *r) { return r->pnu.newportmapping.lifetime; }
static inline unsigned int usbp2p_natpmp_public_address(const natpmpresp_t *r) { return r->pnu.publicaddress.addr.s_addr; }
