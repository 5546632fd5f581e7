import Identity
import Secure
import Sockets

/// The two ends of `usbp2p-pair/1` on a TLS connection whose handshake is done.
public enum PairingExchange {
    public static let alpn = "usbp2p-pair/1"
    static let maxMessage = 4 + PairingProof.length + 1 + PairingRequest.maxNameBytes + 256

    /// The client: proves the secret, returns the server's reply.
    public static func request(over stream: TLSStream, secret: PairingSecret, name: String) throws -> PairingReply {
        let exporter = try stream.connection.exportKeyingMaterial(
            label: PairingProof.exporterLabel, context: [], length: PairingProof.exporterLength)
        let proof = PairingProof.make(secret: secret, exporter: exporter)
        try stream.writeAll(PairingRequest(proof: proof, name: name).encoded)
        return try readMessage(from: stream) { bytes throws(PairingMessageError) in try PairingReply.decode(bytes) }
    }

    /// What the server decided about a request, and whom it came from.
    public struct Outcome: Sendable {
        public let peer: EndpointId
        public let name: String
        public let verdict: PairingWindow.Verdict
        /// What the client was told.
        public let reply: PairingReply
    }

    /// The server: reads the request, asks `window` for a verdict, and on acceptance calls
    /// `store` (which returns the server's name, or throws why it could not keep the peer).
    public static func respond(
        over stream: TLSStream, secret: PairingSecret, window: PairingWindow,
        store: (EndpointId, String) throws -> String
    ) throws -> Outcome {
        guard let peer = stream.connection.peer else { throw TLSError.peerRefused("no peer key") }
        let request: PairingRequest
        do {
            request = try readMessage(from: stream) { bytes throws(PairingMessageError) in
                try PairingRequest.decode(bytes)
            }
        } catch let error as PairingMessageError {
            try? stream.writeAll(PairingReply(status: .malformed, text: "malformed request: \(error)").encoded)
            throw error
        }
        let exporter = try stream.connection.exportKeyingMaterial(
            label: PairingProof.exporterLabel, context: [], length: PairingProof.exporterLength)
        let valid = PairingProof.isValid(request.proof, secret: secret, exporter: exporter)
        let verdict = window.decide(proofIsValid: valid, from: peer.description)
        let reply: PairingReply
        switch verdict {
        case .accepted:
            do {
                reply = PairingReply(status: .paired, text: try store(peer, request.name))
            } catch {
                reply = PairingReply(status: .failed, text: "the server could not save its allowlist: \(error)")
            }
        case .notOpen:
            reply = PairingReply(
                status: .notOpen, text: "pairing is not open: press the button on the appliance, then pair again")
        case .wrongProof(let left):
            // The same whether the window is open or not: only the secret tells.
            reply = PairingReply(
                status: .wrongProof,
                text: "wrong pairing secret, or pairing is not open: check the code, press the button on the "
                    + "appliance, then pair again (\(left) more \(left == 1 ? "try" : "tries") from this laptop)")
        case .tooManyWrongProofs:
            reply = PairingReply(
                status: .tooManyWrongProofs,
                text: "wrong pairing secret \(PairingWindow.maxWrongProofs) times from this laptop: it may not "
                    + "try again until pairing is opened again (press the button on the appliance)")
        }
        try stream.writeAll(reply.encoded)
        return Outcome(peer: peer, name: request.name, verdict: verdict, reply: reply)
    }

    /// Reads until `decode` returns a message; its errors, or the end of the stream, throw.
    static func readMessage<M>(
        from stream: any ByteStream, decode: ([UInt8]) throws(PairingMessageError) -> M?
    ) throws -> M {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            if let message = try decode(bytes) { return message }
            let n = try stream.read(into: &buffer)
            guard n > 0 else { throw PairingMessageError.truncated }
            bytes += buffer[0..<n]
            guard bytes.count <= maxMessage else { throw PairingMessageError.trailingBytes }
        }
    }
}
