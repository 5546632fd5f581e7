import ArgumentParser
import Config
import Identity

/// `identity`: this machine's EndpointId, and checking someone else's.
public struct IdentityCommand<P: Program>: ParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "identity",
            abstract: "Show this machine's EndpointId, creating its key on first use.",
            discussion: """
                An EndpointId is the public half of this machine's Ed25519 key, written as 56 \
                characters (a-z, 2-7) that end in a checksum. Peers know each other by it. \
                The private key stays in identity.key in the state directory (mode 0600).
                """,
            subcommands: [IdentityShowCommand<P>.self, IdentityCheckCommand.self],
            defaultSubcommand: IdentityShowCommand<P>.self)
    }

    public init() {}
}

public struct IdentityShowCommand<P: Program>: ParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "show",
            abstract: "Print this machine's EndpointId; create the key if there is none yet.")
    }

    @OptionGroup public var options: CommonOptions

    public init() {}

    public func run() throws {
        // The laptop's identity is its service's, whoever asks.
        try P.forwardToService("identity", options: options)
        let config = try options.loadConfig(for: P.self)
        let log = options.logger(for: P.self, config: config)
        let path = "\(config.string("state_directory"))/identity.key"
        do throws(KeyFileError) {
            let (identity, created) = try KeyFile.loadOrCreate(at: path)
            if created { log.notice("created a new identity in \(path)") }
            print(identity.endpointId)
        } catch {
            throw CLIError("\(error)")
        }
    }
}

public struct IdentityCheckCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that a text is a well-formed EndpointId (catches typos).")

    @Argument(help: "The EndpointId to check, as printed by 'identity show'; dashes and spaces are ignored.")
    public var endpointId: String

    public init() {}

    public func run() throws {
        do throws(EndpointIdError) {
            let id = try EndpointId(parsing: endpointId)
            print("ok: \(id)")
        } catch {
            throw CLIError("\(error)")
        }
    }
}
