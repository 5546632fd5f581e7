import Identity

// Which paired peers may use which devices (usbp2pd's [access] table):
//
//   [access]
//   default = "deny"                   # or "allow" (the default): what no rule decides
//   rules = [
//     "allow fzq3…(EndpointId)  046d:c52b",     # one peer, one vendor:product
//     "allow *  serial=A1B2C3",                 # every paired peer, one serial number
//     "deny  *  port=1-1.3",                    # nobody, the device on that port
//     "allow *  0781:*",                        # every product of one vendor
//   ]
//
// Rules are tried in order; the first whose peer and device both match decides. A device
// a peer may not use is not in the list that peer gets, and its import is refused as if
// it did not exist.

/// What a rule can match a device by.
public struct DeviceFacts: Equatable, Sendable {
    public let busid: String
    public let vendor: UInt16
    public let product: UInt16
    public let serial: String?

    public init(busid: String, vendor: UInt16, product: UInt16, serial: String?) {
        self.busid = busid
        self.vendor = vendor
        self.product = product
        self.serial = serial
    }
}

public struct AccessPolicy: Equatable, Sendable {
    public enum Verdict: String, Sendable { case allow, deny }

    public enum PeerMatch: Equatable, Sendable {
        case any
        case id(EndpointId)
    }

    public enum DeviceMatch: Equatable, Sendable {
        case any
        case ids(vendor: UInt16, product: UInt16?)
        case serial(String)
        case port(String)

        func matches(_ device: DeviceFacts) -> Bool {
            switch self {
            case .any: true
            case .ids(let vendor, let product): device.vendor == vendor && (product == nil || device.product == product)
            case .serial(let serial): device.serial == serial
            case .port(let busid): device.busid == busid
            }
        }
    }

    public struct Rule: Equatable, Sendable {
        public let verdict: Verdict
        public let peer: PeerMatch
        public let device: DeviceMatch
    }

    public let defaultVerdict: Verdict
    public let rules: [Rule]

    /// Everyone paired may use everything: the policy when none is configured.
    public static let allowAll = AccessPolicy(defaultVerdict: .allow, rules: [])

    public init(defaultVerdict: Verdict, rules: [Rule]) {
        self.defaultVerdict = defaultVerdict
        self.rules = rules
    }

    /// Parses `default` and the rule lines; the error names the rule and what is wrong.
    public init(default text: String, rules lines: [String]) throws(AccessPolicyError) {
        guard let verdict = Verdict(rawValue: text) else { throw .badDefault(text) }
        defaultVerdict = verdict
        rules = try lines.enumerated().map { index, line throws(AccessPolicyError) in
            try Self.parseRule(line, number: index + 1)
        }
    }

    public func allows(_ peer: EndpointId, _ device: DeviceFacts) -> Bool {
        for rule in rules {
            let peerMatches =
                switch rule.peer {
                case .any: true
                case .id(let id): id == peer
                }
            if peerMatches && rule.device.matches(device) { return rule.verdict == .allow }
        }
        return defaultVerdict == .allow
    }

    static func parseRule(_ line: String, number: Int) throws(AccessPolicyError) -> Rule {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard words.count == 3 else { throw .badRule(number, line, "expected three words: allow|deny PEER DEVICE") }
        guard let verdict = Verdict(rawValue: words[0]) else {
            throw .badRule(number, line, "'\(words[0])' is neither allow nor deny")
        }
        let peer: PeerMatch
        if words[1] == "*" {
            peer = .any
        } else {
            do throws(EndpointIdError) { peer = .id(try EndpointId(parsing: words[1])) } catch {
                throw .badRule(number, line, "the peer must be * or an EndpointId: \(error)")
            }
        }
        return Rule(verdict: verdict, peer: peer, device: try parseDevice(words[2], number: number, line: line))
    }

    static func parseDevice(_ word: String, number: Int, line: String) throws(AccessPolicyError) -> DeviceMatch {
        if word == "*" { return .any }
        if word.hasPrefix("serial=") {
            let serial = String(word.dropFirst("serial=".count))
            guard !serial.isEmpty else { throw .badRule(number, line, "serial= needs a serial number") }
            return .serial(serial)
        }
        if word.hasPrefix("port=") {
            let busid = String(word.dropFirst("port=".count))
            guard !busid.isEmpty, busid.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == ".") }) else {
                throw .badRule(number, line, "port= needs a bus id like 1-1 or 3-2.4")
            }
            return .port(busid)
        }
        let parts = word.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, let vendor = UInt16(parts[0], radix: 16),
            parts[1] == "*" || (parts[1].count == 4 && UInt16(parts[1], radix: 16) != nil)
        else {
            throw .badRule(
                number, line, "'\(word)' is not a device: use *, VVVV:PPPP (hex; PPPP may be *), serial=... or port=..."
            )
        }
        return .ids(vendor: vendor, product: parts[1] == "*" ? nil : UInt16(parts[1], radix: 16))
    }
}

public enum AccessPolicyError: Error, Equatable, Sendable, CustomStringConvertible {
    case badDefault(String)
    case badRule(Int, String, String)

    public var description: String {
        switch self {
        case .badDefault(let text): "expected \"allow\" or \"deny\" (got \"\(text)\")"
        case .badRule(let number, let line, let why): "rule \(number) (\"\(line)\"): \(why)"
        }
    }
}
