import OSThreads
import Synchronization
import Testing

@testable import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// glibc's setfsuid(2), per thread: a socket a thread makes is owned by its fsuid.
@_silgen_name("setfsuid") private func setfsuid(_ uid: uid_t) -> Int32

/// The owner of a connection's other end, from the kernel's own socket tables and from
/// tables written as the kernel writes them.
@Suite struct LocalPeerTests {
    /// A connection to a listener on `host`, from `from`, and its accepted end.
    func connection(listening host: String, connectingTo target: String) throws -> (Socket, Socket, TCP.Listener) {
        let listener = try TCP.Listener(endpoint: Endpoint(host: host, port: 0))
        let client = try TCP.connect(to: Endpoint(host: target, port: listener.endpoint.port), timeoutSeconds: 5)
        return (client, try listener.accept(), listener)
    }

    /// IPv4, IPv6, and an IPv4 client of a dual-stack listener (found in the IPv4 table).
    @Test(arguments: [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("::", "127.0.0.1")])
    func theOtherEndOfALoopbackConnectionIsOwnedByTheUserWhoMadeIt(listening: String, connectingTo: String) throws {
        let (client, accepted, _) = try connection(listening: listening, connectingTo: connectingTo)
        defer {
            client.close()
            accepted.close()
        }
        #expect(LocalPeer.owner(of: accepted) == .user(geteuid()))
    }

    @Test(.enabled(if: geteuid() == 0, "making a socket as another user needs root"))
    func aConnectionMadeByAnotherUserIsOwnedByThatUser() throws {
        let listener = try TCP.Listener(endpoint: Endpoint(host: "127.0.0.1", port: 0))
        let made = Mutex<Socket?>(nil)
        let thread = try OSThread.start(name: "as-nobody") {
            _ = setfsuid(65534)
            made.withLock { $0 = try? TCP.connect(to: listener.endpoint, timeoutSeconds: 5) }
            _ = setfsuid(0)
        }
        thread.join()
        let client = try #require(made.withLock { $0 })
        let accepted = try listener.accept()
        defer {
            client.close()
            accepted.close()
        }
        #expect(LocalPeer.owner(of: accepted) == .user(65534))
    }

    @Test func aConnectionWhoseOtherEndIsNotInTheTableHasNoKnownOwner() throws {
        let (client, accepted, _) = try connection(listening: "127.0.0.1", connectingTo: "127.0.0.1")
        defer {
            client.close()
            accepted.close()
        }
        let empty = scratchTables(
            tcp: "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n")
        #expect(LocalPeer.owner(of: accepted, tables: empty) == .unknownLocal)
    }

    #if _endian(little)
        @Test func addressesAreKeyedAsTheKernelPrintsThem() throws {
            #expect(
                LocalPeer.tableKey(try TCP.socketAddress(Endpoint(host: "127.0.0.1", port: 3240))) == "0100007F:0CA8")
            #expect(
                LocalPeer.tableKey(try TCP.socketAddress(Endpoint(host: "::1", port: 3240)))
                    == "00000000000000000000000001000000:0CA8")
        }
    #endif

    @Test func theRowWithBothAddressesGivesItsOwnerUnlessInTimeWait() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:0CA8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1
               1: 0100007F:9C40 0100007F:0CA8 06 00000000:00000000 03:00000F9F 00000000     0        0 0 3
               2: 0100007F:9C41 0100007F:0CA8 01 00000000:00000000 00:00000000 00000000  1001        0 102 1
               3: 0100007F:0CA8 0100007F:9C41 01 00000000:00000000 00:00000000 00000000     0        0 103 1
               4: 0100007F:9C43 0100007F:0CA8 05 00000000:00000000 00:00000000 00000000  1002        0 104 1
            """
        // The connecting end's row: its local address is the accepted socket's remote one.
        #expect(LocalPeer.uid(in: table, local: "0100007F:9C41", remote: "0100007F:0CA8") == 1001)
        // A connection in TIME_WAIT (the kernel prints uid 0 for it) is no owner.
        #expect(LocalPeer.uid(in: table, local: "0100007F:9C40", remote: "0100007F:0CA8") == nil)
        // Half closed (FIN_WAIT2) by its maker, who may still read: still its maker's.
        #expect(LocalPeer.uid(in: table, local: "0100007F:9C43", remote: "0100007F:0CA8") == 1002)
        #expect(LocalPeer.uid(in: table, local: "0100007F:9C42", remote: "0100007F:0CA8") == nil)
        #expect(LocalPeer.uid(in: "", local: "0100007F:9C41", remote: "0100007F:0CA8") == nil)
        #expect(LocalPeer.uid(in: "header\n 2: short row", local: "0100007F:9C41", remote: "0100007F:0CA8") == nil)
    }

    @Test func groupMembershipIsThePrimaryGroupOrASupplementaryOne() {
        #expect(LocalPeer.isMember(uid: 0, ofGroup: "root"))
        #expect(!LocalPeer.isMember(uid: 0, ofGroup: "nogroup"))
        #expect(!LocalPeer.isMember(uid: 0, ofGroup: "no-such-group-usbp2p"))
        #expect(!LocalPeer.isMember(uid: 4_000_000_000, ofGroup: "root"))
    }

    /// A folder with a `tcp` and an empty `tcp6` table.
    func scratchTables(tcp: String) -> String {
        let path = "/tmp/usbp2p-tables-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(path, 0o700)
        for (name, text) in [("tcp", tcp), ("tcp6", "")] {
            let file = fopen("\(path)/\(name)", "w")
            fputs(text, file)
            fclose(file)
        }
        return path
    }
}
