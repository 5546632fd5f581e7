import Foundation
import Sockets

/// A small deterministic random generator (SplitMix64), so a randomized test that fails
/// reproduces from its seed.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A fresh, empty directory under the temporary directory, for one test.
public func scratchDirectory(_ purpose: String = "test") -> String {
    let path = NSTemporaryDirectory() + "usbp2p-\(purpose)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago, for a server the test
/// starts as a separate program (whose configuration needs a port number). The kernel
/// hands out ports it has not given recently, so a second call gives another one.
public func unusedLoopbackPort() throws -> Int {
    let listener = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
    defer { listener.socket.close() }
    return Int(listener.endpoint.port)
}
