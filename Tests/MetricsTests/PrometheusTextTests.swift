import Testing

@testable import Metrics

@Suite struct PrometheusTextTests {
    @Test func metricsRenderWithHelpTypeAndEscapedLabels() {
        let text = PrometheusText.render([
            Metric("usbp2p_sessions", .gauge, "Sessions now.", value: 2),
            Metric(
                "usbp2p_bytes_total", .counter, "Bytes.\nAll of them.",
                samples: [([("direction", "in")], 1024), ([("path", "relay \"a\\b\"")], 0.5)]),
        ])
        #expect(
            text == """
                # HELP usbp2p_sessions Sessions now.
                # TYPE usbp2p_sessions gauge
                usbp2p_sessions 2
                # HELP usbp2p_bytes_total Bytes.\\nAll of them.
                # TYPE usbp2p_bytes_total counter
                usbp2p_bytes_total{direction="in"} 1024
                usbp2p_bytes_total{path="relay \\"a\\\\b\\""} 0.5

                """)
    }
}
