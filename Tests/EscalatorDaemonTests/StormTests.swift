import EscalatorConfig
import EscalatorCore
@testable import EscalatorDaemon
import EscalatorOutputs
import EscalatorRuntime
import EscalatorSources
import EscalatorState
import EscalatorTestKit
import Foundation
import GRDB
import Logging
import Testing

/// An escalation storm: `cases` open orders whose deadline (opened + 2 h) falls within one hour, on rules with two
/// steps an hour apart (breach → the owner, breach + 1 h → the supervisor). Every order has both steps due within
/// [start, end], and a daemon that is down for less than an hour never folds two steps of one order into one.
struct StormFixture {
    let directory: TemporaryDirectory
    let cases: Int
    /// The first order opens at origin − 1 h, the last just before origin: breaches fall in [origin + 1 h, origin + 2 h).
    static let origin = ISO8601DateFormatter().date(from: "2026-06-01T10:00:00Z")!
    let start = StormFixture.origin.addingTimeInterval(30 * 60)
    let end = StormFixture.origin.addingTimeInterval(3 * 3600 + 120)
    var configDirectory: String { "\(directory.path)/config" }
    var spoolDirectory: String { "\(directory.path)/spool" }
    var stateDirectory: String { "\(directory.path)/state" }

    init(cases: Int, state: String? = nil) throws {
        self.cases = cases
        directory = try TemporaryDirectory("escalator-storm")
        try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
        let database = "\(directory.path)/orders.db"
        let queue = try DatabaseQueue(path: database)
        try queue.write { db in
            try db.execute(sql: ReferenceSchema.sqlite)
            try db.execute(sql: "INSERT INTO staff (id, name, email) VALUES ('boss', 'Boss', 'boss@shop.example')")
            for owner in 0..<20 {
                try db.execute(
                    sql: "INSERT INTO staff (id, name, email, supervisor) VALUES (?, ?, ?, 'boss')",
                    arguments: ["o\(owner)", "Owner \(owner)", "o\(owner)@shop.example"])
            }
            let spacing = 3600.0 / Double(cases)
            for index in 0..<cases {
                let opened = Self.origin.addingTimeInterval(-3600 + Double(index) * spacing)
                try db.execute(
                    sql: "INSERT INTO orders (id, owner, opened_at, updated_at) VALUES (?, ?, ?, ?)",
                    arguments: [String(format: "S-%05d", index), "o\(index % 20)", UTCTimestamp.format(opened), UTCTimestamp.format(opened)])
            }
        }
        try queue.close()
        let people = (0..<20).map { "  o\($0): { name: Owner \($0), email: o\($0)@shop.example, supervisor: boss }" }.joined(separator: "\n")
        try """
            people:
              boss: { name: Boss, email: boss@shop.example }
            \(people)
            raci:
              fallback_owner: boss
            ladder:
              - { at: breach, to: responsible }
              - { at: breach + 1h, to: supervisor }
            policies:
              - name: two-hours
                measure: deadline
                deadline: opened_at + 2h
            \(ReferenceSchema.sourceSection(["driver: sqlite", "path: \(database)", "poll_every: 1m", "full_resync_every: 24h"]))\
            mail:
              from: escalator@shop.example
              spool: \(spoolDirectory)
            state:
            \(state ?? "  directory: \(stateDirectory)")

            """.write(toFile: "\(configDirectory)/escalator.yaml", atomically: true, encoding: .utf8)
    }

    func configuration() throws -> EscalatorConfig.Configuration {
        let result = ConfigLoader.load(directory: configDirectory)
        return try #require(result.configuration, "\(result.diagnostics)")
    }

