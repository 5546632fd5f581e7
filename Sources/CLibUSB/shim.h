#include <libusb.h>

// libusb_transfer.iso_packet_desc is a flexible array member, which Swift does not
// import: reach packet i through this.
static inline struct libusb_iso_packet_descriptor *usbp2p_iso_packet(struct libusb_transfer *transfer, int i) {
    return &transfer->iso_packet_desc[i];
}
