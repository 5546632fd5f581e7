import ArgumentParser
import CLISupport
import Session
import Sockets
import USBIP

/// `usbp2p-client list`: what a server offers.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the devices a server exports.",
        discussion: """
            SERVER is EndpointId@host:port to connect directly, or the EndpointId alone: found \
            on the LAN by mDNS (lan.mdns), else through the relay. With --usbip instead, the devices of a plain USB/IP server \
            (the kernel's usbipd, or usbp2pd with usbip.enabled) are listed.
            """)

    @OptionGroup var options: CommonOptions
    @OptionGroup var relayOptions: RelayOptions

    @Argument(help: ArgumentHelp("The server.", valueName: "server")) var server: String?

    @Option(help: ArgumentHelp("A plain USB/IP server instead (port 3240 if not given).", valueName: "host[:port]"))
    var usbip: String?

    func validate() throws {
        switch (server, usbip) {
        case (nil, nil): throw ValidationError("name a server (EndpointId[@host:port]) or --usbip host")
        case (.some, .some): throw ValidationError("give a server or --usbip, not both")
        case (.some(let server), nil): _ = try ServerAddress(parsing: server)
        case (nil, .some(let usbip)):
            guard Endpoint(parsing: usbip, defaultPort: usbipDefaultPort) != nil else {
                throw ValidationError("--usbip: expected host[:port] with a numeric address, got '\(usbip)'")
            }
        }
    }

    func run() throws {
        let timeout = AttachCommand.replyTimeoutSeconds
        if let usbip {
            let endpoint = Endpoint(parsing: usbip, defaultPort: usbipDefaultPort)!
            do {
                let socket = try TCP.connect(to: endpoint)
                defer { socket.close() }
                print(describe(try USBIPClient.deviceList(over: socket, timeoutSeconds: timeout), from: "\(endpoint)"))
            } catch {
                throw CLIError("\(error)")
            }
            return
        }
        let config = try options.loadConfig(for: Client.self)
        let log = options.logger(for: Client.self, config: config)
        let identity = try loadIdentity(config: config, log: log)
        let address = try ServerAddress(parsing: server!)
        let client = try ServerConnection.client(
            for: address, relay: relayOptions.relay, config: config, identity: identity, log: log)
        let session: Session
        do { session = try client.start() } catch {
            throw ServerConnection.explain(error, server: address, identity: identity)
        }
        defer { client.stop(reason: "listed") }
        do {
            let channel = try session.openChannel()
            defer { channel.close() }
            print(describe(try USBIPClient.deviceList(over: channel, timeoutSeconds: timeout), from: "the server"))
        } catch {
            throw CLIError("\(error)")
        }
    }

    private func describe(_ devices: [ExportedDevice], from source: String) -> String {
        if devices.isEmpty { return "\(source) exports no devices" }
        return devices.map { d in
            let classes = d.interfaces.map {
                "\(hex2($0.bInterfaceClass))/\(hex2($0.bInterfaceSubClass))/\(hex2($0.bInterfaceProtocol))"
            }
            return
                "\(d.busid)  \(hex4(d.idVendor)):\(hex4(d.idProduct))  \(d.speed)  interfaces \(classes.joined(separator: " "))"
        }.joined(separator: "\n")
    }

    private func hex2(_ v: UInt8) -> String { v < 16 ? "0" + String(v, radix: 16) : String(v, radix: 16) }
}
