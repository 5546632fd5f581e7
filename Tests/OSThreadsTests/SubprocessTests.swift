import OSThreads
import Testing

@Suite struct SubprocessTests {
    @Test func aProgramsOutputBothStreamsAndExitStatusComeBack() throws {
        let result = try Subprocess.run(
            "/bin/sh", arguments: ["-c", "echo out; echo err >&2; exit 3"], environment: [], seconds: 30, limit: 1024)
        #expect(result.status == 3)
        #expect(result.standardOutput == Array("out\n".utf8))
        #expect(result.standardError == Array("err\n".utf8))
        #expect(!result.timedOut)
    }

    @Test func outputBeyondTheLimitIsReadAndDroppedSoTheProgramEnds() throws {
        // 1 MiB is more than a pipe holds: were it not read, the program would never end.
        let result = try Subprocess.run(
            "/bin/sh", arguments: ["-c", "head -c 1048576 /dev/zero; echo done >&2"],
            environment: ["PATH=/usr/bin:/bin"],
            seconds: 60, limit: 100)
        #expect(result.standardOutput.count == 100)
        #expect(result.standardError == Array("done\n".utf8))
        #expect(result.status == 0)
    }

    @Test func aProgramThatRunsOutOfTimeIsStopped() throws {
        let result = try Subprocess.run("/bin/sleep", arguments: ["600"], environment: [], seconds: 0.2, limit: 10)
        #expect(result.timedOut)
        #expect(result.status == 128 + 15)  // SIGTERM
    }

    @Test func aMissingProgramIsAnError() {
        #expect(throws: (any Error).self) {
            try Subprocess.run("/nonexistent/program", arguments: [], environment: [], seconds: 5, limit: 10)
        }
    }

    @Test func theEnvironmentIsExactlyTheOneGiven() throws {
        let result = try Subprocess.run(
            "/usr/bin/env", arguments: [], environment: ["ONLY=this"], seconds: 30, limit: 1024)
        #expect(String(decoding: result.standardOutput, as: UTF8.self) == "ONLY=this\n")
    }
}
