import ArgumentParser
import CLISupport
import Config

/// The laptop's command-line client.
enum Client: Program {
    static let name = "usbp2p-client"
    static var schema: ConfigSchema { ClientSchema.schema }
    static var defaultConfigPath: String { ClientSchema.defaultPath }
    static func forwardToService(_ command: String, options: CommonOptions) throws {
        try ServiceConnection.forward(command, options: options)
    }
}

struct Usbp2pClient: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usbp2p-client",
        abstract: "Use a USB device plugged into a usbp2p appliance as if it were plugged in here.",
        discussion: """
            Each machine is known by its EndpointId ('usbp2p-client identity'). \
            Configuration: $XDG_CONFIG_HOME/usbp2p/client.toml (see 'usbp2p-client config check').
            """,
        version: versionText("usbp2p-client"),
        subcommands: [
            ServeCommand.self, PairCommand.self, PeersCommand.self, ForgetCommand.self, ListCommand.self,
            AttachCommand.self, ShareCommand.self, UnshareCommand.self, AuditCommand.self,
            DetachCommand.self, PortsCommand.self, StatusCommand.self, BridgeCommand.self, UICommand.self,
            IdentityCommand<Client>.self,
            ConfigCommand<Client>.self,
        ])
}

Usbp2pClient.main()
