import ArgumentParser
import CLISupport
import Config
import Dispatch
import OSThreads
import Relay
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// The relay's configuration file and name, for the shared commands.
enum RelayProgram: Program {
    static let name = "usbp2p-relay"
    static var schema: ConfigSchema { RelaySchema.schema }
    static var defaultConfigPath: String { RelaySchema.defaultPath }
}

struct Usbp2pRelay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usbp2p-relay",
        abstract: "The usbp2p relay: meets endpoints that cannot reach each other directly.",
        discussion: """
            The relay authenticates endpoints by their EndpointIds (each signs a fresh \
            challenge), tells them their public addresses, and forwards their end-to-end \
            encrypted bytes when no direct path works. It never sees plaintext and holds no \
            endpoint's key. Configuration: /etc/usbp2p/relay.toml.
            """,
        version: versionText("usbp2p-relay"),
        subcommands: [ServeCommand.self, IdentityCommand<RelayProgram>.self, ConfigCommand<RelayProgram>.self])

    struct ServeCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve", abstract: "Run the relay (until SIGTERM or Ctrl-C).")

        @OptionGroup var options: CommonOptions

        @Option(help: ArgumentHelp("Listen here (overrides listen).", valueName: "host:port"))
        var listen: String?

        func validate() throws {
            if let listen, let problem = ConfigChecks.listenAddress(.string(listen)) {
                throw ValidationError("--listen: \(problem)")
            }
        }

        func run() throws {
            ProcessMemory.limitArenas()
            let config = try options.loadConfig(for: RelayProgram.self)
            let log = options.logger(for: RelayProgram.self, config: config)
            let identity = try loadIdentity(config: config, log: log)
            var limits = RelayServer.Limits()
            limits.connections = config.integer("max_connections")
            limits.connectionsPerEndpoint = config.integer("connections_per_endpoint")
            limits.connectionsPerSource = config.integer("connections_per_source")
            limits.spliceIdleSeconds = config.integer("splice_idle_seconds")
            let endpoint = Endpoint(parsing: listen ?? config.string("listen"), defaultPort: 443)!
            let relay: RelayServer
            do {
                relay = try RelayServer(identity: identity, endpoint: endpoint, limits: limits, logger: log)
            } catch {
                throw CLIError("\(error)")
            }
            log.notice("relay \(identity.endpointId)")
            relay.start()
            let memory = ProcessMemory.keepReturningFree()
            onTerminationSignal { signalNumber in
                log.notice("stopping (signal \(signalNumber))")
                relay.stop()
            }
            withExtendedLifetime(memory) { dispatchMain() }
        }
    }
}

Usbp2pRelay.main()
