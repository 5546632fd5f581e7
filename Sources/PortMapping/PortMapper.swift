import CMiniUPnPc
import CNatPMP
import Log
import OSThreads
import Sockets

/// A TCP port this host's router forwards to it.
public struct PortMapping: Equatable, Sendable, CustomStringConvertible {
    public enum Method: String, Sendable {
        case natPMP = "NAT-PMP"
        case upnp = "UPnP-IGD"
    }
    /// Where the internet reaches the port.
    public let publicEndpoint: Endpoint
    public let localPort: UInt16
    /// Seconds the router keeps it without a renewal.
    public let lifetime: UInt32
    public let method: Method

    public var description: String {
        "\(publicEndpoint) → port \(localPort) (\(method.rawValue), \(lifetime) s)"
    }
}

/// Every way tried, and why each failed.
public struct PortMappingFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public let errors: [PortMappingError]
    public var description: String { errors.map(\.description).joined(separator: "; ") }
}

/// Why the router did not map a port.
public enum PortMappingError: Error, Equatable, Sendable, CustomStringConvertible {
    case natPMP(Int32)
    case upnp(Int32)

    public var description: String {
        switch self {
        case .natPMP(let code):
            code == Int32(USBP2P_NATPMP_TIMEOUT)
                ? "NAT-PMP: no answer from the gateway" : "NAT-PMP: error \(code)"
        case .upnp(-1): "UPnP-IGD: no gateway found"
        case .upnp(-5): "UPnP-IGD: no route to the network (no address or default route yet)"
        case .upnp(let code): "UPnP-IGD: the gateway refused (\(code))"
        }
    }
}

/// Asks the router for a TCP port mapping: NAT-PMP (RFC 6886, libnatpmp) first, then
/// UPnP-IGD (miniupnpc), each bounded in time. The mapping keeps the local port number
/// where the router allows, so the relay sees the same public port.
public enum PortMapper {
    /// How long one NAT-PMP exchange may take: the library's retries (250 ms, doubling)
    /// for 4 s; a router must set up its forwarding before it answers, and a gateway that
    /// does not speak NAT-PMP usually refuses at once (ICMP) or stays silent.
    public static let natPMPMilliseconds: Int32 = 4000
    /// How long UPnP discovery (SSDP) waits for gateways.
    public static let discoveryMilliseconds: Int32 = 1500

    public static func map(port: UInt16, lifetime: UInt32) -> Result<PortMapping, PortMappingFailure> {
        var errors: [PortMappingError] = []
        switch natPMPMap(port: port, lifetime: lifetime) {
        case .success(let mapping): return .success(mapping)
        case .failure(let error): errors.append(error)
        }
        switch upnpMap(port: port, lifetime: lifetime) {
        case .success(let mapping): return .success(mapping)
        case .failure(let error): errors.append(error)
        }
        return .failure(PortMappingFailure(errors: errors))
    }

    /// Removes a mapping (best effort: a router that went away keeps it until it expires).
    public static func unmap(_ mapping: PortMapping) {
        switch mapping.method {
        case .natPMP:
            var response = natpmpresp_t()
            // RFC 6886 §3.4: a lifetime of 0 (and external port 0) deletes the mapping.
            _ = usbp2p_natpmp_exchange(
                Int32(USBP2P_NATPMP_MAP_TCP), mapping.localPort, 0, 0, natPMPMilliseconds, &response)
        case .upnp:
            _ = usbp2p_upnp_unmap(discoveryMilliseconds, mapping.publicEndpoint.port)
        }
    }

    static func natPMPMap(port: UInt16, lifetime: UInt32) -> Result<PortMapping, PortMappingError> {
        var response = natpmpresp_t()
        var r = usbp2p_natpmp_exchange(
            Int32(USBP2P_NATPMP_PUBLIC_ADDRESS), 0, 0, 0, natPMPMilliseconds, &response)
        guard r >= 0 else { return .failure(.natPMP(r)) }
        let address = withUnsafeBytes(of: usbp2p_natpmp_public_address(&response)) { Array($0) }
        r = usbp2p_natpmp_exchange(
            Int32(USBP2P_NATPMP_MAP_TCP), port, port, lifetime, natPMPMilliseconds, &response)
        guard r >= 0 else { return .failure(.natPMP(r)) }
        let mapped = usbp2p_natpmp_mapped_port(&response)
        guard mapped != 0, let endpoint = Endpoint(addressBytes: address, port: mapped) else {
            return .failure(.natPMP(-1))
        }
        return .success(
            PortMapping(
                publicEndpoint: endpoint, localPort: port, lifetime: usbp2p_natpmp_lifetime(&response),
                method: .natPMP))
    }

