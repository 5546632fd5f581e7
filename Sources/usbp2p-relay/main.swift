import ArgumentParser
import CLISupport

struct Usbp2pRelay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usbp2p-relay",
        abstract: "The usbp2p relay: meets endpoints that cannot reach each other directly.",
        discussion: """
            The relay authenticates endpoints by their EndpointIds, tells them their public \
            addresses, and forwards their end-to-end encrypted bytes when no direct path works. \
            It never sees plaintext. This release has no relay service yet: only --version.
            """,
        version: versionText("usbp2p-relay"))
}

Usbp2pRelay.main()
