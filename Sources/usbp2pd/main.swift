import ArgumentParser
import CLISupport
import Config
import GPIO
import USBHost

/// The Pi's service.
enum Server: Program {
    static let name = "usbp2pd"
    static let schema = ServerSchema.schema
    static let defaultConfigPath = ServerSchema.defaultPath
}

struct Usbp2pd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usbp2pd",
        abstract: "The usbp2p service: shares this machine's USB devices with paired laptops.",
        discussion: """
            usbp2pd runs on the appliance (a Raspberry Pi) under systemd. It is known to its \
            peers by its EndpointId ('usbp2pd identity'). Configuration: \(ServerSchema.defaultPath) \
            (see 'usbp2pd config check').
            """,
        version: versionText("usbp2pd", more: ["libusb \(LibUSB.version)", "libgpiod \(LibGPIOD.version)"]),
        subcommands: [
            ServeCommand.self, PairingCodeCommand.self, PairCommand.self, DevicesCommand.self, AllowCommand.self,
            ShareCommand.self, UnshareCommand.self, OwnerCommand.self, AuditCommand.self, SettingsCommand.self,
            ApplianceUICommand.self,
            IdentityCommand<Server>.self,
            ConfigCommand<Server>.self,
        ])
}

Usbp2pd.main()
