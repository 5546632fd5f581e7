import AccessPolicy
import ArgumentParser
import CLISupport
import Config
import Exporter
import Identity
import Log
import USBHost

/// `usbp2pd devices`: what this machine can share.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List the USB devices this machine can share (hubs excluded).",
        discussion: """
            A device this machine uses itself is listed with why it is never offered: it \
            holds a mounted filesystem or swap (a Pi booting from a USB disk), or it is a \
            network interface. Importing it would take it from this machine. Each other \
            device says with whom it is shared ('usbp2pd share', 'usbp2pd unshare') and the \
            key its choice is kept by.
            """)

    @OptionGroup var options: CommonOptions

    func run() throws {
        let config = try options.loadServerConfig()
        let log = options.logger(for: Server.self, config: config)
        do {
            let usb = try USBContext(eventThreadCPU: nil, logger: log)
            defer { usb.shutdown() }
            // Named and keyed by the kernel's strings, as the service names and keys them.
            let devices = KernelStrings().named(try usb.devices().filter { !$0.isHub })
            if devices.isEmpty { print("no USB devices") }
            let own = SystemDevices()
            let access = sharing(config)
            for d in devices {
                let id = hex4(d.idVendor) + ":" + hex4(d.idProduct)
                let classes = d.interfaces.map {
                    "\($0.interfaceClass)/\($0.interfaceSubClass)/\($0.interfaceProtocol)"
                }
                let name = [d.manufacturer, d.product].compactMap { $0 }.joined(separator: " ")
                let column = d.busid + String(repeating: " ", count: max(1, 9 - d.busid.count))
                print(
                    "\(column)\(id)  \(name.isEmpty ? "(no name)" : name)  \(d.speed)  interfaces \(classes.joined(separator: ", "))"
                )
                if let why = own.reason(busid: d.busid) {
                    print("         never offered: \(why)")
                } else if let access {
                    print("         \(access.share(of: d.facts)) (\(DeviceKey(d.facts)))")
                }
            }
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// The sharing in effect, when this user can read it (the files are the service's).
    private func sharing(_ config: ConfigFile) -> DeviceAccess? {
        let state = config.string("state_directory")
        guard let allowlist = try? Allowlist.load(from: "\(state)/allowlist"),
            let sharing = try? SharingState.load(from: "\(state)/sharing")
        else { return nil }
        return DeviceAccess(
            policy: .allowAll, sharing: sharing,
            newDevices: NewDevices(rawValue: config.string("sharing.new_devices")) ?? .unshared,
            allowlist: allowlist.entries.map(\.id))
    }

}
