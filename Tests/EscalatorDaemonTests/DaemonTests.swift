import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import EscalatorRuntime
import EscalatorSources
import EscalatorState
import EscalatorTestKit
import Foundation
import Logging
import Testing

@testable import EscalatorDaemon

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A demo database (the story plus a few background orders) and its configuration in a temporary directory,
/// with every poll a full resync so that a daemon replaying history on a virtual clock sees what `simulate` sees.
struct DaemonFixture {
    let directory: TemporaryDirectory
    let demo: Demo
    var configDirectory: String { demo.configDirectory }
    var stateDirectory: String { "\(demo.liveDirectory)/state" }
    var spoolDirectory: String { "\(demo.liveDirectory)/spool" }

    init(background: Int = 6) throws {
        directory = try TemporaryDirectory("escalator-daemon")
        demo = Demo(rulesDirectory: "\(repositoryRoot)/Config", outputDirectory: directory.path, background: background)
        _ = try demo.prepare()
        let main = "\(demo.configDirectory)/escalator.yaml"
        let text = try String(contentsOfFile: main, encoding: .utf8)
        try text.replacingOccurrences(of: "  poll_every: 1m\n", with: "  poll_every: 1m\n  full_resync_every: 1m\n")
            .write(toFile: main, atomically: true, encoding: .utf8)
    }

    func configuration() throws -> Configuration {
        let result = ConfigLoader.load(directory: configDirectory)
        return try #require(result.configuration, "\(result.diagnostics)")
    }

    /// Journal entries go to a file as `<N>` lines (the pipe format), so tests can read them.
    func events() throws -> (EventWriter, String) {
        let path = "\(directory.path)/events.log"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return (EventWriter(mode: .pipe, output: try FileHandle(forWritingTo: URL(fileURLWithPath: path))), path)
    }

    func daemon(store: any EscalationStore, events: EventWriter) async throws -> Daemon {
        try await Daemon(configuration: try configuration(), store: store, events: events, logger: Logger(label: "test"), replay: true)
    }

    /// The store on the fixture's state directory and a replaying daemon on it; its journal entries go to `log`.
    func openDaemon() async throws -> (store: StateStore, daemon: Daemon, log: String) {
        let (events, log) = try events()
        let store = try StateStore(directory: stateDirectory)
        return (store, try await daemon(store: store, events: events), log)
    }

    /// Cycles the daemon every 15 minutes over [from, to), returning the notice ids queued, in order.
    static func run(_ daemon: Daemon, from: Date, to: Date) async throws -> [String] {
        var queued: [String] = []
        var now = from
        while now < to {
            queued += try await daemon.cycle(now: now).notices
            now += 900
        }
        return queued
    }

