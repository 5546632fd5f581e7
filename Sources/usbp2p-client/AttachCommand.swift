import ArgumentParser
import CLISupport
import Sockets
import USBIP
import VHCI

/// `usbp2p-client attach`: bring a remote device up on this machine through vhci_hcd.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Attach a device from a USB/IP server, so it appears here as if plugged in.",
        discussion: """
            With --usbip the device comes from a plain USB/IP server: usbp2pd with usbip.enabled, \
            or the kernel's usbipd. The connection is handed to the kernel (vhci_hcd), which \
            keeps it; 'usbp2p-client detach PORT' ends it. Needs root and the vhci-hcd module.
            """)

    @OptionGroup var options: CommonOptions

    @Option(help: ArgumentHelp("The USB/IP server (port 3240 if not given).", valueName: "host[:port]"))
    var usbip: String

    @Argument(help: "The device's bus id on the server, as 'list' shows it (e.g. 1-1).")
    var busid: String

    /// How long the server may take to answer the import.
    static let replyTimeoutSeconds = 10

    func validate() throws {
        guard Endpoint(parsing: usbip, defaultPort: usbipDefaultPort) != nil else {
            throw ValidationError("--usbip: expected host[:port] with a numeric address, got '\(usbip)'")
        }
        guard !busid.isEmpty, busid.utf8.count < 32,
            busid.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == ".") })
        else { throw ValidationError("'\(busid)' is not a bus id (digits, '-' and '.', like 1-1 or 3-2.4)") }
    }

    func run() throws {
        let config = try options.loadConfig(for: Client.self)
        let log = options.logger(for: Client.self, config: config)
        let server = Endpoint(parsing: usbip, defaultPort: usbipDefaultPort)!
        do {
            let socket = try TCP.connect(to: server)
            let device = try USBIPClient.importDevice(
                busid: busid, over: socket, timeoutSeconds: Self.replyTimeoutSeconds)
            let port = try VHCI.attach(socketDescriptor: socket.descriptor, device: device)
            // The kernel holds the connection now; this process's descriptor can go.
            socket.close()
            log.info("imported \(busid) from \(server)")
            print(
                "attached \(busid) (\(hex4(device.idVendor)):\(hex4(device.idProduct)), \(device.speed)) from \(server) on port \(port)"
            )
        } catch {
            throw CLIError("\(error)")
        }
    }
}
