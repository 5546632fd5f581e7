import FileSystem
import TestSupport
import Testing

@testable import Exporter

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct ImportKeeperTests {
    /// A stand-in for sysfs: `DIR/1-1/devnum` holding `number`.
    private func fakeSysfs(_ name: String, number: String) throws -> String {
        let dir = "/tmp/usbp2p-keeper-\(getpid())-\(name)"
        try AtomicFile.createDirectory(dir, mode: 0o700)
        try AtomicFile.createDirectory("\(dir)/1-1", mode: 0o700)
        try AtomicFile.write(Array(number.utf8), to: "\(dir)/1-1/devnum", mode: 0o644)
        return dir
    }

    private func remove(_ dir: String) {
        unlink("\(dir)/1-1/devnum")
        rmdir("\(dir)/1-1")
        rmdir(dir)
    }

    /// A keeper of device 1-1 (number `devnum`) in `dir`, with an hour between looks (so
    /// only `checkNow` makes it look in a test's time), and what it reports.
    private func keeper(devnum: UInt8, in dir: String) throws -> (
        keeper: ImportKeeper, gone: Observed<Bool>, ended: Observed<String?>
    ) {
        let gone = Observed(false)
        let ended = Observed<String?>(nil)
        let keeper = try ImportKeeper(
            busid: "1-1", devnum: devnum, sysfs: dir, interval: 3600, gone: { gone.update { $0 = true } },
            end: { reason in ended.update { $0 = reason } })
        return (keeper, gone, ended)
    }

    @Test func aDeviceLeavingIsSeenAtOnceWhenAHotplugEventAsks() throws {
        let dir = try fakeSysfs("hotplug", number: "5\n")
        defer { remove(dir) }
        let (keeper, gone, ended) = try keeper(devnum: 5, in: dir)
        // Unplugged and something else got the address: another device number.
        try AtomicFile.write(Array("6\n".utf8), to: "\(dir)/1-1/devnum", mode: 0o644)
        keeper.checkNow()
        #expect(ended.wait { $0 != nil })
        #expect(gone.current)
        #expect(ended.current == "1-1 is gone")
        keeper.waitUntilEnded()
    }

    @Test func aDeviceStillThereKeepsItsImportUntilAskedToEnd() throws {
        let dir = try fakeSysfs("present", number: "7\n")
        defer { remove(dir) }
        let (keeper, gone, ended) = try keeper(devnum: 7, in: dir)
        keeper.checkNow()
        keeper.checkNow()
        keeper.finish("client closed the connection")
        keeper.finish("a second reason does not count")
        keeper.waitUntilEnded()
        #expect(!gone.current)
        #expect(ended.current == "client closed the connection")
    }
}
