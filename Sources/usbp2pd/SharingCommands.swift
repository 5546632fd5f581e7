import AccessPolicy
import ArgumentParser
import CLISupport
import Config
import Exporter
import FileSystem
import Identity
import Log
import USBHost

#if canImport(Glibc)
    import Glibc
#endif

/// `usbp2pd share`: share a device with every paired laptop, or with some.
struct ShareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "share",
        abstract: "Share a device with every paired laptop, or with the laptops named by --for.",
        discussion: """
            The owner (the first laptop paired, see 'usbp2pd owner') uses every device; the \
            other paired laptops use what is shared with them. A device nobody has shared or \
            unshared yet follows sharing.new_devices ("unshared" unless configured). DEVICE is \
            a bus id from 'usbp2pd devices' (1-1) or a VVVV:PPPP when only one such device is \
            plugged in; the choice is kept by vendor:product and serial number (or port) in \
            state_directory/sharing. The running service applies it at once.
            """)

    @OptionGroup var options: CommonOptions
    @Argument(help: "The device: a bus id (1-1) or VVVV:PPPP.") var device: String
    @Option(name: .customLong("for"), help: "Share only with this laptop's EndpointId (repeatable).")
    var laptops: [String] = []

    func validate() throws {
        for laptop in laptops { _ = try parseEndpointId(laptop) }
    }

    func run() throws {
        let ids = try laptops.map { try parseEndpointId($0) }
        try runSharing(
            .share(device: device, with: ids.isEmpty ? nil : ids),
            line: (["share", device] + ids.map(\.description)).joined(separator: " "), options: options)
    }
}

/// `usbp2pd unshare`: only the owner uses the device from now on.
struct UnshareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unshare",
        abstract: "Stop sharing a device: only the owner uses it; other laptops lose it within a second.")

    @OptionGroup var options: CommonOptions
    @Argument(help: "The device: a bus id (1-1) or VVVV:PPPP.") var device: String

    func run() throws {
        try runSharing(.unshare(device: device), line: "unshare \(device)", options: options)
    }
}

/// `usbp2pd owner`: who owns this appliance, or hand it to another paired laptop.
struct OwnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "owner",
        abstract: "Show the owner of this server, or make another paired laptop its owner.",
        discussion: """
            The owner uses every device and decides what is shared with the other laptops \
            (from its laptop with 'usbp2p-client share'). Unless set here, the owner is the \
            first laptop on the allowlist: the first one paired.
            """)

    @OptionGroup var options: CommonOptions
    @Argument(help: "The new owner's EndpointId (it must be paired).") var endpointId: String?

    func validate() throws {
        if let endpointId { _ = try parseEndpointId(endpointId) }
    }

    func run() throws {
        guard let endpointId else {
            let config = try options.loadServerConfig()
            let state = config.string("state_directory")
            do {
                let allowlist = try Allowlist.load(from: "\(state)/allowlist")
                let sharing = try SharingState.load(from: "\(state)/sharing")
                guard let owner = DeviceAccess.owner(sharing, allowlist: allowlist.entries.map(\.id)) else {
                    print("no owner yet: the first laptop paired becomes the owner")
                    return
                }
                let name = allowlist.entries.first { $0.id == owner }?.name ?? ""
                print(name.isEmpty ? "\(owner)" : "\(owner)  \(name)")
            } catch {
                throw CLIError("\(error)")
            }
            return
        }
        let id = try parseEndpointId(endpointId)
        try runSharing(.setOwner(id), line: "owner \(id)", options: options)
    }
}

private func parseEndpointId(_ text: String) throws -> EndpointId {
    do throws(EndpointIdError) { return try EndpointId(parsing: text) } catch {
        throw ValidationError("'\(text)' is \(error)")
    }
}

/// Asks the running service (its control socket) to make the change, so it takes effect
/// at once and the file stays the service's; with no service running, changes the file
/// itself (the service reads it when it starts).
private func runSharing(_ request: SharingRequest, line: String, options: CommonOptions) throws {
    let config = try options.loadServerConfig()
    let socket = config.string("control.socket")
    if !socket.isEmpty {
        let reply: String?
        do throws(SystemError) { reply = try ControlSocket.request(line, at: socket) } catch
            where error.errno == ENOENT || error.errno == ECONNREFUSED
        {
            reply = nil  // no service runs: the file is changed here
        } catch {
            throw CLIError("cannot reach the running usbp2pd at \(socket): \(error) (are you root?)")
        }
        if let reply {
            guard reply.hasPrefix("ok ") else {
                throw CLIError(reply.hasPrefix("error ") ? String(reply.dropFirst(6)) : "unexpected answer: \(reply)")
            }
            print(String(reply.dropFirst(3)))
            return
        }
    }
    let log = options.logger(for: Server.self, config: config)
    let state = config.string("state_directory")
    do {
        let usb = try USBContext(eventThreadCPU: nil, logger: log)
        defer { usb.shutdown() }
        let devices = try USBIPExporter(usb: usb, logger: log).exportableDevices().map(\.facts)
        let done = try SharingFile.apply(
            request, requester: nil, sharingPath: "\(state)/sharing", allowlistPath: "\(state)/allowlist",
            newDevices: NewDevices(rawValue: config.string("sharing.new_devices")) ?? .unshared, devices: devices)
        print("\(done) (usbp2pd is not running: it applies this when it starts)")
    } catch {
        throw CLIError("\(error)")
    }
}
