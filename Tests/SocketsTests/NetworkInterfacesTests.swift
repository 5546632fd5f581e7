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
}
