import Testing
import USBHost

@testable import Exporter

/// libusb outcomes become the errno values the kernel's usbip-host would report.
@Suite struct URBStatusTests {
    @Test(arguments: [
        (USBTransferStatus.completed, Int32(0)), (.stall, -32), (.cancelled, -104), (.noDevice, -108),
        (.overflow, -75), (.timedOut, -110), (.error, -71),
    ])
    func transferStatusMapsToErrno(status: USBTransferStatus, errno: Int32) {
        #expect(URBStatus.of(status) == errno)
    }

    @Test func libusbErrorsMapToErrno() {
        #expect(URBStatus.of(USBError("x", code: -4)) == URBStatus.shutdown)  // LIBUSB_ERROR_NO_DEVICE
        #expect(URBStatus.of(USBError("x", code: -9)) == URBStatus.pipe)  // LIBUSB_ERROR_PIPE
        #expect(URBStatus.of(USBError("x", code: -5)) == URBStatus.noEntry)  // LIBUSB_ERROR_NOT_FOUND
    }
}
