import Foundation
import TestSupport
import Testing

@testable import FileSystem

@Suite struct AtomicFileTests {
    func scratch() -> String { scratchDirectory("atomic") }

    @Test func writtenBytesReadBack() throws {
        let path = scratch() + "/f"
        try AtomicFile.write([1, 2, 3], to: path, mode: 0o600)
        #expect(try AtomicFile.read(path, maxSize: 10) == [1, 2, 3])
    }

    /// `sudo usbp2pd allow` writes into the service's state directory: the file must stay
    /// one the service (the directory's owner) can read.
    @Test(.enabled(if: geteuid() == 0, "only root can write a file that another user owns"))
    func rootWritingIntoAnotherUsersDirectoryLeavesTheFileToThatUser() throws {
        let directory = scratch()
        let (serviceUser, serviceGroup): (uid_t, gid_t) = (65534, 65534)
        #expect(chown(directory, serviceUser, serviceGroup) == 0)
        let path = directory + "/allowlist"
        try AtomicFile.write([1], to: path, mode: 0o600)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_uid == serviceUser && info.st_gid == serviceGroup)
        #expect(info.st_mode & 0o777 == 0o600)
        // In a directory of root's own, the file stays root's.
        let own = scratch() + "/key"
        try AtomicFile.write([1], to: own, mode: 0o600)
        #expect(stat(own, &info) == 0 && info.st_uid == 0)
    }

    @Test func aReplacedFileHasAnotherVersionAndAnUntouchedOneTheSame() throws {
        let path = scratch() + "/allowlist"
        #expect(AtomicFile.version(of: path) == nil)
        try AtomicFile.write([1], to: path, mode: 0o600)
        let first = AtomicFile.version(of: path)
        #expect(first != nil)
        #expect(AtomicFile.version(of: path) == first)
        try AtomicFile.write([1], to: path, mode: 0o600)  // the same bytes, a new file
        #expect(AtomicFile.version(of: path) != first)
    }

    @Test func aTemporaryLeftByAPowerCutDoesNotBlockLaterWrites() throws {
        let path = scratch() + "/allowlist"
        // What an older version left behind, named by the PID this process now has.
        _ = FileManager.default.createFile(atPath: "\(path).tmp.\(getpid())", contents: Data([9]))
        try AtomicFile.write([1], to: path, mode: 0o600)
        try AtomicFile.write([2], to: path, mode: 0o600)
        #expect(try AtomicFile.read(path, maxSize: 10) == [2])
    }

    @Test func staleTemporariesOfDeadWritersAreRemovedAndLiveOnesAndOtherFilesKept() throws {
        let directory = scratch()
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let dead = finished.processIdentifier
        let names = [
            "allowlist.tmp.\(dead).k3j9", "identity.key.tmp.\(dead)",  // left by a power cut
            "allowlist.tmp.\(getpid()).abc",  // a write under way
            "allowlist", "notes.tmp", "x.tmp.12ab", "x.tmp.\(dead).with.dots", "x.tmp.\(dead).UPPER",
        ]
        for name in names { _ = FileManager.default.createFile(atPath: "\(directory)/\(name)", contents: Data([1])) }
        let removed = AtomicFile.removeStaleTemporaries(in: directory)
        #expect(removed == ["allowlist.tmp.\(dead).k3j9", "identity.key.tmp.\(dead)"])
        let left = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(left == names.dropFirst(2).sorted())
        #expect(AtomicFile.removeStaleTemporaries(in: directory + "/missing").isEmpty)
    }

    @Test func modeIsExactWhateverTheUmask() throws {
        let path = scratch() + "/f"
        let old = umask(0o077)
        defer { umask(old) }
        try AtomicFile.write([1], to: path, mode: 0o640)
        #expect(try AtomicFile.attributes(path).mode == 0o640)
        // A directory too: a umask of another thread (it is the process's) must not
        // leave it without its owner's execute bit.
        let directory = scratch() + "/d/e"
        try AtomicFile.createDirectory(directory, mode: 0o750)
        #expect(try AtomicFile.attributes(directory).mode == 0o750)
    }

    @Test func rewriteReplacesTheWholeFileAndLeavesNoTemporary() throws {
        let dir = scratch()
        try AtomicFile.write(Array(repeating: 9, count: 100), to: dir + "/f", mode: 0o600)
        try AtomicFile.write([4], to: dir + "/f", mode: 0o600)
        #expect(try AtomicFile.read(dir + "/f", maxSize: 1000) == [4])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["f"])
    }

    @Test func failureNamesTheCallAndPath() {
        do {
            try AtomicFile.write([1], to: "/nonexistent-dir/f", mode: 0o600)
            Issue.record("wrote into a missing directory")
        } catch {
            #expect(error.call == "open")
            #expect(error.description.contains("/nonexistent-dir/f.tmp"))
            #expect(error.description.contains("No such file or directory"))
        }
    }

    @Test func readStopsAtTheSizeLimit() throws {
        let path = scratch() + "/big"
        try AtomicFile.write(Array(repeating: 0, count: 10_000), to: path, mode: 0o600)
        #expect(throws: SystemError.self) { try AtomicFile.read(path, maxSize: 5000) }
    }

    @Test func createDirectoryMakesParentsAndAcceptsExistingOnes() throws {
        let base = scratch()
        try AtomicFile.createDirectory(base + "/a/b/c", mode: 0o700)
        try AtomicFile.createDirectory(base + "/a/b/c", mode: 0o700)
        #expect(AtomicFile.isDirectory(base + "/a/b/c"))
        try AtomicFile.write([1], to: base + "/file", mode: 0o600)
        #expect(throws: SystemError(call: "mkdir", path: base + "/file", errno: ENOTDIR)) {
            try AtomicFile.createDirectory(base + "/file/sub", mode: 0o700)
        }
    }

    @Test func parentDirectoryOfPaths() {
        #expect(AtomicFile.parentDirectory(of: "/a/b") == "/a")
        #expect(AtomicFile.parentDirectory(of: "/a") == "/")
        #expect(AtomicFile.parentDirectory(of: "a") == ".")
    }
}
