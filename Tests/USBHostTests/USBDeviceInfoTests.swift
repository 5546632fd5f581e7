import FileSystem
import Testing

@testable import USBHost

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct USBDeviceInfoTests {
    /// A stand-in for /sys/bus/usb/devices: one directory per device in `devices`, holding
    /// the entries named.
    private func fakeSysfs(_ name: String, devices: [String: [String]]) throws -> String {
        let root = "/tmp/usbp2p-usbinfo-\(getpid())-\(name)"
        try AtomicFile.createDirectory(root, mode: 0o700)
        for (busid, entries) in devices {
            try AtomicFile.createDirectory("\(root)/\(busid)", mode: 0o700)
            for entry in entries { try AtomicFile.createDirectory("\(root)/\(busid)/\(entry)", mode: 0o700) }
        }
        return root
    }

    private func remove(_ root: String) {
        for busid in AtomicFile.names(in: root) {
            for entry in AtomicFile.names(in: "\(root)/\(busid)") { rmdir("\(root)/\(busid)/\(entry)") }
            rmdir("\(root)/\(busid)")
        }
        rmdir(root)
    }

    @Test func theActiveConfigurationIsTheOneInTheInterfacesNames() throws {
        let root = try fakeSysfs("active", devices: ["1-1": ["power", "1-1:2.0", "1-1:2.1", "ep_00"]])
        defer { remove(root) }
        #expect(USBDeviceInfo.activeConfigurationValue(busid: "1-1", sysfs: root) == 2)
    }

    @Test func aDeviceWithoutInterfacesIsUnconfigured() throws {
        let root = try fakeSysfs("unconfigured", devices: ["3-2": ["power", "ep_00"]])
        defer { remove(root) }
        #expect(USBDeviceInfo.activeConfigurationValue(busid: "3-2", sysfs: root) == 0)
    }

    @Test func aHubsChildrenAndTheirInterfacesDoNotCount() throws {
        // 1-1 is a hub: its child 1-1.4 lies in its directory; the hub's own interface is 1-1:1.0.
        let root = try fakeSysfs("hub", devices: ["1-1": ["1-1.4", "power"], "1-1.4": ["1-1.4:3.0"]])
        defer { remove(root) }
        #expect(USBDeviceInfo.activeConfigurationValue(busid: "1-1", sysfs: root) == 0)
        #expect(USBDeviceInfo.activeConfigurationValue(busid: "1-1.4", sysfs: root) == 3)
    }

    @Test func aMalformedInterfaceNameIsSkipped() throws {
        let root = try fakeSysfs("malformed", devices: ["2-1": ["2-1:x.0", "2-1:300.0", "2-1:", "2-1:1.0"]])
        defer { remove(root) }
        #expect(USBDeviceInfo.activeConfigurationValue(busid: "2-1", sysfs: root) == 1)
    }

    @Test func aDeviceThatIsGoneHasNoAnswer() throws {
        let root = try fakeSysfs("gone", devices: [:])
        defer { remove(root) }
        #expect(USBDeviceInfo.activeConfigurationValue(busid: "1-9", sysfs: root) == nil)
    }
}
