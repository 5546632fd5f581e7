import Foundation
import TestSupport
import Testing

/// What every program says about itself, and how it treats bad arguments.
@Suite struct CommandLineTests {
    @Test(arguments: ["usbp2pd", "usbp2p-client", "usbp2p-relay"])
    func versionNamesTheProgramAndItsLibraries(program: String) throws {
        let result = try Executable(name: program).run(["--version"], home: scratchDirectory())
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("\(program) 0."))
        for library in ["libsodium", "OpenSSL"] { #expect(result.stdout.contains(library)) }
        // Only the Pi's service drives USB devices and GPIO lines.
        for library in ["libusb", "libgpiod"] { #expect(result.stdout.contains(library) == (program == "usbp2pd")) }
    }

    @Test(arguments: ["usbp2pd", "usbp2p-client"])
    func helpListsTheImplementedSubcommands(program: String) throws {
        let result = try Executable(name: program).run(["--help"], home: scratchDirectory())
        #expect(result.status == 0)
        #expect(result.stdout.contains("identity"))
        #expect(result.stdout.contains("config"))
    }

    @Test func unknownSubcommandIsAUsageError() throws {
        let result = try Executable.client.run(["attach-everything"], home: scratchDirectory())
        #expect(result.status == 64)  // EX_USAGE, ArgumentParser's code for bad arguments
        #expect(result.stderr.contains("Error"))
    }

    @Test func badLogLevelListsTheValidOnes() throws {
        let result = try Executable.server.run(["identity", "--log-level", "loud"], home: scratchDirectory())
        #expect(result.status == 64)
        #expect(result.stderr.contains("trace"))
    }
}
