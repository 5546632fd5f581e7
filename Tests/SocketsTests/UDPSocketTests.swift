import OSThreads
import Sockets
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// glibc's unshare(2), which Swift's Glibc module leaves out (it needs _GNU_SOURCE).
@_silgen_name("unshare") private func unshare(_ flags: Int32) -> Int32
private let newNetworkNamespace: Int32 = 0x4000_0000  // CLONE_NEWNET, linux/sched.h

@Suite struct UDPSocketTests {
    @Test func loopbackHasARoute() {
        #expect(UDPSocket.hasRoute(to: Endpoint(host: "127.0.0.1", port: 9)))
    }

    /// A thread of its own in a new network namespace (needs root): only a loopback
    /// interface, down, so no route to anything, as on a machine before its network is up.
    @Test(.enabled(if: geteuid() == 0, "a new network namespace needs root"))
    func aMachineWithoutANetworkHasNoRouteToTheSSDPGroup() throws {
        let seen = Mutex<(unshared: Bool, routed: Bool)?>(nil)
        let thread = try OSThread.start(name: "no-network") {
            let unshared = unshare(newNetworkNamespace) == 0
            seen.withLock {
                $0 = (unshared, UDPSocket.hasRoute(to: Endpoint(host: "239.255.255.250", port: 1900)))
            }
        }
        thread.join()
        let result = try #require(seen.withLock { $0 })
        try #require(result.unshared, "unshare(CLONE_NEWNET) failed")
        #expect(!result.routed)
    }
}
