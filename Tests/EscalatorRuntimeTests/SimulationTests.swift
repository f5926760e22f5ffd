import EscalatorConfig
import EscalatorCore
import EscalatorSources
import EscalatorTestKit
import Foundation
import Testing

@testable import EscalatorRuntime

/// `Simulation.run` follows each case on its own, on every core, a window of ticks at a time. It must decide
/// exactly what the daemon's loop decides when every case is driven through one `EscalationLoop` tick by tick, as
/// simulate used to: the same notices, in the same order, each with the same case and state.
@Suite struct SimulationTests {
    /// The former simulation, kept as the oracle: all cases in one loop, ticked at every step.
    static func throughOneLoop(_ cases: [Case], rules: Rules, from: Date, to: Date, step: TimeInterval) -> [String] {
        let byID = Dictionary(cases.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var events: [(Date, String)] = []
        for subject in cases {
            events.append((subject.openedAt, subject.id))
            for item in subject.activity { events.append((item.at, subject.id)) }
            if let closed = subject.closedAt { events.append((closed, subject.id)) }
        }
        events.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        var next = 0
        var loop = EscalationLoop()
        var lines: [String] = []
        var now = from
        while now <= to {
            while next < events.count, events[next].0 <= now {
                loop.markChanged(events[next].1)
                next += 1
            }
            for (notice, subject, state) in loop.tick(at: now, rules: rules, caseFor: { byID[$0]?.asOf(now) }) {
                lines.append(line(notice, subject, state, rules))
            }
            now += step
        }
        return lines
    }

    /// The JSON object a line starts with (JSON written by `Simulation.json` has no newline).
    static func json(of line: String) -> String { String(line.split(separator: "\n", maxSplits: 1)[0]) }

    static func line(_ notice: Notice, _ subject: Case, _ state: EscalationState, _ rules: Rules) -> String {
        "\(Simulation.json(notice, rules: rules))\n\(subject.activity.count) \(subject.status ?? "-") \(state.hashValue)"
    }

    @Test func followingEachCaseOnItsOwnDecidesWhatOneLoopDecides() async throws {
        let directory = try TemporaryDirectory("escalator-simulation")
        defer { directory.remove() }
        let configuration = try Demo(rulesDirectory: "\(repositoryRoot)/Config", outputDirectory: directory.path).prepare()
        let source = try CaseSources.open(try #require(configuration.source))
        var cases = try await source.readAll(asOf: nil).cases
        await source.close()
        #expect(cases.count == Demo.backgroundOrders + 1)
        // A second case with an id already read (the first is the one seen, its changes count too), and a case
        // with activity dated before it opened.
        var twin = cases[7]
        twin.activity = [Activity(id: "twin-1", kind: .customerMessage, at: twin.openedAt.addingTimeInterval(3 * 86_400 + 600), actor: "customer")]
        var early = cases[11]
        early.id = "EARLY-1"
        early.activity.insert(Activity(id: "early-0", kind: .note, at: early.openedAt.addingTimeInterval(-7200), actor: "rep3"), at: 0)
        cases += [twin, early]
        let rules = configuration.rules
        let from = DemoStory.day(1, "00:00")
        let to = DemoStory.day(40, "00:00")
        let expected = Self.throughOneLoop(cases, rules: rules, from: from, to: to, step: 900)
        #expect(expected.count > 2_000)

        var actual: [String] = []
        Simulation.run(cases: cases, rules: rules, from: from, to: to, step: 900) { notice, subject, state in
            actual.append(Self.line(notice, subject, state, rules))
        }
        #expect(actual.count == expected.count)
        let firstDifference = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDifference == nil, "first difference at \(firstDifference ?? -1): \(firstDifference.map { actual[$0] } ?? "") instead of \(firstDifference.map { expected[$0] } ?? "")")

        // Simulate's output path: the lines made on the deciding cores, in the same order.
        var written: [UInt8] = []
        Simulation.lines(cases: cases, rules: rules, from: from, to: to, step: 900, line: { Simulation.json($0, rules: $1, into: &$2) }) {
            written += $0
        }
        #expect(String(decoding: written, as: UTF8.self) == expected.map { Self.json(of: $0) + "\n" }.joined())

        // A write that fails stops the run, and its error is thrown.
        struct Full: Error {}
        var attempts = 0
        #expect(throws: Full.self) {
            try Simulation.lines(cases: cases, rules: rules, from: from, to: to, step: 900, line: { Simulation.json($0, rules: $1, into: &$2) }) { _ in
                attempts += 1
                throw Full()
            }
        }
        #expect(attempts == 1)
    }
}
