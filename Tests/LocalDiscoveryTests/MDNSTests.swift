import Log
import Sockets
import Testing

@testable import LocalDiscovery

@Suite struct MDNSTests {
    let id = "gue4jmr2bjchvcc7twql6cjarju7vb6jpzbouawzunp2xoy37dhhj4bn"

    @Test func aBrowserFindsTheAdvertisedServerByItsIdOverLegacyUnicast() throws {
        // Unicast to the advertiser's own port on loopback: the query and answer logic
        // without the multicast group (the guest scenario has the real LAN).
        let advertiser = try MDNSAdvertiser(
            id: id, port: 7575, logger: Logger(label: "test", level: .error), listenPort: 0, joinGroup: false)
        advertiser.start()
        defer { advertiser.stop() }
        let found = MDNSBrowser.find(
            id: id, within: 3, target: Endpoint(host: "127.0.0.1", port: advertiser.boundPort))
        #expect(!found.isEmpty)
        #expect(found.allSatisfy { $0.port == 7575 })
    }

    @Test func anotherServersIdFindsNothing() throws {
        let advertiser = try MDNSAdvertiser(
            id: id, port: 7575, logger: Logger(label: "test", level: .error), listenPort: 0, joinGroup: false)
        advertiser.start()
        defer { advertiser.stop() }
        let found = MDNSBrowser.find(
            id: "someoneelse", within: 1, target: Endpoint(host: "127.0.0.1", port: advertiser.boundPort))
        #expect(found.isEmpty)
    }

    @Test func queriesForOtherNamesGetNoAnswerAndLegacyQueriesAreAnsweredToTheirPort() throws {
        let advertiser = try MDNSAdvertiser(
            id: id, port: 7575, logger: Logger(label: "test", level: .error), listenPort: 0, joinGroup: false)
        let other = DNSMessage(id: 1, questions: [DNSQuestion(name: "_ipp._tcp.local", type: DNSType.ptr)])
        #expect(advertiser.answer(to: other, from: Endpoint(host: "10.1.0.9", port: 5353)) == nil)
        let legacy = DNSMessage(id: 9, questions: [DNSQuestion(name: MDNS.serviceType, type: DNSType.ptr)])
        let reply = try #require(advertiser.answer(to: legacy, from: Endpoint(host: "10.1.0.9", port: 40000)))
        #expect(reply.destination == Endpoint(host: "10.1.0.9", port: 40000))
        #expect(reply.message.id == 9 && reply.message.questions == legacy.questions)
        #expect(reply.message.answers.allSatisfy { $0.ttl <= 10 })
        let multicast = try #require(advertiser.answer(to: legacy, from: Endpoint(host: "10.1.0.9", port: 5353)))
        #expect(multicast.destination == MDNS.group)
    }

    @Test func recordsGiveTheAddressesOfTheInstanceWithTheId() {
        let (instance, host) = MDNS.names(for: id)
        let records = [
            DNSRecord(name: instance, ttl: 10, data: .txt(["id=\(id)"])),
            DNSRecord(name: instance, ttl: 10, data: .srv(priority: 0, weight: 0, port: 7575, target: host)),
            DNSRecord(name: host, ttl: 10, data: .a([10, 1, 0, 2])),
            DNSRecord(name: "usbp2p-other._usbp2p._tcp.local", ttl: 10, data: .txt(["id=other"])),
            DNSRecord(
                name: "usbp2p-other._usbp2p._tcp.local", ttl: 10,
                data: .srv(priority: 0, weight: 0, port: 1, target: "other.local")),
            DNSRecord(name: "other.local", ttl: 10, data: .a([10, 1, 0, 3])),
        ]
        #expect(MDNSBrowser.endpoints(of: id, in: records) == [Endpoint(host: "10.1.0.2", port: 7575)])
    }

    @Test func avahisAnswerForTheServiceFileGivesTheServersAddress() throws {
        // avahi-daemon 0.8's reply (captured on a veth pair) to the browser's legacy
        // unicast PTR query, for the service file AvahiServiceFiles writes: PTR, TXT, SRV
        // to avahi's host name, AAAA and A, all as answers.
        let hex = [
            "123484000001000500000000075f757362703270045f746370056c6f63616c00000c0001c00c000c00010000000a0016",
            "137573627032702d677565346a6d7232626a6368c00cc030001000010000000a00403b69643d677565346a6d7232626a",
            "6368766363377477716c36636a61726a75377662366a707a626f7561777a756e7032786f7933376468686a34626e0376",
            "3d31c030002100010000000a000f000000001d9706757362703270c019c0a4001c00010000000a0010fe800000000000",
            "000056b7fffe0200a4c0a4000100010000000a00040a630001",
        ].joined()
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(try #require(UInt8(hex[index..<next], radix: 16)))
            index = next
        }
        let reply = try DNSMessage(decoding: bytes)
        #expect(reply.isResponse)
        #expect(
            MDNSBrowser.endpoints(of: id, in: reply.answers + reply.additional) == [
                Endpoint(host: "10.99.0.1", port: 7575)
            ])
    }
}
