import AccessPolicy
import Identity
import Testing

@Suite struct AccessPolicyTests {
    let anna = EndpointIdentity.generate().endpointId
    let ben = EndpointIdentity.generate().endpointId
    let mouse = DeviceFacts(busid: "1-1", vendor: 0x046d, product: 0xc52b, serial: nil)
    let stick = DeviceFacts(busid: "1-2", vendor: 0x0781, product: 0x5567, serial: "A1B2")

    @Test func withoutRulesEveryPeerMayUseEveryDevice() {
        #expect(AccessPolicy.allowAll.allows(anna, mouse) && AccessPolicy.allowAll.allows(ben, stick))
    }

    @Test func theFirstMatchingRuleDecidesAndTheDefaultTheRest() throws {
        let policy = try AccessPolicy(
            default: "deny", rules: ["deny * port=1-2", "allow \(anna) 046d:c52b", "allow * serial=A1B2"])
        #expect(policy.allows(anna, mouse))
        #expect(!policy.allows(ben, mouse))
        // The serial rule would allow the stick, but the port rule comes first.
        #expect(!policy.allows(anna, stick))
    }

    @Test func aVendorWithAnyProductMatchesAllItsProducts() throws {
        let policy = try AccessPolicy(default: "deny", rules: ["allow * 0781:*"])
        #expect(policy.allows(ben, stick) && !policy.allows(ben, mouse))
    }

    @Test func badRulesSayWhichRuleAndWhy() {
        #expect(throws: AccessPolicyError.badDefault("maybe")) { try AccessPolicy(default: "maybe", rules: []) }
        for bad in ["allow *", "permit * *", "allow nobody *", "allow * 46d:c52b", "allow * port=", "allow * serial="] {
            #expect(throws: AccessPolicyError.self) { try AccessPolicy(default: "allow", rules: [bad]) }
        }
        do {
            _ = try AccessPolicy(default: "allow", rules: ["allow * *", "allow * usb"])
            Issue.record("accepted a bad device")
        } catch {
            #expect("\(error)".hasPrefix("rule 2 (\"allow * usb\")"))
        }
    }
}
