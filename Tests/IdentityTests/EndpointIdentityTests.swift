import Testing

@testable import Identity

@Suite struct EndpointIdentityTests {
    @Test func sameSeedGivesSameEndpointId() {
        let seed = [UInt8](repeating: 3, count: 32)
        #expect(EndpointIdentity(seed: seed).endpointId == EndpointIdentity(seed: seed).endpointId)
    }

    @Test func generatedIdentitiesDiffer() {
        #expect(EndpointIdentity.generate().endpointId != EndpointIdentity.generate().endpointId)
    }

    @Test func signaturesVerifyOnlyUnderTheSignersId() {
        let alice = EndpointIdentity.generate()
        let bob = EndpointIdentity.generate()
        let challenge = Array("challenge".utf8)
        let signature = alice.sign(challenge)
        #expect(alice.endpointId.verify(signature: signature, of: challenge))
        #expect(!bob.endpointId.verify(signature: signature, of: challenge))
    }
}
