import DeviceChoice
import Identity
import TestSupport
import Testing

@Suite struct WishesTests {
    let pi = EndpointIdentity.generate().endpointId
    let other = EndpointIdentity.generate().endpointId

    @Test func wishesSaveAndLoadBackInTheirOrder() throws {
        var wishes = Wishes()
        try wishes.add(Wish(server: pi, what: .device(.ids(vendor: 0x0781, product: 0x5581))))
        try wishes.add(Wish(server: other, what: .everyDeviceIncludingNew))
        try wishes.add(Wish(server: pi, what: .device(.busid("1-1.2"))))
        try wishes.add(Wish(server: pi, what: .device(.name("SanDisk Ultra"))))
        #expect(try !wishes.add(Wish(server: pi, what: .device(.busid("1-1.2")))))  // already there
        let path = scratchDirectory("wishes") + "/state/wishes"
        try wishes.save(to: path)
        let loaded = try Wishes.load(from: path)
        #expect(loaded == wishes)
        #expect(loaded.servers == [pi, other])
        #expect(loaded.of(pi).count == 3)
        #expect(try Wishes.load(from: path + ".missing") == Wishes())
    }

    @Test func removingByServerOrDeviceReturnsWhatWent() throws {
        var wishes = Wishes()
        try wishes.add(Wish(server: pi, what: .device(.name("SanDisk"))))
        try wishes.add(Wish(server: other, what: .device(.name("SanDisk"))))
        let removed = wishes.remove { $0.server == pi }
        #expect(removed.map(\.server) == [pi])
        #expect(wishes.all.map(\.server) == [other])
    }

    @Test func namesThatCannotStayOnOneLineAreRefused() {
        var wishes = Wishes()
        for name in ["", "two\nlines", " padded", String(repeating: "x", count: 257), "bell\u{7}"] {
            #expect(throws: WishesError.badName(name)) { try wishes.add(Wish(server: pi, what: .device(.name(name)))) }
        }
    }

    @Test func aBadLineSaysWhereAndWhat() {
        let cases: [(String, String)] = [
            ("\(pi)  busid nonsense", "'nonsense' is not a bus id"),
            ("\(pi)  ids 12345", "'12345' is not VID:PID"),
            ("\(pi)  every-device-including-new now", "nothing may follow every-device-including-new"),
            ("\(pi)  colour blue", "expected busid, ids, name or every-device-including-new after the server"),
        ]
        for (line, why) in cases {
            #expect(throws: WishesError.badLine(path: "wishes", line: 2, why)) {
                try Wishes(parsing: "# header\r\n" + line + "\r\n", path: "wishes")
            }
        }
    }

    @Test func atMostTwoHundredFiftySixWishes() throws {
        var wishes = Wishes()
        for n in 0..<Wishes.maxWishes { try wishes.add(Wish(server: pi, what: .device(.name("device \(n)")))) }
        #expect(throws: WishesError.tooMany) { try wishes.add(Wish(server: pi, what: .everyDeviceIncludingNew)) }
    }
}
