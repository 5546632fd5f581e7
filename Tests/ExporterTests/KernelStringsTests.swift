import Foundation
import TestSupport
import Testing

@testable import Exporter

/// The devices' strings from a fake sysfs laid out as the kernel lays out
/// /sys/bus/usb/devices: each attribute a file of one line, absent when the device has no
/// such string.
@Suite struct KernelStringsTests {
    func sysfs(_ devices: [String: [String: String]]) throws -> String {
        let root = scratchDirectory("kernel-strings")
        for (busid, attributes) in devices {
            try FileManager.default.createDirectory(atPath: "\(root)/\(busid)", withIntermediateDirectories: true)
            for (name, text) in attributes {
                try text.write(toFile: "\(root)/\(busid)/\(name)", atomically: false, encoding: .utf8)
            }
        }
        return root
    }

    @Test func readsEachStringsFirstLineAndNilForAMissingOrEmptyOne() throws {
        let root = try sysfs([
            "1-1": ["manufacturer": "SanDisk\n", "product": "Cruzer Blade\n", "serial": "4C530001\n"],
            "1-2": ["product": "Keyboard\n", "serial": "\n"],
        ])
        let strings = KernelStrings(sysfs: root)
        #expect(
            strings.strings(busid: "1-1", address: 5)
                == .init(manufacturer: "SanDisk", product: "Cruzer Blade", serial: "4C530001"))
        #expect(strings.strings(busid: "1-2", address: 6) == .init(product: "Keyboard"))
        #expect(strings.strings(busid: "1-9", address: 7) == .init())
    }

    @Test func keepsADevicesStringsWithoutReadingSysfsAgain() throws {
        let root = try sysfs(["1-1": ["product": "Stick\n", "serial": "A1\n"]])
        let strings = KernelStrings(sysfs: root)
        #expect(strings.strings(busid: "1-1", address: 5).serial == "A1")
        // A read now would see this; the kept strings are answered instead.
        try "B2\n".write(toFile: "\(root)/1-1/serial", atomically: false, encoding: .utf8)
        #expect(strings.strings(busid: "1-1", address: 5).serial == "A1")
    }

    @Test func readsAgainForADeviceEnumeratedAgainAtTheSamePort() throws {
        let root = try sysfs(["1-1": ["serial": "A1\n"]])
        let strings = KernelStrings(sysfs: root)
        #expect(strings.strings(busid: "1-1", address: 5).serial == "A1")
        try "B2\n".write(toFile: "\(root)/1-1/serial", atomically: false, encoding: .utf8)
        #expect(strings.strings(busid: "1-1", address: 6).serial == "B2")
    }

    @Test func forgetsDevicesThatAreGone() throws {
        let root = try sysfs(["1-1": ["serial": "A1\n"], "1-2": ["serial": "C3\n"]])
        let strings = KernelStrings(sysfs: root)
        _ = strings.strings(busid: "1-1", address: 5)
        _ = strings.strings(busid: "1-2", address: 6)
        strings.forget(keeping: [.init(busid: "1-2", address: 6)])
        #expect(strings.count == 1)
        // 1-1's strings are read afresh when it is listed again.
        try "B2\n".write(toFile: "\(root)/1-1/serial", atomically: false, encoding: .utf8)
        #expect(strings.strings(busid: "1-1", address: 5).serial == "B2")
        #expect(strings.strings(busid: "1-2", address: 6).serial == "C3")
    }
}
