import Foundation
import TestSupport
import Testing

@testable import Exporter

/// Which USB devices this machine uses itself, read from a fake sysfs and proc tree laid
/// out as the kernel lays out the real ones.
@Suite struct SystemDevicesTests {
    /// A machine with: 1-1 holding the root filesystem, 1-2 a network adapter, 1-3 a disk
    /// under a device-mapper device mounted at a path with a space, 1-5 a swap partition,
    /// 1-4 and 1-10 unused sticks (1-10 shares 1-1's first characters).
    func machine() throws -> (sys: String, proc: String) {
        let root = scratchDirectory("system-devices")
        let sys = root + "/sys"
        let proc = root + "/proc"
        let usb = sys + "/devices/pci0000:00/usb1"
        let files = FileManager.default
        func directory(_ path: String) throws {
            try files.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        func put(_ text: String, _ path: String) throws {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
        }
        func link(_ path: String, to target: String) throws {
            try directory((path as NSString).deletingLastPathComponent)
            try files.createSymbolicLink(atPath: path, withDestinationPath: target)
        }
        for busid in ["1-1", "1-2", "1-3", "1-4", "1-5", "1-10"] {
            try directory("\(usb)/\(busid)/\(busid):1.0")
            try link("\(sys)/bus/usb/devices/\(busid)", to: "\(usb)/\(busid)")
        }
        let sda1 = "\(usb)/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda/sda1"
        try directory(sda1)
        try link("\(sys)/dev/block/8:1", to: sda1)
        try directory("\(usb)/1-2/1-2:1.0/net/usb0")
        try link("\(sys)/class/net/usb0/device", to: "\(usb)/1-2/1-2:1.0")
        try directory("\(sys)/class/net/lo")  // no device: not USB
        let sdb1 = "\(usb)/1-3/1-3:1.0/host1/target1:0:0/1:0:0:0/block/sdb/sdb1"
        try directory(sdb1)
        let dm = sys + "/devices/virtual/block/dm-0"
        try link("\(dm)/slaves/sdb1", to: sdb1)
        try link("\(sys)/dev/block/253:0", to: dm)
        let sdc2 = "\(usb)/1-5/1-5:1.0/host2/target2:0:0/2:0:0:0/block/sdc/sdc2"
        try directory(sdc2)
        try link("\(sys)/class/block/sdc2", to: sdc2)
        try directory(proc + "/self")
        try put(
            """
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
            23 22 0:22 / /proc rw,nosuid shared:12 - proc proc rw
            30 22 253:0 / /var/lib/usb\\040p2p rw,relatime shared:5 - ext4 /dev/mapper/state rw
            31 22 8:99 / /mnt/gone rw - ext4 /dev/sdz9 rw

            """, proc + "/self/mountinfo")
        try put(
            """
            Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
            /dev/sdc2                               partition\t1048572\t\t0\t\t-2
            /swapfile                               file\t\t1048572\t\t0\t\t-3

            """, proc + "/swaps")
        return (sys, proc)
    }

    @Test func aDiskHoldingAMountedFilesystemIsThisMachinesOwn() throws {
        let (sys, proc) = try machine()
        let own = SystemDevices(sys: sys, proc: proc)
        #expect(own.reason(busid: "1-1", sys: sys) == "the filesystem mounted at / is on it")
    }

    @Test func aDiskUnderAMountedDeviceMapperDeviceIsThisMachinesOwn() throws {
        let (sys, proc) = try machine()
        let own = SystemDevices(sys: sys, proc: proc)
        #expect(own.reason(busid: "1-3", sys: sys) == "the filesystem mounted at /var/lib/usb p2p is on it")
    }

    @Test func aNetworkAdapterAndASwapDiskAreThisMachinesOwn() throws {
        let (sys, proc) = try machine()
        let own = SystemDevices(sys: sys, proc: proc)
        #expect(own.reason(busid: "1-2", sys: sys) == "it is this machine's network interface usb0")
        #expect(own.reason(busid: "1-5", sys: sys) == "this machine swaps to it")
    }

    @Test func unusedDevicesAndOnesWhoseBusIdMerelyStartsTheSameAreOffered() throws {
        let (sys, proc) = try machine()
        let own = SystemDevices(sys: sys, proc: proc)
        #expect(own.reason(busid: "1-4", sys: sys) == nil)
        #expect(own.reason(busid: "1-10", sys: sys) == nil)
        #expect(own.reason(busid: "9-9", sys: sys) == nil)  // no such device
    }

    @Test func withoutProcAndSysNothingIsKnownToBeInUse() {
        let own = SystemDevices(sys: "/nonexistent/sys", proc: "/nonexistent/proc")
        #expect(own.used.isEmpty)
    }

    @Test func malformedMountinfoLinesAreSkipped() {
        let mounts = SystemDevices.mounts(
            "garbage\n1 2 x:y / / rw - ext4 a b\n1 2 8:1\n\n7 1 8:2 / /boot rw - vfat /dev/sda2 rw\n")
        #expect(mounts.map(\.mountPoint) == ["/boot"])
    }
}
