import Log
import OSThreads
import Sockets
import Synchronization

/// DNS-SD over multicast DNS (RFC 6762, RFC 6763) for one service type, `_usbp2p._tcp`:
/// a server announces its session listener with its EndpointId in TXT (`id=…`), a client
/// on the same LAN finds the server it wants by that id. What mDNS says is not trusted:
/// the client's TLS handshake still pins the EndpointId, so a false answer costs one
/// failed connection attempt, never a session with the wrong machine.
public enum MDNS {
    public static let serviceType = "_usbp2p._tcp.local"
    public static let group = Endpoint(host: "224.0.0.251", port: 5353)
    /// TTL of answers to legacy unicast queries (RFC 6762 §6.7: at most 10 s).
    static let unicastTTL: UInt32 = 10
    static let multicastTTL: UInt32 = 120

    /// The instance and host names a server with this EndpointId uses.
    public static func names(for id: String) -> (instance: String, host: String) {
        let short = String(id.prefix(12))
        return ("usbp2p-\(short).\(serviceType)", "usbp2p-\(short).local")
    }
}

/// Answers mDNS queries for this server's `_usbp2p._tcp` instance on every IPv4 interface.
public final class MDNSAdvertiser: @unchecked Sendable {
    private let id: String
    private let port: UInt16
    private let logger: Logger
    private let noisy = LogRateLimit(clock: monotonicSeconds)
    private let socket: UDPSocket
    private let stopped = Atomic<Bool>(false)
    private var thread: OSThread?
    /// Responses sent in the current second, and which second.
    private var budget = (second: 0, sent: 0)
    static let maxResponsesPerSecond = 20

    /// Answers give the machine's IPv4 addresses as they are at that moment (a new DHCP
    /// lease is picked up). Tests answer on another port and join no group (so that they
    /// send nothing to the machine's networks).
    public init(
        id: String, port: UInt16, logger: Logger, listenPort: UInt16 = MDNS.group.port, joinGroup: Bool = true
    ) throws {
        self.id = id
        self.port = port
        self.logger = logger
        socket = try UDPSocket(port: listenPort, shared: true)
        socket.setMulticast(ttl: 255)
        var joined = 0
        for address in joinGroup ? NetworkInterfaces.ipv4Addresses(includingLoopback: false) : [] {
            do {
                try socket.join(group: MDNS.group.host, interface: address)
                joined += 1
            } catch { logger.info("mDNS: not on the LAN of \(address): \(error)") }
        }
        if joined == 0, joinGroup { logger.info("mDNS: no interface to answer on yet") }
    }

    /// The UDP port answered on (5353 but in tests).
    public var boundPort: UInt16 { socket.port }

    public func start() {
        let (instance, _) = MDNS.names(for: id)
        logger.notice("mDNS: answering for \(instance) (port \(port))")
        do { thread = try OSThread.start(name: "mdns") { [self] in run() } } catch {
            logger.warning("mDNS: not answering: \(error)")
        }
    }

    public func stop() {
        stopped.store(true, ordering: .relaxed)
        socket.shutdown()
        thread?.join()
    }

    private func run() {
        while !stopped.load(ordering: .relaxed) {
            guard let (bytes, from) = try? socket.receive(maxLength: DNSMessage.maxLength, within: 1) else { continue }
            // Only this link's hosts may ask (RFC 6762, section 11): a query routed in from
            // elsewhere would make this responder an amplifier and a scanner's oracle.
            guard NetworkInterfaces.isOnLink(from.host, subnets: NetworkInterfaces.ipv4Subnets()) else {
                noisy.log(logger, .info, kind: "off-link", "mDNS: ignored a query from \(from), not on this link")
                continue
            }
            guard let query = try? DNSMessage(decoding: bytes), !query.isResponse else { continue }
            guard let reply = answer(to: query, from: from) else { continue }
            let now = Int(monotonicSeconds())
            if budget.second != now { budget = (now, 0) }
            guard budget.sent < Self.maxResponsesPerSecond else { continue }
            budget.sent += 1
            try? socket.send(reply.message.encoded, to: reply.destination)
        }
    }

