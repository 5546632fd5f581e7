import ArgumentParser
import CLISupport
import Sockets
import USBIP

/// `usbp2p-client list`: what a server offers.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the devices a USB/IP server exports.")

    @OptionGroup var options: CommonOptions

    @Option(help: ArgumentHelp("The USB/IP server (port 3240 if not given).", valueName: "host[:port]"))
    var usbip: String

    func validate() throws {
        guard Endpoint(parsing: usbip, defaultPort: usbipDefaultPort) != nil else {
            throw ValidationError("--usbip: expected host[:port] with a numeric address, got '\(usbip)'")
        }
    }

    func run() throws {
        let server = Endpoint(parsing: usbip, defaultPort: usbipDefaultPort)!
        do {
            let socket = try TCP.connect(to: server)
            defer { socket.close() }
            let devices = try USBIPClient.deviceList(over: socket, timeoutSeconds: AttachCommand.replyTimeoutSeconds)
            if devices.isEmpty { print("\(server) exports no devices") }
            for d in devices {
                let classes = d.interfaces.map {
                    "\(hex2($0.bInterfaceClass))/\(hex2($0.bInterfaceSubClass))/\(hex2($0.bInterfaceProtocol))"
                }
                print(
                    "\(d.busid)  \(hex4(d.idVendor)):\(hex4(d.idProduct))  \(d.speed)  interfaces \(classes.joined(separator: " "))"
                )
            }
        } catch {
            throw CLIError("\(error)")
        }
    }

    private func hex2(_ v: UInt8) -> String { v < 16 ? "0" + String(v, radix: 16) : String(v, radix: 16) }
}
