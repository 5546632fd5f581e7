#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <stdio.h>
#include <string.h>

// UPnP-IGD through miniupnpc, in one call each, across its API versions (17 in Debian 12,
// 18 in Debian 13, where UPNP_GetValidIGD also returns the WAN address).
// Returns 0 on success, a negative step code otherwise: -1 no IGD, -2 the mapping, -3
// removing it. lan_address (16 bytes) receives this host's address towards the IGD,
// external (16 bytes) the router's public address.
static inline int usbp2p_upnp_igd(int discover_ms, struct UPNPUrls *urls, struct IGDdatas *data, char *lan_address) {
    int error = 0;
    struct UPNPDev *devices = upnpDiscover(discover_ms, NULL, NULL, 0, 0, 2, &error);
    if (!devices) return -1;
#if MINIUPNPC_API_VERSION >= 18
    char wan[16];
    int found = UPNP_GetValidIGD(devices, urls, data, lan_address, 16, wan, sizeof wan);
#else
    int found = UPNP_GetValidIGD(devices, urls, data, lan_address, 16);
#endif
    freeUPNPDevlist(devices);
    if (found != 1) {
        if (found) FreeUPNPUrls(urls);
        return -1;
    }
    return 0;
}

static inline int usbp2p_upnp_map(int discover_ms, unsigned short port, unsigned int lease_seconds,
                                  char *lan_address, char *external) {
    struct UPNPUrls urls;
    struct IGDdatas data;
    if (usbp2p_upnp_igd(discover_ms, &urls, &data, lan_address) != 0) return -1;
    char port_text[8], lease_text[16];
    snprintf(port_text, sizeof port_text, "%u", port);
    snprintf(lease_text, sizeof lease_text, "%u", lease_seconds);
    int r = UPNP_AddPortMapping(urls.controlURL, data.first.servicetype, port_text, port_text, lan_address,
                                "usbp2pd", "TCP", NULL, lease_text);
    if (r == UPNPCOMMAND_SUCCESS) {
        external[0] = 0;
        if (UPNP_GetExternalIPAddress(urls.controlURL, data.first.servicetype, external) != UPNPCOMMAND_SUCCESS)
            external[0] = 0;
    }
    FreeUPNPUrls(&urls);
    return r == UPNPCOMMAND_SUCCESS ? 0 : -2;
}

static inline int usbp2p_upnp_unmap(int discover_ms, unsigned short port) {
    struct UPNPUrls urls;
    struct IGDdatas data;
    char lan_address[16];
    if (usbp2p_upnp_igd(discover_ms, &urls, &data, lan_address) != 0) return -1;
    char port_text[8];
    snprintf(port_text, sizeof port_text, "%u", port);
    int r = UPNP_DeletePortMapping(urls.controlURL, data.first.servicetype, port_text, "TCP", NULL);
    FreeUPNPUrls(&urls);
    return r == UPNPCOMMAND_SUCCESS ? 0 : -3;
}
