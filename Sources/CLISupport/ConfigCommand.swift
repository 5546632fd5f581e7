import ArgumentParser
import Config

/// `config check`: read the configuration as the program would, and say what it means.
public struct ConfigCommand<P: Program>: ParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "config",
            abstract: "Work with the configuration file.",
            subcommands: [ConfigCheckCommand<P>.self])
    }

    public init() {}
}

public struct ConfigCheckCommand<P: Program>: ParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "check",
            abstract: "Check the configuration file and print the settings in effect.",
            discussion: """
                Reads the file given with --config, or \(P.defaultConfigPath) if it exists. \
                An unknown key, a value of the wrong type or a bad value is reported with the \
                file, line and key, and the exit status is 1. Every key is described in \
                docs/configuration.md.
                """)
    }

    @OptionGroup public var options: CommonOptions

    public init() {}

    public func run() throws {
        let config = try options.loadConfig(for: P.self)
        print("ok: \(config.path)")
        for key in P.schema.keys {
            let origin = config.explicitKeys.contains(key.name) ? "" : "  (default)"
            print("\(key.name) = \(config.values[key.name]!)\(origin)")
        }
    }
}
