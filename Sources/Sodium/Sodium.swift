import CSodium

/// libsodium behind Swift types: the one place this project calls it.
/// Roles (design brief): libsodium holds identities and application crypto (keys,
/// signatures, MACs, random); OpenSSL only runs the TLS channel.
public enum Sodium {
    /// sodium_init is idempotent and thread-safe; a global runs it once, lazily.
    private static let initialized: Bool = sodium_init() >= 0

    /// Initialises libsodium; traps if it cannot (no usable random source, which leaves
    /// nothing safe to do).
    public static func ensureInitialized() {
        precondition(initialized, "libsodium could not be initialised")
    }

    /// The linked libsodium's version, e.g. "1.0.18".
    public static var version: String { String(cString: sodium_version_string()) }

    /// `count` bytes from the operating system's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        ensureInitialized()
        var bytes = [UInt8](repeating: 0, count: count)
        withMutablePointer(&bytes) { randombytes_buf($0, count) }
        return bytes
    }

    /// Compares two byte strings in time independent of where they differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return withPointer(a) { pa in withPointer(b) { pb in sodium_memcmp(pa, pb, a.count) == 0 } }
    }
}

/// Ed25519 signatures (RFC 8032) through libsodium's crypto_sign.
public enum Ed25519 {
    public static let seedLength = Int(crypto_sign_SEEDBYTES)
    public static let publicKeyLength = Int(crypto_sign_PUBLICKEYBYTES)
    public static let secretKeyLength = Int(crypto_sign_SECRETKEYBYTES)
    public static let signatureLength = Int(crypto_sign_BYTES)

    /// The key pair a 32-byte seed determines.
    public static func keyPair(seed: [UInt8]) -> (publicKey: [UInt8], secretKey: [UInt8]) {
        precondition(seed.count == seedLength, "an Ed25519 seed has \(seedLength) bytes")
        Sodium.ensureInitialized()
        var publicKey = [UInt8](repeating: 0, count: publicKeyLength)
        var secretKey = [UInt8](repeating: 0, count: secretKeyLength)
        let rc = withMutablePointer(&publicKey) { pk in
            withMutablePointer(&secretKey) { sk in
                withPointer(seed) { crypto_sign_seed_keypair(pk, sk, $0) }
            }
        }
        precondition(rc == 0, "crypto_sign_seed_keypair failed")
        return (publicKey, secretKey)
    }

    /// A detached signature of `message`.
    public static func sign(_ message: [UInt8], secretKey: [UInt8]) -> [UInt8] {
        precondition(secretKey.count == secretKeyLength, "an Ed25519 secret key has \(secretKeyLength) bytes")
        var signature = [UInt8](repeating: 0, count: signatureLength)
        let rc = withMutablePointer(&signature) { sig in
            withPointer(message) { m in
                withPointer(secretKey) { crypto_sign_detached(sig, nil, m, UInt64(message.count), $0) }
            }
        }
        precondition(rc == 0, "crypto_sign_detached failed")
        return signature
    }

    /// Whether `signature` is `publicKey`'s signature of `message`. Malformed inputs
    /// (wrong lengths, a small-order key) verify as false.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == signatureLength, publicKey.count == publicKeyLength else { return false }
        Sodium.ensureInitialized()
        return withPointer(signature) { sig in
            withPointer(message) { m in
                withPointer(publicKey) { crypto_sign_verify_detached(sig, m, UInt64(message.count), $0) == 0 }
            }
        }
    }
}

/// BLAKE2b (RFC 7693) through libsodium's crypto_generichash, optionally keyed (a MAC).
public enum BLAKE2b {
    public static let maxKeyLength = Int(crypto_generichash_KEYBYTES_MAX)

    /// A digest of `outputLength` bytes (16...64) of `message`, keyed with `key` if given.
    public static func hash(_ message: [UInt8], key: [UInt8] = [], outputLength: Int = 32) -> [UInt8] {
        precondition((Int(crypto_generichash_BYTES_MIN)...Int(crypto_generichash_BYTES_MAX)).contains(outputLength))
        precondition(key.count <= maxKeyLength)
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: outputLength)
        let rc = withMutablePointer(&out) { o in
            withPointer(message) { m in
                withPointer(key) { k in
                    crypto_generichash(o, outputLength, m, UInt64(message.count), key.isEmpty ? nil : k, key.count)
                }
            }
        }
        precondition(rc == 0, "crypto_generichash failed")
        return out
    }
}

/// Runs `body` with a pointer to `bytes`' storage; an empty array gets a pointer to a
/// zero byte, since libsodium's parameters are non-null even for zero lengths.
func withPointer<R>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>) -> R) -> R {
    bytes.withUnsafeBufferPointer { buffer in
        if let base = buffer.baseAddress { return body(base) }
        let zero: UInt8 = 0
        return withUnsafePointer(to: zero) { body($0) }
    }
}

func withMutablePointer<R>(_ bytes: inout [UInt8], _ body: (UnsafeMutablePointer<UInt8>) -> R) -> R {
    precondition(!bytes.isEmpty, "output buffers are never empty")
    return bytes.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