    /// What `simulate` decides for the same cases over the same period.
    func simulated(from: Date, to: Date) async throws -> [String] {
        let configuration = try configuration()
        let source = try CaseSources.open(try #require(configuration.source))
        let batch = try await source.readAll(asOf: nil)
        await source.close()
        var ids: [String] = []
        Simulation.run(cases: batch.cases, rules: configuration.rules, from: from, to: to.addingTimeInterval(-1), step: 900) { notice, _, _ in
            ids.append(notice.id)
        }
        return ids
    }
}

@Suite struct DaemonCycleTests {
    @Test func theDaemonOnAVirtualClockDecidesExactlyWhatSimulateDecides() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.directory.remove() }
        let (store, daemon, _) = try await fixture.openDaemon()
        let from = DemoStory.day(1, "00:00")
        let to = DemoStory.day(20, "00:00")
        let queued = try await DaemonFixture.run(daemon, from: from, to: to)
        await daemon.close()
        let expected = try await fixture.simulated(from: from, to: to)
        #expect(!expected.isEmpty)
        #expect(Set(queued) == Set(expected))
        #expect(queued.count == expected.count)
        // Every notice decided is in the outbox, once.
        #expect(try store.queuedNoticeIDs().sorted() == queued.sorted())
    }

    /// The daemon keeps the bytes of its cases and states in scratch files in the state directory. Where no file can
    /// be made it holds them in memory, says so, and decides the same notices.
    @Test func casesAndStatesOnScratchFilesOrInMemoryDecideTheSame() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.directory.remove() }
        let from = DemoStory.day(1, "00:00")
        let to = DemoStory.day(10, "00:00")
        var decided: [[String]] = []
        var scratch: [Int] = []
        let scratchDirectory = "\(fixture.directory.path)/scratch"
        try FileManager.default.createDirectory(atPath: scratchDirectory, withIntermediateDirectories: true)
        for directory in [scratchDirectory, "\(fixture.directory.path)/no-such-directory"] {
            let (events, _) = try fixture.events()
            let store = try StateStore(directory: "\(fixture.stateDirectory)-\(decided.count)")
            let log = LogCapture()
            let daemon = try await Daemon(
                configuration: try fixture.configuration(), store: store, events: events, logger: Logger(label: "test") { _ in LogCapture.Handler(capture: log) }, replay: true,
                scratch: directory)
            decided.append(try await DaemonFixture.run(daemon, from: from, to: to))
            scratch.append(await daemon.footprint().scratchBytes)
            // Said once each for the states and the cases, not at every full read (every minute here).
            let warnings = log.messages.filter { $0.contains("held in memory") }
            #expect(warnings.count == (directory == scratchDirectory ? 0 : 2), "\(warnings.prefix(3))")
            await daemon.close()
        }
        #expect(scratch[0] > 0 && scratch[1] == 0)
        #expect(!decided[0].isEmpty && decided[0] == decided[1])
        #expect(Set(decided[0]) == Set(try await fixture.simulated(from: from, to: to)))
    }

    /// A disk that fills up under the scratch files loses nothing. The scratch directory is a real tmpfs of 64 KB
    /// (mounted for the test, which needs root like the rest of the suite), so the first megabyte of packed cases
    /// and states is refused with ENOSPC: the daemon keeps them in memory, says so once for each, and decides what
    /// a daemon with room decides.
    @Test func aFullScratchDiskLosesNothingAndIsReportedOnce() async throws {
        let fixture = try DaemonFixture(background: 4_000)
        defer { fixture.directory.remove() }
        let full = "\(fixture.directory.path)/full"
        let roomy = "\(fixture.directory.path)/roomy"
        for directory in [full, roomy] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let mounted = try Subprocess.run(["/bin/mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", full])
        try #require(mounted.succeeded, "mounting a small tmpfs needs root: \(mounted.output)")
        defer { _ = try? Subprocess.run(["/bin/umount", "-l", full]) }
        var decided: [[String]] = []
        var warnings: [[String]] = []
        for scratch in [full, roomy] {
            let (events, _) = try fixture.events()
            let store = try StateStore(directory: "\(fixture.directory.path)/state-\(decided.count)")
            let log = LogCapture()
            let daemon = try await Daemon(
                configuration: try fixture.configuration(), store: store, events: events, logger: Logger(label: "test") { _ in LogCapture.Handler(capture: log) },
                replay: true, scratch: scratch)
            var notices: [String] = []
            for hour in 0..<3 { notices += try await daemon.cycle(now: DemoStory.day(50, "09:00").addingTimeInterval(Double(hour) * 3600)).notices }
            decided.append(notices)
            warnings.append(log.messages.filter { $0.contains("the disk refused") })
            await daemon.close()
        }
        #expect(decided[0].count > 3_000 && decided[0] == decided[1])
        // Once for the cases and once for the states, though each of the three cycles made a new file for the cases.
        #expect(warnings[0].count == 2, "\(warnings[0])")
        #expect(warnings[0].filter { $0.contains("of the cases in \(full)") }.count == 1)
        #expect(warnings[0].filter { $0.contains("of the escalation states in \(full)") }.count == 1)
        #expect(warnings[0].allSatisfy { $0.contains("No space left on device") && $0.contains("nothing is lost") })
        #expect(warnings[1].isEmpty)
    }

    @Test func aRestartedDaemonNeitherRepeatsNorMissesASteps() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.directory.remove() }
        let from = DemoStory.day(1, "00:00")
        let middle = DemoStory.day(6, "09:15")
        let to = DemoStory.day(20, "00:00")
        var first: [String] = []
        do {
            let (_, daemon, _) = try await fixture.openDaemon()
            first = try await DaemonFixture.run(daemon, from: from, to: middle)
            await daemon.close()
        }
        let (_, daemon, _) = try await fixture.openDaemon()
        let second = try await DaemonFixture.run(daemon, from: middle, to: to)
        await daemon.close()
        #expect(!first.isEmpty && !second.isEmpty)
        #expect(Set(first).isDisjoint(with: second), "a step taken before the restart was taken again")
        #expect(Set(first + second) == Set(try await fixture.simulated(from: from, to: to)))
    }

    @Test func afterDowntimeACaseGetsOneCatchUpNoticeAtItsCurrentStep() async throws {
        let fixture = try DaemonFixture(background: 0)
        defer { fixture.directory.remove() }
        let story = DemoStory.order.id
        do {
            let (_, daemon, _) = try await fixture.openDaemon()
            _ = try await DaemonFixture.run(daemon, from: DemoStory.day(1, "00:00"), to: DemoStory.day(2, "12:00"))
            await daemon.close()
        }
        // Down from Day 2 noon to Day 12: several steps of several policies fell due meanwhile.
        let (store, daemon, _) = try await fixture.openDaemon()
        let back = DemoStory.day(12, "10:00")
        let report = try await daemon.cycle(now: back)
        await daemon.close()
        let notices = try store.pendingOutbox(limit: 10_000).map(\.notice).filter { $0.decidedAt == back && $0.caseID == story }
        #expect(!notices.isEmpty)
        #expect(report.queued == notices.count)
        // One notice per occurrence, not one per missed step.
        let perOccurrence = Dictionary(grouping: notices) { "\($0.policy)/\($0.occurrence)" }
        #expect(perOccurrence.values.allSatisfy { $0.count == 1 })
        let catchUps = notices.filter { $0.trigger == .catchUp }
        #expect(!catchUps.isEmpty)
        for notice in catchUps {
            #expect(!notice.missed.isEmpty)
            #expect(notice.missed.allSatisfy { $0.dueAt <= back })
            #expect(notice.step >= notice.missed.map(\.step).max() ?? 0)
        }
    }

    /// Runs the story to its first breach, acknowledges every policy for `hold`, and runs `run` more; returns the
    /// notices for steps of the acknowledged breaches decided after the acknowledgement, by phase.
    func acknowledged(hold: TimeInterval, run: TimeInterval, revokeAfterRun: Bool) async throws -> (during: [Notice], after: [Notice]) {
        let fixture = try DaemonFixture(background: 0)
        defer { fixture.directory.remove() }
        let (store, daemon, _) = try await fixture.openDaemon()
        let story = DemoStory.order.id
        func notices() throws -> [Notice] { try store.pendingOutbox(limit: 10_000).map(\.notice).filter { $0.caseID == story } }
        var now = DemoStory.day(1, "00:00")
        while try !notices().contains(where: { $0.trigger == .breach }) {
            _ = try await daemon.cycle(now: now)
            now += 900
        }
        let acked = now
        let breached = Set(try notices().filter { $0.trigger == .breach }.map(\.policy))
        try store.acknowledge(caseID: story, Acknowledgement(policy: nil, by: "rep5", at: acked, until: acked + hold, note: "on it"))
        while now < acked + run {
            _ = try await daemon.cycle(now: now)
            now += 900
        }
        func ofTheAcknowledgedBreach(_ notice: Notice) -> Bool {
            notice.decidedAt >= acked && breached.contains(notice.policy) && notice.breachAt.map { $0 <= acked } == true
        }
        let during = try notices().filter(ofTheAcknowledgedBreach)
        if revokeAfterRun { #expect(try store.revoke(caseID: story, policy: nil, by: "rep5", at: now).count == 1) }
        let end = now + 3600
        while now < end {
            _ = try await daemon.cycle(now: now)
            now += 900
        }
        await daemon.close()
        return (during, try notices().filter(ofTheAcknowledgedBreach).filter { !during.contains($0) })
    }

    @Test func anAcknowledgementHoldsFurtherStepsUntilItExpires() async throws {
        let (during, after) = try await acknowledged(hold: 86_400, run: 86_400, revokeAfterRun: false)
        #expect(during.isEmpty, "steps of an acknowledged breach went out: \(during.map(\.id))")
        #expect(!after.isEmpty, "nothing came after the acknowledgement expired")
    }

    @Test func withdrawingAnAcknowledgementReleasesTheHeldSteps() async throws {
        let (during, after) = try await acknowledged(hold: 5 * 86_400, run: 86_400, revokeAfterRun: true)
        #expect(during.isEmpty)
        #expect(!after.isEmpty, "nothing came after the acknowledgement was withdrawn")
    }

    @Test func aBatchRenderedOnEveryCoreIsTheSameAsOneRenderedNoticeByNotice() throws {
        // The shipped rules as loaded, so that each core renders with a copy of its own (`Rules.withReplica`).
        let rules = try #require(ConfigLoader.load(directory: "\(repositoryRoot)/Config").configuration).rules
        let renderer = try #require(NoticeRenderer.load(directory: "\(repositoryRoot)/Config/templates", rules: rules).renderer)
        let mailer = NoticeMailer(settings: MailSettings(fromAddress: "escalator@trophy.example", fromName: "Escalator", spool: "/nonexistent"), renderer: renderer)
        // 150 copies of the demo story, each opened an hour after the one before, seen 12 days after the last.
        let story = DemoStory.order
        let now = story.openedAt + 150 * 3600 + 12 * 86_400
        var decided: [(notice: Notice, subject: Case, state: EscalationState)] = []
        for index in 0..<150 {
            let subject = story.shifted(by: Double(index * 3600), id: "TT-\(index)")
            let evaluation = Engine.evaluate(subject, rules: rules, state: .empty, now: now)
            decided += evaluation.notices.map { ($0, subject, evaluation.state) }
        }
        #expect(decided.count >= 300, "enough notices that the batch is shared among the cores")
        let together = Daemon.queued(decided, mailer: mailer, rules: rules)
        let oneByOne = decided.map { mailer.message($0.notice, subject: $0.subject, state: $0.state, rules: rules)?.rendered() }
        #expect(together.map(\.notice.id) == decided.map(\.notice.id))
        #expect(together.map(\.email) == oneByOne)
        #expect(together.map(\.spoolName) == decided.map { MailSpool.fileName(noticeID: $0.notice.id) })
        #expect(Set(together.compactMap(\.email)).count == decided.count, "every notice has an email of its own")
        // Without a mailer, the notices are queued with no email.
        #expect(Daemon.queued(decided, mailer: nil, rules: rules).allSatisfy { $0.email == nil && $0.spoolName == nil })
    }

    @Test func aSecondDaemonOnTheSameStateDirectoryIsRefused() throws {
        let directory = try TemporaryDirectory("escalator-lock")
        defer { directory.remove() }
        let first = try StateLock(directory: directory.path)
        #expect(throws: StateError.self) { _ = try StateLock(directory: directory.path) }
        do {
            _ = try StateLock(directory: directory.path)
        } catch {
            #expect("\(error)".contains("in use by escalator run (pid \(getpid()))"))
        }
        #expect(StateLock.holderPID(directory: directory.path) == getpid())
        withExtendedLifetime(first) {}
    }

    @Test func aReaderOpensTheStoreWhileTheDaemonHoldsIt() throws {
        let directory = try TemporaryDirectory("escalator-reader")
        defer { directory.remove() }
        let lock = try StateLock(directory: directory.path)
        let writer = try StateStore(directory: directory.path)
        try writer.acknowledge(caseID: "C1", Acknowledgement(policy: nil, by: "a", at: Date(), until: Date().addingTimeInterval(60)))
        let reader = try StateStore(directory: directory.path, readOnly: true)
        #expect(try reader.acknowledgements(caseID: "C1").count == 1)
        withExtendedLifetime(lock) {}
    }
}

