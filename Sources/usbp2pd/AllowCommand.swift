import ArgumentParser
import CLISupport
import Identity

/// `usbp2pd allow`: let a client's EndpointId in without pairing (pairing does it by itself).
struct AllowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allow",
        abstract: "Add a client's EndpointId to the allowlist by hand (or remove it, or list the allowlist).",
        discussion: """
            The allowlist is state_directory/allowlist; the running service reads it for every \
            new connection and notices each change within a second: a client removed from it \
            loses its session then, without a restart. Run as root, the file stays the \
            service's (owned by the state directory's owner). A client prints its EndpointId \
            with 'usbp2p-client identity'.
            """)

    @OptionGroup var options: CommonOptions

    @Flag(help: "Remove the EndpointId instead of adding it.") var remove = false
    @Flag(help: "Print the allowlist.") var list = false

    @Argument(help: "The client's EndpointId.") var endpointId: String?
    @Argument(help: "A name for it (e.g. \"Anna's laptop\").") var name: [String] = []

    func validate() throws {
        if list {
            guard endpointId == nil, !remove else { throw ValidationError("--list takes no other arguments") }
            return
        }
        guard let endpointId else { throw ValidationError("expected an EndpointId (or --list)") }
        do throws(EndpointIdError) { _ = try EndpointId(parsing: endpointId) } catch {
            throw ValidationError("'\(endpointId)' is \(error)")
        }
    }

    func run() throws {
        let config = try options.loadServerConfig()
        let path = "\(config.string("state_directory"))/allowlist"
        do {
            var allowlist = try Allowlist.load(from: path)
            if list {
                for entry in allowlist.entries {
                    var line = entry.name.isEmpty ? "\(entry.id)" : "\(entry.id)  \(entry.name)"
                    if !entry.added.isEmpty { line += "  (added \(entry.added))" }
                    print(line)
                }
                return
            }
            let id = try! EndpointId(parsing: endpointId!)  // checked in validate()
            if remove {
                guard allowlist.contains(id) else { throw CLIError("\(id) is not on the allowlist \(path)") }
                allowlist.remove(id)
            } else {
                allowlist.add(id, name: name.joined(separator: " "), added: todayUTC())
            }
            try allowlist.save(to: path)
            print(
                remove
                    ? "removed \(id): a session it has with the running service ends within a second"
                    : "allowed \(id)")
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("\(error)")
        }
    }
}