    /// The notices `simulate` decides over [start, end].
    func simulated() async throws -> [String] {
        let configuration = try configuration()
        let source = try CaseSources.open(try #require(configuration.source))
        let batch = try await source.readAll(asOf: nil)
        await source.close()
        #expect(batch.cases.count == cases)
        var ids: [String] = []
        Simulation.run(cases: batch.cases, rules: configuration.rules, from: start, to: end, step: 60) { notice, _, _ in ids.append(notice.id) }
        return ids
    }

    /// "" when the two lists hold the same notices, else how they differ (counts and a few of each).
    static func difference(_ actual: [String], _ expected: [String]) -> String {
        let missing = Set(expected).subtracting(actual).sorted()
        let extra = Set(actual).subtracting(expected).sorted()
        if missing.isEmpty && extra.isEmpty { return "" }
        return "\(missing.count) missing (e.g. \(missing.prefix(3))), \(extra.count) not simulated (e.g. \(extra.prefix(3)))"
    }

    /// Checks the spool and the daemons' event logs against `notices`: one whole email per notice and none other,
    /// every notice's entry at least once and no entry for anything else. Returns how many entries were repeats.
    func checkDelivery(of notices: [String], logs: [String]) throws -> Int {
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(spoolDirectory)/new")
        #expect(files.count == notices.count)
        #expect(Self.difference(files, notices.map { MailSpool.fileName(noticeID: $0) }) == "", "spool files and notices differ")
        var messageIDs: Set<String> = []
        for name in files {
            let text = try String(contentsOfFile: "\(spoolDirectory)/new/\(name)", encoding: .utf8)
            let id = OutboxDelivery.messageID(text)
            #expect(id != nil && text.contains("\n\n") && text.hasSuffix("\n"), "\(name) is not a whole message")
            if let id { messageIDs.insert(id) }
        }
        #expect(messageIDs.count == files.count, "two emails share a Message-ID")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(spoolDirectory)/tmp").isEmpty)
        var entries: [String: Int] = [:]
        for log in logs {
            for line in log.split(separator: "\n") {
                guard let range = line.range(of: "escalator_notice_id=") else { continue }
                let id = line[range.upperBound...].prefix { !$0.isWhitespace }
                entries[String(id), default: 0] += 1
            }
        }
        #expect(Self.difference(Array(entries.keys), notices) == "", "journal entries and notices differ")
        return entries.values.reduce(0) { $0 + $1 - 1 }
    }
}

@Suite(.serialized) struct CrashStormTests {
    /// 10,000 orders breach within one virtual hour; the daemon runs on a virtual clock 120 times faster than the
    /// wall and is SIGKILLed at 20 random instants, each time restarted at once. Afterwards the spool holds exactly
    /// the notices `simulate` decides for the same period, once each; the journal has each at least once; the state
    /// store agrees with the outbox.
    @Test func twentyRandomKillsInAStormLoseAndDuplicateNothing() async throws {
        let fixture = try StormFixture(cases: 10_000)
        defer { fixture.directory.remove() }
        // 120× keeps a restart (a full read of 10,000 orders in a debug build, on a busy machine) well under the
        // 30 real seconds that make one virtual hour, the spacing of the steps.
        let speed = 120.0
        let realStart = Date()
        let environment = [DaemonClock.variable: DaemonClock.value(virtual: fixture.start, real: realStart, speed: speed)]
        let realEnd = realStart.addingTimeInterval(fixture.end.timeIntervalSince(fixture.start) / speed)
        var random = SystemRandomNumberGenerator()
        let span = realEnd.timeIntervalSince(realStart) - 4
        let instants = (0..<20).map { _ in realStart.addingTimeInterval(2 + Double.random(in: 0..<span, using: &random)) }.sorted()
        var logs: [String] = []
        var killedWhileRunning = 0
        var daemon = try BackgroundProcess([escalatorBinary, "run", "--config", fixture.configDirectory], environment: environment)
        for instant in instants {
            let wait = instant.timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
            kill(daemon.pid, SIGKILL)
            if daemon.wait(timeout: 30) == .signal(SIGKILL) { killedWhileRunning += 1 }
            logs.append(daemon.log)
            daemon = try BackgroundProcess([escalatorBinary, "run", "--config", fixture.configDirectory], environment: environment)
        }
        #expect(killedWhileRunning == 20)
        // Past the virtual end, once the outbox is empty, stop the last one cleanly.
        let remaining = realEnd.timeIntervalSinceNow
        if remaining > 0 { usleep(UInt32(remaining * 1_000_000)) }
        let store = try StateStore(directory: fixture.stateDirectory, readOnly: true)
        let deadline = Date().addingTimeInterval(300)
        while try (store.outboxDepth() > 0 || store.meta()["last_tick"].flatMap { ISO8601DateFormatter().date(from: $0) }.map { $0 < fixture.end } ?? true), Date() < deadline {
            usleep(200_000)
        }
        kill(daemon.pid, SIGTERM)
        #expect(daemon.wait(timeout: 60) == .status(0))
        logs.append(daemon.log)

        let expected = try await fixture.simulated()
        #expect(expected.count == 2 * fixture.cases)
        let notices = try store.queuedNoticeIDs()
        #expect(Set(notices).count == notices.count)
        #expect(StormFixture.difference(notices, expected) == "")
        let repeats = try fixture.checkDelivery(of: notices, logs: logs)
        // State: every step recorded with a notice id has its notice in the outbox, and nothing more.
        let recorded = Set(try await store.loadStates().values.flatMap { $0.occurrences.flatMap { $0.taken.compactMap(\.noticeID) } })
        #expect(recorded == Set(notices))
        print("storm: \(notices.count) notices, \(killedWhileRunning) kills, \(repeats) journal entries repeated after a kill")
    }
}

/// What the daemon keeps in memory and writes when there is little to do.
@Suite struct DaemonMemoryTests {
    func open(_ fixture: StormFixture) async throws -> (StateStore, Daemon) {
        let store = try StateStore(directory: fixture.stateDirectory)
        let events = EventWriter(mode: .pipe, output: try #require(FileHandle(forWritingAtPath: "/dev/null")))
        return (store, try await Daemon(configuration: try fixture.configuration(), store: store, events: events, logger: Logger(label: "test")))
    }

    func execute(_ fixture: StormFixture, _ sql: String) throws {
        let queue = try DatabaseQueue(path: "\(fixture.directory.path)/orders.db")
        try queue.write { try $0.execute(sql: sql) }
        try queue.close()
    }

    /// A closed case with nothing open leaves memory; when it is reopened its state comes back from the store, so
    /// its new occurrence is the second (ordinal 2) and nothing already sent is sent again.
    @Test func aSettledCaseIsReleasedAndComesBackWithItsState() async throws {
        let fixture = try StormFixture(cases: 3)
        defer { fixture.directory.remove() }
        let (store, daemon) = try await open(fixture)
        let origin = StormFixture.origin
        func stamp(_ minutes: Double) -> String { UTCTimestamp.format(origin.addingTimeInterval(minutes * 60)) }

        let first = try await daemon.cycle(now: origin.addingTimeInterval(105 * 60))
        #expect(first.notices.count == 3 && first.notices.allSatisfy { $0.hasSuffix(".1/step1") })
        #expect(await daemon.footprint().cases == 3)

        try execute(fixture, "UPDATE orders SET status = 'delivered', closed_at = '\(stamp(110))', updated_at = '\(stamp(110))' WHERE id = 'S-00000'")
        _ = try await daemon.cycle(now: origin.addingTimeInterval(115 * 60))
        let released = await daemon.footprint()
        #expect(released.cases == 2 && released.released == 1 && released.states == 2)

        try execute(fixture, "UPDATE orders SET status = 'open', closed_at = NULL, updated_at = '\(stamp(120))' WHERE id = 'S-00000'")
        let reopened = try await daemon.cycle(now: origin.addingTimeInterval(125 * 60))
        let again = reopened.notices.filter { $0.hasPrefix("S-00000/") }
        #expect(again.count == 1 && again[0].contains(".2/"), "\(again)")
        #expect(await daemon.footprint().cases == 3)
        let queued = try store.queuedNoticeIDs()
        #expect(Set(queued).count == queued.count)
        await daemon.close()
    }

    /// An idle cycle (nothing changed, nothing due, the same status) writes nothing to the state store, save the
    /// status heartbeat every 10 seconds.
    @Test func anIdleCycleWritesNothingButAHeartbeat() async throws {
        let fixture = try StormFixture(cases: 3)
        defer { fixture.directory.remove() }
        let (store, daemon) = try await open(fixture)
        let start = StormFixture.origin.addingTimeInterval(-30 * 60)
        _ = try await daemon.cycle(now: start)
        let written = try #require(try store.meta()["last_tick"])
        _ = try await daemon.cycle(now: start.addingTimeInterval(5))
        #expect(try store.meta()["last_tick"] == written)
        _ = try await daemon.cycle(now: start.addingTimeInterval(11))
        #expect(try store.meta()["last_tick"] != written)
        await daemon.close()
    }
}

@Suite struct StatusLineTests {
    /// The status line's breached count, kept between recounts, agrees with a count made from the stored state at
    /// every instant, including instants between cycles at which occurrences pass their breach time.
    @Test func theBreachedCountFollowsTimeBetweenCycles() async throws {
        let fixture = try DaemonFixture(background: 20)
        defer { fixture.directory.remove() }
        let (store, daemon, _) = try await fixture.openDaemon()
        let policies = Set(try fixture.configuration().rules.policies.map(\.name))
        var now = DemoStory.day(1, "00:00")
        var compared = 0
        var grewBetweenCycles = 0
        while now < DemoStory.day(9, "00:00") {
            _ = try await daemon.cycle(now: now)
            let states = try await store.loadStates()
            var atCycle: Int?
            for offset in [0.0, 1800, 3599] {
                let instant = now.addingTimeInterval(offset)
                let expected = states.values.filter { state in
                    state.occurrences.contains { $0.clearedAt == nil && policies.contains($0.policy) && ($0.breachAt.map { $0 <= instant } ?? false) }
                }.count
                let line = await daemon.statusLine(now: instant)
                let shown = line.split(separator: "·").first { $0.contains("breached") }.flatMap { Int($0.filter(\.isNumber)) }
                #expect(shown == expected, "\(line) at \(instant)")
                if let atCycle, expected > atCycle { grewBetweenCycles += 1 }
                if atCycle == nil { atCycle = expected }
                compared += 1
            }
            now += 3600
        }
        #expect(compared > 500)
        #expect(grewBetweenCycles > 0, "no breach fell between cycles: the test checks nothing about the cache")
        await daemon.close()
    }
}
