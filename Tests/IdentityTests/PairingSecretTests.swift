import Glibc
import TestSupport
import Testing

@testable import Identity

@Suite struct PairingSecretTests {
    @Test func aSecretIsCreated0600AndLoadsBackTheSame() throws {
        let path = scratchDirectory("secret") + "/state/pairing.secret"
        let (made, created) = try PairingSecret.loadOrCreate(at: path)
        let (again, createdAgain) = try PairingSecret.loadOrCreate(at: path)
        #expect(created && !createdAgain && made == again)
    }

    @Test func aSecretOthersMayReadIsRefusedWithTheFix() throws {
        let path = scratchDirectory("secret") + "/pairing.secret"
        _ = try PairingSecret.loadOrCreate(at: path)
        chmod(path, 0o640)
        #expect(throws: PairingSecretError.insecurePermissions(path: path, mode: 0o640)) {
            try PairingSecret.load(from: path)
        }
        #expect("\(PairingSecretError.insecurePermissions(path: path, mode: 0o640))".contains("chmod 600"))
    }
}
