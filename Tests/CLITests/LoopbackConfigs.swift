import Foundation
import Testing

// Configurations for the programs on loopback, shared by the CLI tests.

/// A server's configuration with everything but a loopback session listener off.
func serverConfig(_ home: String, port: Int) -> String {
    let path = home + "/usbp2pd.toml"
    write(
        """
        name = "Bench Pi"
        state_directory = "\(home)/pi"
        session.listen = "127.0.0.1:\(port)"
        lan.mdns = false
        reach.port_mapping = false
        gpio.chip = ""
        control.socket = "\(home)/control.sock"
        metrics.listen = ""

        """, to: path)
    return path
}

func clientConfig(_ home: String) -> String {
    let path = home + "/client.toml"
    write("state_directory = \"\(home)/laptop\"\nlan.mdns = false\nname = \"bench laptop\"\n", to: path)
    return path
}

/// The EndpointId `program` has with `config` (made on first use), from `identity show`.
func endpointId(_ program: Executable, config: String, home: String) throws -> String {
    try #require(
        try program.run(["identity", "show", "--config", config], home: home).stdout
            .split(separator: "\n").first.map(String.init))
}
