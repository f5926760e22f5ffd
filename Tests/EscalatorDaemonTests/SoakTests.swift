import EscalatorOutputs
import EscalatorTestKit
import Foundation
import Testing

/// The bounded soak: a virtual week at 15-minute steps on a shop whose orders keep changing, closing and being
/// replaced (Benchmarks/EscalatorBench/Soak.swift; docs/benchmarks.md has the 100,000-case run). It runs in its own
/// process, so its resident memory is its own. What the daemon holds must follow the open orders, not every
/// order it has ever read, and its memory must stay flat.
@Suite struct SoakTests {
    struct Day: Decodable {
        let soak_day: Int
        let rss_mb: Double
        let open_orders: Int
        let orders_ever: Int
        let cases_in_memory: Int
        let states_in_memory: Int
        let queue_entries: Int
        let known_to_poller: Int
        let notices: Int
    }

    @Test func aVirtualWeekOfChangingOrdersLeavesMemoryFlat() throws {
        let bench = "\(repositoryRoot)/.build/debug/escalator-bench"
        #expect(FileManager.default.isExecutableFile(atPath: bench), "build the benchmark harness first (swift build)")
        let work = try TemporaryDirectory("escalator-soak")
        defer { work.remove() }
        let cases = 2_000
        let result = try Subprocess.run([bench, "--cases", String(cases), "--soak-days", "7", "--work", work.path])
        #expect(result.succeeded, "\(result.output.suffix(3000))")
        let days = try result.output.split(separator: "\n").filter { $0.hasPrefix("{\"soak_day\"") }.map {
            try JSONDecoder().decode(Day.self, from: Data($0.utf8))
        }
        try #require(days.count == 7, "\(result.output.suffix(3000))")
        for day in days { print("soak: \(day)") }
        let settled = days[1]
        let last = days[6]
        // The shop really changed: over half the orders of the week are new, and the daemon escalated every day.
        #expect(last.orders_ever >= cases * 3 / 2)
        #expect(days.allSatisfy { $0.notices > 0 && $0.open_orders == days[0].open_orders })
        // What the daemon holds follows the open orders.
        #expect(Double(last.cases_in_memory) <= Double(settled.cases_in_memory) * 1.1, "cases held grew: \(settled) → \(last)")
        #expect(last.cases_in_memory <= last.open_orders * 11 / 10)
        #expect(last.states_in_memory <= last.cases_in_memory)
        #expect(last.queue_entries <= 2 * last.cases_in_memory + 1024)
        #expect(Double(last.known_to_poller) <= Double(settled.known_to_poller) * 1.15, "the poller's memory grew: \(settled) → \(last)")
        // And so does resident memory.
        #expect(last.rss_mb <= settled.rss_mb * 1.1 + 8, "resident memory grew from \(settled.rss_mb) MB to \(last.rss_mb) MB")
    }
}
