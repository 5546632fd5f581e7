import Identity

/// Everything that decides whether a paired laptop may use a device, at one moment: the
/// access rules (the administrator's, in the configuration), the owner and the sharing
/// state (the owner's). The owner uses every device the rules allow; the others use what
/// is shared with them and the rules allow.
public struct DeviceAccess: Equatable, Sendable {
    public let policy: AccessPolicy
    public let sharing: SharingState
    public let newDevices: NewDevices
    /// The owner in effect: the one set by hand while it is on the allowlist, else the
    /// first laptop on the allowlist (the first one paired); nil while nobody is paired.
    public let owner: EndpointId?

    public init(policy: AccessPolicy, sharing: SharingState, newDevices: NewDevices, allowlist: [EndpointId]) {
        self.policy = policy
        self.sharing = sharing
        self.newDevices = newDevices
        owner = Self.owner(sharing, allowlist: allowlist)
    }

    /// The owner in effect for `sharing` and `allowlist` (see `owner`).
    public static func owner(_ sharing: SharingState, allowlist: [EndpointId]) -> EndpointId? {
        if let chosen = sharing.owner, allowlist.contains(chosen) { return chosen }
        return allowlist.first
    }

    /// With whom `device` is shared (a device the file does not name is new).
    public func share(of device: DeviceFacts) -> Share {
        sharing.share(of: DeviceKey(device)) ?? newDevices.share
    }

    public func allows(_ peer: EndpointId, _ device: DeviceFacts) -> Bool {
        guard policy.allows(peer, device) else { return false }
        if peer == owner { return true }
        switch share(of: device) {
        case .unshared: return false
        case .everyone: return true
        case .only(let ids): return ids.contains(peer)
        }
    }
}

/// A change the owner (or root on the Pi) asks for.
public enum SharingRequest: Equatable, Sendable {
    /// With everyone paired (nil), or with these laptops besides those it is shared with.
    case share(device: String, with: [EndpointId]?)
    case unshare(device: String)
    case setOwner(EndpointId)

    /// Applies the request to `state`; `devices` are those plugged in now (a device is
    /// named by its bus id or, when only one such is plugged in, its VVVV:PPPP), and
    /// `allowlist` who is paired. Returns what was done, in words for the person who asked.
    public func apply(
        to state: inout SharingState, devices: [DeviceFacts], allowlist: [EndpointId], newDevices: NewDevices
    ) throws(SharingRequestError) -> String {
        switch self {
        case .setOwner(let id):
            guard allowlist.contains(id) else { throw .notPaired(id) }
            state.owner = id
            return "\(id) is the owner now"
        case .unshare(let word):
            let (key, device) = try Self.resolve(word, among: devices)
            state.set(key, .unshared)
            return "unshared \(device.busid) (\(key)): only the owner uses it now"
        case .share(let word, let ids):
            let (key, device) = try Self.resolve(word, among: devices)
            guard let ids else {
                state.set(key, .everyone)
                return "shared \(device.busid) (\(key)) with every paired laptop"
            }
            for id in ids where !allowlist.contains(id) { throw .notPaired(id) }
            let current = state.share(of: key) ?? newDevices.share
            if current == .everyone { return "\(device.busid) (\(key)) is already shared with every paired laptop" }
            var with: [EndpointId] = []
            if case .only(let before) = current { with = before }
            for id in ids where !with.contains(id) { with.append(id) }
            state.set(key, .only(with))
            return "shared \(device.busid) (\(key)) with \(with.count) laptop(s)"
        }
    }

    /// The device `word` names among `devices`.
    static func resolve(_ word: String, among devices: [DeviceFacts]) throws(SharingRequestError) -> (
        DeviceKey, DeviceFacts
    ) {
        if let device = devices.first(where: { $0.busid == word }) { return (DeviceKey(device), device) }
        let parts = word.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 4, let vendor = UInt16(parts[0], radix: 16),
            let product = UInt16(parts[1], radix: 16)
        else { throw .noSuchDevice(word) }
        let matching = devices.filter { $0.vendor == vendor && $0.product == product }
        guard let first = matching.first else { throw .noSuchDevice(word) }
        guard matching.count == 1 else { throw .ambiguous(word, matching.map(\.busid)) }
        return (DeviceKey(first), first)
    }
}

public enum SharingRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    case noSuchDevice(String)
    case ambiguous(String, [String])
    case notPaired(EndpointId)
    case notOwner

    public var description: String {
        switch self {
        case .noSuchDevice(let word):
            "no device '\(word)' is plugged in (name it by its bus id, e.g. 1-1, or its VVVV:PPPP)"
        case .ambiguous(let word, let busids):
            "\(busids.count) devices are \(word) (\(busids.joined(separator: ", "))): name one by its bus id"
        case .notPaired(let id): "\(id) is not paired with this server (not on its allowlist)"
        case .notOwner: "only the owner of this server may change what it shares"
        }
    }
}
