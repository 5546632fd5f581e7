import FileSystem
import Foundation
import TestSupport
import Testing

@testable import LocalDiscovery

@Suite struct AvahiServiceFilesTests {
    let id = "gue4jmr2bjchvcc7twql6cjarju7vb6jpzbouawzunp2xoy37dhhj4bn"

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test func publishingWritesTheSessionAndStatusServicesWithTheIdAndPorts() throws {
        let files = AvahiServiceFiles(directory: scratchDirectory("avahi"))
        try files.publish(id: id, sessionPort: 7575, statusPort: 80)
        let session = try #require(read(files.sessionFile))
        #expect(session.contains("<name>usbp2p-gue4jmr2bjch</name>"))
        #expect(session.contains("<type>_usbp2p._tcp</type>"))
        #expect(session.contains("<port>7575</port>"))
        #expect(session.contains("<txt-record>id=\(id)</txt-record>"))
        let status = try #require(read(files.statusFile))
        #expect(status.contains("<type>_http._tcp</type>"))
        #expect(status.contains("<port>80</port>"))
        // avahi (a user of its own) reads them.
        let mode = try FileManager.default.attributesOfItem(atPath: files.sessionFile)[.posixPermissions] as? Int
        #expect(mode == 0o644)
    }

    @Test func withoutAStatusPageAnEarlierStatusFileIsRemoved() throws {
        let files = AvahiServiceFiles(directory: scratchDirectory("avahi"))
        try files.publish(id: id, sessionPort: 7575, statusPort: 80)
        try files.publish(id: id, sessionPort: 7575, statusPort: nil)
        #expect(read(files.sessionFile) != nil)
        #expect(read(files.statusFile) == nil)
    }

    @Test func withdrawingRemovesBothFilesAndMayBeRepeated() throws {
        let files = AvahiServiceFiles(directory: scratchDirectory("avahi"))
        try files.publish(id: id, sessionPort: 7575, statusPort: 80)
        try files.withdraw()
        try files.withdraw()
        #expect(AtomicFile.names(in: files.directory).isEmpty)
    }

    @Test func aMissingDirectoryIsAnErrorNamingIt() {
        let files = AvahiServiceFiles(directory: scratchDirectory("avahi") + "/absent")
        #expect {
            try files.publish(id: id, sessionPort: 7575, statusPort: nil)
        } throws: { error in
            "\(error)".contains("/absent")
        }
    }

    @Test func anIdThatIsNotBase32IsRefusedAndNothingIsWritten() {
        let files = AvahiServiceFiles(directory: scratchDirectory("avahi"))
        #expect(throws: NotAnEndpointId.self) {
            try files.publish(id: "x</txt-record><port>1", sessionPort: 7575, statusPort: 80)
        }
        #expect(AtomicFile.names(in: files.directory).isEmpty)
    }
}