@Suite struct ReloadTests {
    @Test func anInvalidConfigurationKeepsTheOldRulesAndAValidOneIsApplied() async throws {
        let fixture = try DaemonFixture(background: 0)
        defer { fixture.directory.remove() }
        let (store, daemon, _) = try await fixture.openDaemon()
        _ = try await DaemonFixture.run(daemon, from: DemoStory.day(1, "00:00"), to: DemoStory.day(3, "00:00"))
        let original = await daemon.configuration.rules.policies.map(\.name)
        let policies = "\(fixture.configDirectory)/rules.d/40-policies.yaml"
        let good = try String(contentsOfFile: policies, encoding: .utf8)

        try (good + "\n  - name: broken\n    measure: nonsense\n").write(toFile: policies, atomically: true, encoding: .utf8)
        guard case .rejected(let diagnostics) = await daemon.reload(now: DemoStory.day(3, "00:00")) else {
            Issue.record("a broken rule file was accepted")
            return
        }
        #expect(diagnostics.contains { $0.file == policies && $0.line > 1 })
        #expect(await daemon.generation == 1)
        #expect(await daemon.configuration.rules.policies.map(\.name) == original)

        // Remove a policy: applied; the removed policy stops escalating and nothing already taken is re-sent.
        let before = Set(try store.queuedNoticeIDs())
        let removedName = try #require(await daemon.configuration.rules.policies.first?.name)
        try Self.removingPolicy(removedName, from: good).write(toFile: policies, atomically: true, encoding: .utf8)
        guard case .applied(let generation, let removed) = await daemon.reload(now: DemoStory.day(3, "00:00")) else {
            Issue.record("a valid change was rejected")
            return
        }
        #expect(generation == 2)
        #expect(removed == [removedName])
        let after = try await DaemonFixture.run(daemon, from: DemoStory.day(3, "00:00"), to: DemoStory.day(20, "00:00"))
        await daemon.close()
        #expect(after.allSatisfy { !$0.contains("/\(removedName)/") })
        #expect(before.isDisjoint(with: after))
    }

