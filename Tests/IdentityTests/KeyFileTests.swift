import Foundation
import TestSupport
import Testing

@testable import Identity

@Suite struct KeyFileTests {
    func scratch() -> String { scratchDirectory("keyfile") }

    @Test func createdKeyLoadsAsTheSameIdentity() throws {
        let path = scratch() + "/state/identity.key"
        let (first, created) = try KeyFile.loadOrCreate(at: path)
        let (second, createdAgain) = try KeyFile.loadOrCreate(at: path)
        #expect(created && !createdAgain)
        #expect(first.endpointId == second.endpointId)
    }

    @Test func keyFileIsCreated0600InA0700Directory() throws {
        let dir = scratch() + "/state"
        _ = try KeyFile.loadOrCreate(at: dir + "/identity.key")
        let file = try FileManager.default.attributesOfItem(atPath: dir + "/identity.key")
        let folder = try FileManager.default.attributesOfItem(atPath: dir)
        #expect((file[.posixPermissions] as? Int) == 0o600)
        #expect((folder[.posixPermissions] as? Int) == 0o700)
    }

    @Test func readableByOthersIsRefusedWithTheFix() throws {
        let path = scratch() + "/identity.key"
        _ = try KeyFile.loadOrCreate(at: path)
        chmod(path, 0o644)
        #expect(throws: KeyFileError.insecurePermissions(path: path, mode: 0o644)) { try KeyFile.load(from: path) }
        #expect(KeyFileError.insecurePermissions(path: path, mode: 0o644).description.contains("chmod 600"))
    }

    @Test(arguments: [
        ("", "it holds no key"),
        ("# only a comment\n", "it holds no key"),
        ("usbp2p-ed25519-seed-v1 abcd\n", "the key is not 64 hexadecimal digits"),
        ("usbp2p-ed25519-seed-v1 " + String(repeating: "zz", count: 32) + "\n", "the key is not 64 hexadecimal digits"),
        ("ssh-ed25519 AAAA\n", "expected 'usbp2p-ed25519-seed-v1 <64 hex digits>'"),
        (
            "usbp2p-ed25519-seed-v1 " + String(repeating: "ab", count: 32) + "\nusbp2p-ed25519-seed-v1 "
                + String(repeating: "ab", count: 32) + "\n", "a second key"
        ),
    ])
    func corruptFilesAreRefusedWithTheReason(content: String, reason: String) throws {
        let path = scratch() + "/identity.key"
        try #require(
            FileManager.default.createFile(
                atPath: path, contents: Data(content.utf8), attributes: [.posixPermissions: 0o600]))
        do {
            _ = try KeyFile.load(from: path)
            Issue.record("loaded a corrupt key file")
        } catch {
            guard case .malformed(_, _, let actual) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(actual == reason)
        }
    }

    @Test func binaryGarbageIsRefused() throws {
        let path = scratch() + "/identity.key"
        try #require(
            FileManager.default.createFile(
                atPath: path, contents: Data([0xff, 0xfe, 0x00]), attributes: [.posixPermissions: 0o600]))
        #expect(throws: KeyFileError.malformed(path: path, line: nil, reason: "it is not text")) {
            try KeyFile.load(from: path)
        }
    }

    @Test func oversizedFileIsNotRead() throws {
        let path = scratch() + "/identity.key"
        try #require(
            FileManager.default.createFile(
                atPath: path, contents: Data(count: 1 << 20), attributes: [.posixPermissions: 0o600]))
        #expect(throws: KeyFileError.self) { try KeyFile.load(from: path) }
    }

    @Test func missingFileIsAnUnreadableError() {
        #expect(throws: KeyFileError.self) { try KeyFile.load(from: "/nonexistent/usbp2p/identity.key") }
    }

    @Test func hexRoundTrips() {
        let bytes: [UInt8] = [0, 1, 0xab, 0xff]
        #expect(KeyFile.decodeHex(Substring(KeyFile.encodeHex(bytes))) == bytes)
        #expect(KeyFile.decodeHex("ABff") == [0xab, 0xff])
        #expect(KeyFile.decodeHex("abc") == nil)
    }
}
