import ArgumentParser
import AttachStatus
import CLISupport
import Session
import Sockets
import USBIP

/// `usbp2p-client list`: what a server offers.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the devices a server offers this client.",
        discussion: """
            SERVER is a paired server's name (see 'peers'; it may be left out when only one \
            is paired), an EndpointId (found on the LAN by mDNS, else through the relay), or \
            either with @host:port to connect directly. A server lists only the devices its \
            access rules let this client use. With --usbip instead, the devices of a plain \
            USB/IP server (the kernel's usbipd, or usbp2pd with usbip.enabled) are listed.
            """)

    @OptionGroup var options: CommonOptions
    @OptionGroup var relayOptions: RelayOptions

    @Argument(help: ArgumentHelp("The server (default: the only paired one).", valueName: "server")) var server: String?

    @Flag(
        help:
            "Print JSON: {\"devices\": [{\"busid\", \"vid\", \"pid\", \"name\", \"speed\", \"interfaces\": [\"class/subclass/protocol\"]}]}."
    )
    var json = false

    @Option(help: ArgumentHelp("A plain USB/IP server instead (port 3240 if not given).", valueName: "host[:port]"))
    var usbip: String?

    func validate() throws {
        switch (server, usbip) {
        case (nil, nil), (.some, nil): break  // resolved against the peers in run()
        case (.some, .some): throw ValidationError("give a server or --usbip, not both")
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
                print(render(try USBIPClient.deviceList(over: socket, timeoutSeconds: timeout), from: "\(endpoint)"))
            } catch {
                throw CLIError("\(error)")
            }
            return
        }
        try ServiceConnection.forward("list", options: options)
        let names = DeviceNames()
        let (client, session) = try ServerConnection.commandSession(
            with: server, options: options, relay: relayOptions.relay,
            events: SessionEvents(control: { message, _ in names.take(message) }))
        defer { client.stop(reason: "listed") }
        do {
            let channel = try session.openChannel()
            defer { channel.close() }
            print(
                render(
                    try USBIPClient.deviceList(over: channel, timeoutSeconds: timeout), from: "the server", names: names
                ))
        } catch {
            throw CLIError("\(error)")
        }
    }

    private func render(_ devices: [ExportedDevice], from source: String, names: DeviceNames? = nil) -> String {
        guard json else { return describe(devices, from: source, names: names) }
        let items = devices.map { d in
            let classes = d.interfaces.map {
                AttachStatus.quote(
                    "\(hex2($0.bInterfaceClass))/\(hex2($0.bInterfaceSubClass))/\(hex2($0.bInterfaceProtocol))")
            }
            return
                "{\"busid\":\(AttachStatus.quote(d.busid)),\"vid\":\"\(hex4(d.idVendor))\",\"pid\":\"\(hex4(d.idProduct))\","
                + "\"name\":\(AttachStatus.quote(names?.name(of: d.busid) ?? "")),"
                + "\"speed\":\(AttachStatus.quote("\(d.speed)")),\"interfaces\":[\(classes.joined(separator: ","))]}"
        }
        return "{\"devices\":[\(items.joined(separator: ","))]}"
    }

    private func describe(_ devices: [ExportedDevice], from source: String, names: DeviceNames?) -> String {
        if devices.isEmpty { return "\(source) exports no devices" }
        return devices.map { d in
            let classes = d.interfaces.map {
                "\(hex2($0.bInterfaceClass))/\(hex2($0.bInterfaceSubClass))/\(hex2($0.bInterfaceProtocol))"
            }
            let name = names?.name(of: d.busid).map { $0.isEmpty ? "" : "  \($0)" } ?? ""
            return
                "\(d.busid)  \(hex4(d.idVendor)):\(hex4(d.idProduct))\(name)  \(d.speed)  interfaces \(classes.joined(separator: " "))"
        }.joined(separator: "\n")
    }

    private func hex2(_ v: UInt8) -> String { v < 16 ? "0" + String(v, radix: 16) : String(v, radix: 16) }
}
