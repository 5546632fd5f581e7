import Foundation
import TestSupport

/// One of the package's executables, run as a child process.
struct Executable {
    let name: String

    /// The build products sit beside the test bundle (.build/<triple>/debug/).
    static var productsDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs the program with `arguments` and a clean environment (HOME and the XDG
    /// directories pointed into `home`), no standard input, and waits for it.
    func run(_ arguments: [String], home: String, environment extra: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = Self.productsDirectory.appendingPathComponent(name)
        process.arguments = arguments
        process.environment = [
            "HOME": home, "XDG_CONFIG_HOME": home + "/config", "XDG_STATE_HOME": home + "/state",
            "PATH": "/usr/bin:/bin",
        ].merging(extra) { _, new in new }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    static let server = Executable(name: "usbp2pd")
    static let client = Executable(name: "usbp2p-client")
    static let relay = Executable(name: "usbp2p-relay")
}

/// Writes `text` to `path`.
func write(_ text: String, to path: String) {
    precondition(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)), "cannot write \(path)")
}
