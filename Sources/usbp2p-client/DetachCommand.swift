import ArgumentParser
import CLISupport
import VHCI

/// `usbp2p-client detach`: remove an attached device.
struct DetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "Detach the device on a vhci port (see 'ports'); the server releases it.")

    @Argument(help: "The vhci port number, as 'attach' and 'ports' print it.")
    var port: Int

    func run() throws {
        do throws(VHCIError) {
            try VHCI.detach(port: port)
            print("detached port \(port)")
        } catch {
            throw CLIError("\(error)")
        }
    }
}

/// `usbp2p-client ports`: what is attached here.
struct PortsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ports",
        abstract: "List the vhci ports in use on this machine.")

    func run() throws {
        do throws(VHCIError) {
            let used = try VHCI.ports().filter { !$0.isFree }
            if used.isEmpty { print("no devices attached") }
            for p in used {
                print(
                    "port \(p.port) (\(p.hub == .superSpeed ? "SuperSpeed" : "high speed hub")): devid 0x\(String(p.devid, radix: 16)), local bus id \(p.localBusid)"
                )
            }
        } catch {
            throw CLIError("\(error)")
        }
    }
}
