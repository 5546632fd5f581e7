import Testing

@testable import VHCI

@Suite struct VHCIPortTests {
    /// The format of /sys/devices/platform/vhci_hcd.0/status (drivers/usb/usbip/vhci_sysfs.c).
    static let status = """
        hub port sta spd dev      sockfd local_busid
        hs  0000 006 003 00010002 000003 2-1
        hs  0001 004 000 00000000 000000 0-0
        ss  0015 004 000 00000000 000000 0-0
        garbage line
        """

    @Test func parsesEveryPortLine() {
        let ports = VHCI.parseStatus(Self.status)
        #expect(ports.count == 3)
        #expect(ports[0] == VHCIPort(hub: .high, port: 0, status: 6, speed: 3, devid: 0x0001_0002, localBusid: "2-1"))
        #expect(!ports[0].isFree)
        #expect(ports[1].isFree)
        #expect(ports[2].hub == .superSpeed)
    }

    @Test func errorsTellTheUserWhatToDo() {
        #expect(VHCIError.notLoaded.description.contains("modprobe vhci-hcd"))
        #expect(VHCIError.permissionDenied("/sys/x/attach").description.contains("needs root"))
        #expect(VHCIError.noFreePort(.superSpeed).description.contains("SuperSpeed"))
    }
}
