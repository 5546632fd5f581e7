import ArgumentParser
import CLISupport
import VHCI

/// `usbp2p-client detach`: stop keeping devices attached (the service), or free a port.
struct DetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "Stop keeping devices attached: by name, VID:PID or bus id, a whole server, or --all.",
        discussion: """
            Through the laptop's service: the devices named (part of the name 'list' \
            shows, VID:PID, or the server's bus id), every device of a server (its name or \
            the start of its EndpointId), or everything (--all) are detached and no longer \
            attached again. 'detach PORT' (a number, as 'ports' shows) detaches one vhci port \
            directly, as root: an attach that still wants the device takes it again.
            """)

    @OptionGroup var options: CommonOptions

    @Flag(help: "Everything the service keeps attached.") var all = false

    @Argument(help: ArgumentHelp("Devices, a server, or a vhci port number.", valueName: "device|server|port"))
    var targets: [String] = []

    func validate() throws {
        if all == !targets.isEmpty { throw ValidationError("give devices, a server or a port, or --all") }
    }

    func run() throws {
        if targets.count == 1, let port = Int(targets[0]) {
            do throws(VHCIError) {
                try VHCI.detach(port: port)
                print("detached port \(port)")
            } catch {
                throw CLIError("\(error)")
            }
            return
        }
        let config = try options.loadConfig(for: Client.self)
        guard
            let reply = try ServiceConnection.ask(
                "detach", all ? ["--all"] : targets, socketPath: config.string("service.socket"))
        else {
            throw CLIError(
                "\(ServiceConnection.startHint); without it, stop 'attach' with Ctrl-C, or detach a port "
                    + "('usbp2p-client ports', then 'usbp2p-client detach PORT')")
        }
        try ServiceConnection.finish(with: reply)
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