    /// The policies file without the entry named `name` (entries start with "  - name:").
    static func removingPolicy(_ name: String, from text: String) -> String {
        var out: [Substring] = []
        var skipping = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  - name:") { skipping = line.hasSuffix(" \(name)") }
            if !skipping { out.append(line) }
        }
        return out.joined(separator: "\n")
    }
}

@Suite struct OutboxDeliveryTests {
    @Test func eachNoticeBecomesOneEmailAndOneJournalEntryEvenWhenDeliveryIsRepeated() async throws {
        let fixture = try DaemonFixture(background: 3)
        defer { fixture.directory.remove() }
        let (store, daemon, log) = try await fixture.openDaemon()
        let queued = try await DaemonFixture.run(daemon, from: DemoStory.day(1, "00:00"), to: DemoStory.day(8, "00:00"))
        let delivery = await daemon.delivery
        await daemon.close()
        #expect(queued.count > 5)
        // A crash after the spool write and before the outbox records it: the email is already there.
        let first = try #require(try store.pendingOutbox(limit: 1).first)
        let spool = MailSpool(root: fixture.spoolDirectory)
        try spool.write(name: try #require(first.spoolName), contents: try #require(first.email))

        let report = try await delivery.deliver(now: DemoStory.day(8, "00:00"), batch: 4)
        #expect(report.failure == nil)
        #expect(report.emailed == queued.count)
        #expect(try store.outboxDepth() == 0)
        #expect(try await delivery.deliver(now: DemoStory.day(8, "00:00")).emailed == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(fixture.spoolDirectory)/new")
        #expect(files.count == queued.count)
        #expect(Set(files) == Set(queued.map { MailSpool.fileName(noticeID: $0) }))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter { $0.contains("escalator_notice_id=") }
        #expect(lines.count == queued.count)
    }

    @Test func aFullSpoolLeavesNoticesInTheOutboxUntilThereIsRoom() async throws {
        let fixture = try DaemonFixture(background: 3)
        defer { fixture.directory.remove() }
        let (store, daemon, _) = try await fixture.openDaemon()
        let queued = try await DaemonFixture.run(daemon, from: DemoStory.day(1, "00:00"), to: DemoStory.day(8, "00:00"))
        await daemon.close()
        // /dev/full answers every write with ENOSPC: a spool whose tmp/ is a link to a file there behaves as a full disk.
        let full = "\(fixture.directory.path)/full-spool"
        let spool = MailSpool(root: full)
        try spool.prepare()
        for id in queued { symlink("/dev/full", "\(spool.path(.tmp))/\(MailSpool.fileName(noticeID: id)).\(getpid())") }
        let delivery = OutboxDelivery(store: store, events: EventWriter(mode: .pipe, output: try #require(FileHandle(forWritingAtPath: "/dev/null"))), spool: spool)
        let report = try await delivery.deliver(now: DemoStory.day(8, "00:00"))
        #expect(report.diskFull)
        #expect(report.emailed == 0)
        #expect(try store.outboxDepth() == queued.count)
        // Room again: everything goes out, once.
        for id in queued { unlink("\(spool.path(.tmp))/\(MailSpool.fileName(noticeID: id)).\(getpid())") }
        let retry = try await delivery.deliver(now: DemoStory.day(8, "01:00"))
        #expect(retry.failure == nil)
        #expect(retry.emailed == queued.count)
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool.path(.new)).count == queued.count)
    }
}

@Suite struct ClockJumpTests {
    /// The wall clock jumps a day forward, then an hour back, on a live read of the orders (all their activity
    /// in the past): the jump forward is one catch-up notice per occurrence, the jump back sends nothing, and no
    /// step is ever decided twice.
    @Test func aDayForwardThenAnHourBackNeitherStormsNorRepeats() async throws {
        let fixture = try DaemonFixture(background: 30)
        defer { fixture.directory.remove() }
        let (events, _) = try fixture.events()
        let store = try StateStore(directory: fixture.stateDirectory)
        let daemon = try await Daemon(configuration: try fixture.configuration(), store: store, events: events, logger: Logger(label: "test"))
        var decided: [String] = []
        let start = DemoStory.day(56, "10:00")
        for minute in stride(from: 0, to: 120, by: 15) {
            decided += try await daemon.cycle(now: start + TimeInterval(minute * 60)).notices
        }
        let forward = try await daemon.cycle(now: start + 86_400)
        let back = try await daemon.cycle(now: start + 86_400 - 3600)
        var after: [String] = []
        for minute in stride(from: 15, to: 180, by: 15) {
            after += try await daemon.cycle(now: start + 86_400 + TimeInterval(minute * 60)).notices
        }
        await daemon.close()
        let all = decided + forward.notices + back.notices + after
        #expect(Set(all).count == all.count, "a step was decided twice")
        #expect(!forward.notices.isEmpty, "nothing fell due in the skipped day: the test proves nothing")
        #expect(back.notices.isEmpty, "the jump back sent \(back.notices)")
        let jumped = try store.pendingOutbox(limit: 100_000).map(\.notice).filter { forward.notices.contains($0.id) }
        let perOccurrence = Dictionary(grouping: jumped) { "\($0.caseID)/\($0.policy)/\($0.occurrence)" }
        #expect(perOccurrence.values.allSatisfy { $0.count == 1 }, "more than one notice for one occurrence after the jump")
        #expect(jumped.filter { $0.missed.count > 0 }.allSatisfy { $0.trigger == .catchUp })
    }
}

/// Keeps what a logger says, for tests that check a warning was given.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var said: [String] = []
    var messages: [String] { lock.withLock { said } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            capture.lock.withLock { capture.said.append("\(event.level): \(event.message)") }
        }
    }
}