    /// The response to a query that asks about this instance, and where it goes: to the
    /// querier's own port for a legacy unicast query (source port not 5353) or one that
    /// asks for a unicast answer, else to the group.
    func answer(to query: DNSMessage, from: Endpoint) -> (message: DNSMessage, destination: Endpoint)? {
        let (instance, host) = MDNS.names(for: id)
        let asked = query.questions.contains { question in
            switch question.type {
            case DNSType.ptr: question.name.lowercased() == MDNS.serviceType
            case DNSType.srv, DNSType.txt: question.name.lowercased() == instance.lowercased()
            case DNSType.a: question.name.lowercased() == host.lowercased()
            case DNSType.any:
                [MDNS.serviceType, instance.lowercased(), host.lowercased()].contains(question.name.lowercased())
            default: false
            }
        }
        guard asked else { return nil }
        let legacy = from.port != MDNS.group.port
        let unicast = legacy || query.questions.contains(where: \.unicastResponse)
        let ttl = legacy ? MDNS.unicastTTL : MDNS.multicastTTL
        let addresses = NetworkInterfaces.ipv4Addresses().compactMap { Endpoint(host: $0, port: 0).addressBytes }
        let message = DNSMessage(
            id: legacy ? query.id : 0, isResponse: true, questions: legacy ? query.questions : [],
            answers: [
                DNSRecord(name: MDNS.serviceType, ttl: ttl, data: .ptr(instance)),
                DNSRecord(name: instance, ttl: ttl, data: .srv(priority: 0, weight: 0, port: port, target: host)),
                DNSRecord(name: instance, ttl: ttl, data: .txt(["id=\(id)", "v=1"])),
            ],
            additional: addresses.map { DNSRecord(name: host, ttl: ttl, data: .a($0)) })
        return (message, unicast ? from : MDNS.group)
    }
}

/// Finds a server on the LAN by its EndpointId.
public enum MDNSBrowser {
    /// Asks on every IPv4 interface for `_usbp2p._tcp` instances and returns the
    /// addresses of the one whose TXT says `id=<id>`, as soon as an answer names them;
    /// empty after `seconds` without one. `target` replaces the multicast group (tests).
    public static func find(id: String, within seconds: Double, target: Endpoint = MDNS.group) -> [Endpoint] {
        guard let socket = try? UDPSocket(port: 0) else { return [] }
        socket.setMulticast(ttl: 255)
        let query = DNSMessage(
            id: UInt16.random(in: 1...UInt16.max), questions: [DNSQuestion(name: MDNS.serviceType, type: DNSType.ptr)])
        func ask() {
            let interfaces = NetworkInterfaces.ipv4Addresses()
            if target != MDNS.group || interfaces.isEmpty {
                try? socket.send(query.encoded, to: target)
                return
            }
            for interface in interfaces {
                guard (try? socket.setMulticastInterface(interface)) != nil else { continue }
                try? socket.send(query.encoded, to: target)
            }
        }
        var records: [DNSRecord] = []
        let deadline = monotonicSeconds() + seconds
        var nextQuery = monotonicSeconds()
        while monotonicSeconds() < deadline {
            if monotonicSeconds() >= nextQuery {
                ask()
                nextQuery = monotonicSeconds() + 0.5
            }
            let wait = min(deadline, nextQuery) - monotonicSeconds()
            guard let (bytes, _) = try? socket.receive(maxLength: DNSMessage.maxLength, within: wait),
                let message = try? DNSMessage(decoding: bytes), message.isResponse
            else { continue }
            records += message.answers + message.additional
            if records.count > 256 { records.removeFirst(records.count - 256) }  // bounded, whoever answers
            let found = endpoints(of: id, in: records)
            if !found.isEmpty { return found }
        }
        return []
    }

    /// The addresses that the records give for the instance whose TXT carries `id`.
    static func endpoints(of id: String, in records: [DNSRecord]) -> [Endpoint] {
        let instances = records.compactMap { record -> String? in
            guard case .txt(let strings) = record.data, strings.contains("id=\(id)") else { return nil }
            return record.name.lowercased()
        }
        var found: [Endpoint] = []
        for instance in Set(instances) {
            for case .srv(_, _, let port, let target) in records.filter({ $0.name.lowercased() == instance }).map(
                \.data)
            where port != 0 {
                for case .a(let address) in records.filter({ $0.name.lowercased() == target.lowercased() }).map(\.data)
                {
                    if let endpoint = Endpoint(addressBytes: address, port: port), !found.contains(endpoint) {
                        found.append(endpoint)
                    }
                }
            }
        }
        return found
    }
}