    /// Where UPnP discovery (SSDP) asks for gateways.
    static let ssdpGroup = Endpoint(host: "239.255.255.250", port: 1900)

    static func upnpMap(port: UInt16, lifetime: UInt32) -> Result<PortMapping, PortMappingError> {
        // Without a route miniupnpc prints "sendto: Network is unreachable" to stderr (the
        // journal) once per kind of gateway it looks for, with no context; that is said here.
        guard UDPSocket.hasRoute(to: ssdpGroup) else { return .failure(.upnp(-5)) }
        var lan = [CChar](repeating: 0, count: 16)
        var external = [CChar](repeating: 0, count: 16)
        let r = usbp2p_upnp_map(discoveryMilliseconds, port, lifetime, &lan, &external)
        guard r == 0 else { return .failure(.upnp(r)) }
        let host = String(decoding: external.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard Endpoint(host: host, port: port).addressBytes != nil else { return .failure(.upnp(-4)) }
        return .success(
            PortMapping(
                publicEndpoint: Endpoint(host: host, port: port), localPort: port, lifetime: lifetime, method: .upnp))
    }
}

/// Keeps a port mapped while the service runs: maps it at start, renews it at half its
/// lifetime, tries again later when no router answers (a network change may bring one),
/// and removes it on stop.
public final class PortMappingKeeper: @unchecked Sendable {
    private let port: UInt16
    private let lifetime: UInt32
    private let logger: Logger
    private let monitor = Monitor()
    private var mapping: PortMapping?
    private var stopped = false
    private var thread: OSThread?

    /// After a failure, the next try waits this long at first, doubling to `retryCap`:
    /// soon, because a busy router (or one that was still booting) often answers the
    /// second time, and a NAT-PMP exchange is a few small packets.
    static let retryInitial = 5.0
    static let retryCap = 1800.0

    public init(port: UInt16, lifetime: UInt32 = 7200, logger: Logger) {
        self.port = port
        self.lifetime = lifetime
        self.logger = logger
    }

    public var current: PortMapping? { monitor.withLock { mapping } }

    public func start() {
        do { thread = try OSThread.start(name: "port-mapping") { [self] in run() } } catch {
            logger.warning("port mapping: not kept: \(error)")
        }
    }

    public func stop() {
        monitor.withLock {
            stopped = true
            monitor.broadcast()
        }
        // After the join: a mapping made while stopping is removed too.
        thread?.join()
        if let last = monitor.withLock({ mapping }) {
            PortMapper.unmap(last)
            logger.info("port mapping \(last.publicEndpoint) removed")
        }
    }

    private func run() {
        var retry = Self.retryInitial
        var announcedFailure = false
        while !monitor.withLock({ stopped }) {
            let delay: Double
            switch PortMapper.map(port: port, lifetime: lifetime) {
            case .success(let fresh):
                let previous = monitor.withLock {
                    defer { mapping = fresh }
                    return mapping
                }
                if previous?.publicEndpoint != fresh.publicEndpoint { logger.notice("port mapping: \(fresh)") }
                retry = Self.retryInitial
                announcedFailure = false
                delay = max(30, Double(fresh.lifetime) / 2)
            case .failure(let failure):
                monitor.withLock { mapping = nil }
                let text = failure.description
                if announcedFailure {
                    logger.debug("no port mapping: \(text)")
                } else {
                    logger.info("no port mapping: \(text)")
                }
                announcedFailure = true
                delay = retry
                retry = min(retry * 2, Self.retryCap)
            }
            let until = monotonicSeconds() + delay
            _ = monitor.withLock { monitor.wait(until: until) { stopped } }
        }
    }
}
