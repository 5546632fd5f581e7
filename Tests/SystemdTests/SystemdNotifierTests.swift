import Sockets
import Systemd
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct SystemdNotifierTests {
    @Test func theWatchdogIntervalIsReadOnlyWhenItIsMeantForThisProcess() {
        #expect(SystemdNotifier.watchdogInterval(microseconds: "6000000", pid: nil, ownPid: 42) == 6)
        #expect(SystemdNotifier.watchdogInterval(microseconds: "6000000", pid: "42", ownPid: 42) == 6)
        #expect(SystemdNotifier.watchdogInterval(microseconds: "6000000", pid: "41", ownPid: 42) == nil)
        #expect(SystemdNotifier.watchdogInterval(microseconds: "0", pid: nil, ownPid: 42) == nil)
        #expect(SystemdNotifier.watchdogInterval(microseconds: "soon", pid: nil, ownPid: 42) == nil)
        #expect(SystemdNotifier.watchdogInterval(microseconds: nil, pid: nil, ownPid: 42) == nil)
    }

    @Test func messagesAreOneKeyValueLineEachWithNewlinesInValuesFlattened() {
        #expect(SystemdNotifier.message([("READY", "1"), ("STATUS", "two\nlines")]) == "READY=1\nSTATUS=two lines\n")
    }

    @Test func withoutNotifySocketNothingIsSent() {
        let notifier = SystemdNotifier(environment: [:])
        #expect(notifier.socketPath == nil)
        #expect(notifier.notify([("READY", "1")]) == nil)
    }

    @Test func aDatagramReachesTheNotifySocketInTheAbstractNamespace() throws {
        let name = "@usbp2p-test-notify-\(getpid())"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = [UInt8(0)] + Array(name.utf8.dropFirst())
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        #expect(bound == 0)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": name])
        notifier.ready(status: "serving")
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        #expect(n > 0)
        #expect(String(decoding: buffer[0..<max(0, n)], as: UTF8.self) == "READY=1\nSTATUS=serving\n")
    }
}
