import AccessPolicy
import Audit
import Config
import FileSystem
import Identity
import Log
import Synchronization
import USBHost

/// Who may use which device, as the files say now: the access rules (usbp2pd.toml's
/// [access]), the allowlist (which also makes the owner) and the sharing state. Each is
/// read again when its file changes (`refresh`, on every health tick, and at once after
/// a change this service makes itself); a file that no longer reads keeps its last good
/// content in effect, and says why in the journal.
final class LiveAccess: Sendable {
    let configPath: String
    let allowlistPath: String
    let sharingPath: String
    private let logger: Logger
    private let audit: AuditLog
    private let current: Mutex<DeviceAccess>
    private let known: Mutex<Known>

    /// The files' versions and last good contents.
    private struct Known {
        var versions: [FileVersion?]
        var policy: AccessPolicy
        var newDevices: NewDevices
        var allowlist: [EndpointId]
        var sharing: SharingState
    }

    /// What changed in one refresh.
    struct Change {
        let before: DeviceAccess
        let after: DeviceAccess
        /// The laptops that left the allowlist.
        let removed: [EndpointId]
    }

    /// Reads all three; a broken one here stops the start (the service must not run on
    /// rules it cannot read).
    init(config: ConfigFile, configPath: String, audit: AuditLog, logger: Logger) throws {
        self.configPath = configPath
        self.audit = audit
        let state = config.string("state_directory")
        allowlistPath = "\(state)/allowlist"
        sharingPath = "\(state)/sharing"
        self.logger = logger
        let versions = [configPath, allowlistPath, sharingPath].map(AtomicFile.version(of:))
        let policy = try AccessPolicy(default: config.string("access.default"), rules: config.strings("access.rules"))
        let newDevices = NewDevices(rawValue: config.string("sharing.new_devices")) ?? .unshared
        let allowlist = try Allowlist.load(from: allowlistPath).entries.map(\.id)
        let sharing = try SharingState.load(from: sharingPath)
        known = Mutex(
            Known(versions: versions, policy: policy, newDevices: newDevices, allowlist: allowlist, sharing: sharing))
        current = Mutex(DeviceAccess(policy: policy, sharing: sharing, newDevices: newDevices, allowlist: allowlist))
    }

    var now: DeviceAccess { current.withLock { $0 } }

    /// Which devices `peer` (an EndpointId's text) may see and import, decided anew at
    /// each use (a list, an import, a check of the imports in progress).
    func allows(for peer: String) -> @Sendable (USBDeviceInfo) -> Bool {
        let peerId = try? EndpointId(parsing: peer)
        return { [self] info in
            guard let peerId else { return false }
            return now.allows(peerId, info.facts)
        }
    }

    /// Reads the files that changed since the last look; nil when nothing did.
    func refresh() -> Change? {
        let versions = [configPath, allowlistPath, sharingPath].map(AtomicFile.version(of:))
        return known.withLock { known -> Change? in
            guard versions != known.versions else { return nil }
            let changed = (0..<3).map { versions[$0] != known.versions[$0] }
            known.versions = versions
            if changed[0] { reloadConfig(into: &known) }
            var removed: [EndpointId] = []
            if changed[1] {
                do throws(AllowlistError) {
                    let entries = try Allowlist.load(from: allowlistPath).entries
                    let allowlist = entries.map(\.id)
                    removed = known.allowlist.filter { !allowlist.contains($0) }
                    // Whoever changed it (pairing, root's 'usbp2pd allow', an editor), the
                    // service sees it here: the one place that records every change.
                    for entry in entries where !known.allowlist.contains(entry.id) {
                        audit.record(AuditEvent(.allowlistAdded, peer: "\(entry.id)", name: entry.name, result: "ok"))
                    }
                    for id in removed { audit.record(AuditEvent(.allowlistRemoved, peer: "\(id)", result: "ok")) }
                    known.allowlist = allowlist
                } catch {
                    // New connections are refused while it is broken (the handshake reads it);
                    // the sessions in progress go on rather than end over a typo.
                    logger.error(
                        "the allowlist changed and cannot be read: \(error); new connections are refused until it is fixed"
                    )
                }
            }
            if changed[2] {
                do throws(SharingError) { known.sharing = try SharingState.load(from: sharingPath) } catch {
                    logger.error("the sharing state changed and cannot be read: \(error); the last good one stays")
                }
            }
            let after = DeviceAccess(
                policy: known.policy, sharing: known.sharing, newDevices: known.newDevices,
                allowlist: known.allowlist)
            let before = current.withLock { access in
                defer { access = after }
                return access
            }
            return Change(before: before, after: after, removed: removed)
        }
    }

    /// The configuration's [access] and [sharing] take effect at once; other keys wait
    /// for the next start, and the journal says which.
    private func reloadConfig(into known: inout Known) {
        let config: ConfigFile
        do throws(ConfigError) {
            // With the card's settings over it, as at start.
            config = try CardSettings.load(path: configPath, required: false).config
        } catch {
            logger.error("the configuration changed and is not valid: \(error); the last good access rules stay")
            audit.record(AuditEvent(.settingsRefused, result: "\(error)"))
            return
        }
        do throws(AccessPolicyError) {
            known.policy = try AccessPolicy(
                default: config.string("access.default"), rules: config.strings("access.rules"))
        } catch {
            logger.error("\(configPath): access.rules: \(error); the last good access rules stay")
            audit.record(AuditEvent(.settingsRefused, result: "\(configPath): access.rules: \(error)"))
            return
        }
        known.newDevices = NewDevices(rawValue: config.string("sharing.new_devices")) ?? known.newDevices
        logger.notice(
            "\(configPath) changed: access rules and sharing.new_devices applied; other keys take effect at the next start"
        )
        audit.record(AuditEvent(.settingsApplied, result: "\(configPath): access rules and sharing.new_devices"))
    }
}

extension USBDeviceInfo {
    /// What access rules and sharing know a device by.
    var facts: DeviceFacts {
        DeviceFacts(busid: busid, vendor: idVendor, product: idProduct, serial: serialNumber)
    }
}

/// Changes to the sharing file, whoever asks: the owner's laptop and root's `usbp2pd
/// share` through the running service, or `usbp2pd share` itself when no service runs.
enum SharingFile {
    /// One change at a time within this process (a read, a change, an atomic write).
    private static let writes = Mutex<Void>(())

    /// Applies `request` to the file at `sharingPath`; `requester` is the laptop that
    /// asks (it must be the owner), nil for root on the Pi. Returns what was done.
    static func apply(
        _ request: SharingRequest, requester: EndpointId?, sharingPath: String, allowlistPath: String,
        newDevices: NewDevices, devices: [DeviceFacts]
    ) throws -> String {
        try writes.withLock { _ in
            let allowlist = try Allowlist.load(from: allowlistPath).entries.map(\.id)
            var state = try SharingState.load(from: sharingPath)
            if let requester {
                guard requester == DeviceAccess.owner(state, allowlist: allowlist) else {
                    throw SharingRequestError.notOwner
                }
            }
            let done = try request.apply(to: &state, devices: devices, allowlist: allowlist, newDevices: newDevices)
            try state.save(to: sharingPath)
            return done
        }
    }
}
