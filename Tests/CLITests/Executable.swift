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
        process.environment = Self.environment(home: home).merging(extra) { _, new in new }
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

    /// Starts the program with `arguments` and the same environment as `run`, and leaves
    /// it running; its standard error is collected as it comes.
    func launch(_ arguments: [String], home: String) throws -> RunningProgram {
        let process = Process()
        process.executableURL = Self.productsDirectory.appendingPathComponent(name)
        process.arguments = arguments
        process.environment = Self.environment(home: home)
        return try RunningProgram(process)
    }

    /// HOME and the XDG directories pointed into `home`, and a plain PATH.
    static func environment(home: String) -> [String: String] {
        [
            "HOME": home, "XDG_CONFIG_HOME": home + "/config", "XDG_STATE_HOME": home + "/state",
            "PATH": "/usr/bin:/bin",
        ]
    }

    static let server = Executable(name: "usbp2pd")
    static let client = Executable(name: "usbp2p-client")
    static let relay = Executable(name: "usbp2p-relay")
}

/// Writes `text` to `path`.
func write(_ text: String, to path: String) {
    precondition(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)), "cannot write \(path)")
}

/// A program left running, such as a server; what it writes to standard error is kept
/// and can be waited for.
final class RunningProgram: @unchecked Sendable {
    struct Output {
        var standardError = ""
        var exited = false
    }

    private let process: Process
    let output = Observed(Output())

    init(_ process: Process) throws {
        self.process = process
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let output = self.output
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }  // end of file
            output.update { $0.standardError += String(decoding: data, as: UTF8.self) }
        }
        process.terminationHandler = { _ in output.update { $0.exited = true } }
        try process.run()
    }

    /// Waits until standard error shows `text` (true), or the program exits first, or
    /// `seconds` pass (false).
    func waitForStandardError(containing text: String, seconds: Double = 60) -> Bool {
        output.wait(seconds: seconds) { $0.standardError.contains(text) || $0.exited }
        return output.current.standardError.contains(text)
    }

    /// Asks the program to stop (SIGTERM) and waits for it to exit: true. A program still
    /// running after `seconds` is killed (SIGKILL) and false is returned, so that a program
    /// that misses its signal fails its test instead of hanging the suite.
    @discardableResult
    func stop(within seconds: Double = 30) -> Bool {
        process.terminate()
        guard output.wait(seconds: seconds, until: \.exited) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return false
        }
        process.waitUntilExit()
        return true
    }

    /// The exit status, once `stop` returned.
    var status: Int32 { process.terminationStatus }
}
