import Testing

@testable import Sockets

@Suite struct NetworkInterfacesTests {
    let lan = NetworkInterfaces.Subnet(address: 0xC0A8_0105, mask: 0xFFFF_FF00)  // 192.168.1.5/24

    @Test func hostsOfThisLinkAreOnIt() {
        #expect(NetworkInterfaces.isOnLink("192.168.1.77", subnets: [lan]))
        #expect(NetworkInterfaces.isOnLink("169.254.3.4", subnets: [lan]))
        #expect(NetworkInterfaces.isOnLink("127.0.0.1", subnets: []))
    }

    @Test func hostsElsewhereAndNamesAreNot() {
        #expect(!NetworkInterfaces.isOnLink("192.168.2.77", subnets: [lan]))
        #expect(!NetworkInterfaces.isOnLink("198.18.0.1", subnets: [lan]))
        #expect(!NetworkInterfaces.isOnLink("fe80::1", subnets: [lan]))
        #expect(!NetworkInterfaces.isOnLink("example.com", subnets: [lan]))
    }

    @Test func thisMachinesOwnNetworksAreFound() {
        #expect(NetworkInterfaces.ipv4Subnets().contains { $0.address >> 24 == 127 })
    }

    @Test func privateAndLinkLocalAddressesAreTheOnlyLocalOnes() {
        for host in [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.20", "169.254.9.9", "::1", "fe80::1",
            "fd12:3456::1", "::ffff:192.168.1.2",
        ] {
            #expect(NetworkInterfaces.isPrivateOrLinkLocal(host), "\(host)")
        }
        for host in [
            "8.8.8.8", "172.32.0.1", "198.18.0.1", "100.64.0.1", "2001:db8::1", "::ffff:8.8.8.8", "pi.local", "",
        ] {
            #expect(!NetworkInterfaces.isPrivateOrLinkLocal(host), "\(host)")
        }
    }
}
