import EscalatorConfig
import EscalatorCore
import EscalatorDaemon
import EscalatorOutputs
import EscalatorRuntime
import EscalatorSources
import EscalatorState
import EscalatorTestKit
import Foundation
import Logging
import Testing

/// One PostgreSQL server for the shared-state tests; each test uses its own cluster (schema).
final class SharedStateServer: @unchecked Sendable {
    static let shared = SharedStateServer()
    private let lock = NSLock()
    private var server: Result<PostgresServer, any Error>?

    func get() throws -> PostgresServer {
        lock.lock()
        defer { lock.unlock() }
        if server == nil {
            server = Result {
                let server = try PostgresServer()
                try server.psql("CREATE DATABASE escalator_state")
                return server
            }
        }
        return try server!.get()
    }

    /// The `state` section's settings for `cluster` on the shared server, the password in a file under `directory`.
    static func settings(cluster: String, directory: String, failoverAfter: Int = 6) throws -> StateSettings {
        let server = try shared.get()
        let passwordFile = "\(directory)/state-password"
        try server.superuserPassword.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        return StateSettings(
            driver: .postgres, directory: "\(directory)/local-state",
            postgres: PostgresEndpoint(
                host: "127.0.0.1", port: server.port, database: "escalator_state", user: "postgres", password: .file(passwordFile),
                sslMode: .disable, connectTimeout: .wall(seconds: 3)),
            cluster: cluster, failoverAfter: .wall(seconds: failoverAfter))
    }

    static func store(cluster: String, directory: String, role: PostgresStateStore.Role = .instance) async throws -> PostgresStateStore {
        let store = try PostgresStateStore(
            settings: try settings(cluster: cluster, directory: directory), role: role, environment: [:], logger: Logger(label: "test"))
        try await store.prepare(create: true)
        return store
    }

    static func uniqueCluster(_ label: String) -> String { "\(label)_\(UUID().uuidString.prefix(8).lowercased())" }
}

@Suite(.serialized) struct SharedStateStoreTests {
    /// The same virtual-clock run on the SQLite store and on the PostgreSQL store leaves the same state, outbox,
    /// deadlines and counts in both; delivery, acknowledgements and pruning behave the same.
    @Test func thePostgresStoreKeepsExactlyWhatTheSQLiteStoreKeeps() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.directory.remove() }
        let (events, _) = try fixture.events()
        let local = try StateStore(directory: fixture.stateDirectory)
        let shared = try await SharedStateServer.store(cluster: SharedStateServer.uniqueCluster("contract"), directory: fixture.directory.path)
        #expect(try await shared.tryAcquire())
        let from = DemoStory.day(1, "00:00")
        let to = DemoStory.day(12, "00:00")
        var decided: [[String]] = []
        for store in [local, shared] as [any EscalationStore] {
            let daemon = try await fixture.daemon(store: store, events: events)
            decided.append(try await DaemonFixture.run(daemon, from: from, to: to))
            await daemon.close()
        }
        #expect(!decided[0].isEmpty && decided[0] == decided[1])

        let now = DemoStory.day(12, "00:00")
        #expect(try await shared.loadStates() == local.loadStates())
        #expect(try await shared.queuedNoticeIDs() == local.queuedNoticeIDs())
        #expect(try await shared.openOccurrences(now: now) == local.openOccurrences(now: now))
        let sharedDeadlines = try await shared.nextDeadlines(limit: 20).map { "\($0.caseID)@\($0.due.timeIntervalSince1970)" }
        #expect(sharedDeadlines == (try local.nextDeadlines(limit: 20)).map { "\($0.caseID)@\($0.due.timeIntervalSince1970)" })
        #expect(!sharedDeadlines.isEmpty)
        var sharedMeta = try await shared.meta()
        var localMeta = try local.meta()
        #expect(sharedMeta.removeValue(forKey: "pid") != nil && localMeta.removeValue(forKey: "pid") != nil)
        #expect(sharedMeta == localMeta)
        let story = DemoStory.order.id
        #expect(try await shared.state(caseID: story) == local.state(caseID: story))
        #expect(try await shared.state(caseID: "NO-SUCH-CASE") == nil)

        // A notice already queued is not queued again.
        let pending = try await shared.pendingOutbox(limit: 3)
        var again = StateStore.Commit()
        again.notices = pending.map { StateStore.QueuedNotice(notice: $0.notice, email: $0.email, spoolName: $0.spoolName) }
        #expect(try await shared.commit(again, at: now) == 0)
        #expect(try await shared.outboxDepth() == decided[1].count)

        // Delivery: a notice is delivered once both its journal entry and its email are done; failures count.
        let first = try #require(pending.first)
        try await shared.markDelivered(journal: [first.seq], email: [], failed: [(pending[1].seq, "disk full")], at: now)
        #expect(try await shared.outboxDepth() == decided[1].count)
        #expect(try await shared.failingOutbox(limit: 5).map(\.noticeID) == [pending[1].notice.id])
        try await shared.markDelivered(journal: [], email: [first.seq], failed: [], at: now)
        #expect(try await shared.outboxDepth() == decided[1].count - 1)
        #expect(try await shared.pendingOutbox(limit: 1).first?.seq == pending[1].seq)
        #expect(try await shared.pendingOutbox(limit: 1).first?.attempts == 1)
        #expect(try await shared.pruneDelivered(olderThan: now) == 0)
        #expect(try await shared.pruneDelivered(olderThan: now + 1) == 1)

        // Acknowledgements: versions grow, a revocation is a change, and only those in force are listed.
        let version = try await shared.acknowledgementVersion()
        let ack = Acknowledgement(policy: nil, by: "rep5", at: now, until: now + 3600, note: "on it")
        let record = try await shared.acknowledge(caseID: story, ack)
        #expect(record.version == version + 1)
        #expect(try await shared.acknowledgements(caseID: story) == [ack])
        let revoked = try await shared.revoke(caseID: story, policy: nil, by: "rep5", at: now + 60)
        #expect(revoked.map(\.id) == [record.id])
        #expect(try await shared.acknowledgements(caseID: story).isEmpty)
        let changes = try await shared.acknowledgementChanges(after: version)
        #expect(changes.version == version + 2 && changes.changed.count == 1 && changes.changed[0].revokedBy == "rep5")
        #expect(try await shared.revoke(caseID: story, policy: nil, by: "rep5", at: now + 120).isEmpty)

        // States read a page at a time (as the daemon starts; here a case a page) are each case's state as read alone, every case once,
        // in case id order, then the cases that have only acknowledgements; on both stores alike.
        let acknowledgedOnly = Acknowledgement(policy: "first-response", by: "sup1", at: now, until: now + 7200, note: nil)
        let both = Acknowledgement(policy: nil, by: "rep5", at: now, until: now + 600, note: "again")
        for store in [local, shared] as [any EscalationStore] {
            try await store.acknowledge(caseID: "ZZ-NO-OCCURRENCE", acknowledgedOnly)
            try await store.acknowledge(caseID: story, both)
            var paged: [(String, EscalationState)] = []
            try await store.forEachState(pageSize: 1) { paged.append(($0, $1)) }
            let ids = paged.map(\.0)
            #expect(ids.last == "ZZ-NO-OCCURRENCE" && Set(ids).count == ids.count && ids.count >= 3, "\(ids.count) cases")
            #expect(Array(ids.dropLast()) == ids.dropLast().sorted())
            for (id, state) in paged { #expect(try await store.state(caseID: id) == state, "\(id)") }
            #expect(paged.first { $0.0 == story }?.1.acknowledgements == [both])
            #expect(Dictionary(uniqueKeysWithValues: paged) == (try await store.loadStates()))
        }
        #expect(try await shared.loadStates() == local.loadStates())
        await shared.close()
    }

    /// A restart on the shared store (a takeover is one) neither repeats nor misses a step.
    @Test func aDaemonRestartedOnTheSharedStoreNeitherRepeatsNorMisses() async throws {
        let fixture = try DaemonFixture()
        defer { fixture.directory.remove() }
        let cluster = SharedStateServer.uniqueCluster("restart")
        let (events, _) = try fixture.events()
        let from = DemoStory.day(1, "00:00")
        let middle = DemoStory.day(6, "09:15")
        let to = DemoStory.day(20, "00:00")
        var runs: [[String]] = []
        for (start, end) in [(from, middle), (middle, to)] {
            let store = try await SharedStateServer.store(cluster: cluster, directory: fixture.directory.path)
            // The first run's session ends when its server process has seen the close, a moment after the client
            // has: until then its lock is still held (it failed here once without this wait).
            var acquired = false
            for _ in 0..<50 where !acquired {
                acquired = try await store.tryAcquire()
                if !acquired { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(acquired)
            let daemon = try await fixture.daemon(store: store, events: events)
            runs.append(try await DaemonFixture.run(daemon, from: start, to: end))
            await daemon.close()
            await store.close()
        }
        #expect(!runs[0].isEmpty && !runs[1].isEmpty)
        #expect(Set(runs[0]).isDisjoint(with: runs[1]), "a step taken before the restart was taken again")
        #expect(Set(runs[0] + runs[1]) == Set(try await fixture.simulated(from: from, to: to)))
    }

    /// The least a state role needs, as docs/high-availability.md says: its own schema, made by an administrator,
    /// and no right to create anything else in the database. The order database's tables are out of its reach.
    @Test func aStateRoleOwningOnlyItsSchemaIsEnough() async throws {
        let directory = try TemporaryDirectory("escalator-role")
        defer { directory.remove() }
        let server = try SharedStateServer.shared.get()
        let cluster = SharedStateServer.uniqueCluster("owned")
        let role = "state_\(cluster)"
        try server.psql(
            """
            CREATE ROLE \(role) LOGIN PASSWORD 'role-secret';
            REVOKE CREATE ON DATABASE escalator_state FROM PUBLIC;
            REVOKE CREATE ON SCHEMA public FROM PUBLIC;
            CREATE SCHEMA \(cluster) AUTHORIZATION \(role);
            CREATE TABLE IF NOT EXISTS public.orders_elsewhere (id text);
            """, database: "escalator_state")
        try "role-secret".write(toFile: "\(directory.path)/role-password", atomically: true, encoding: .utf8)
        let base = try SharedStateServer.settings(cluster: cluster, directory: directory.path)
        let endpoint = try #require(base.postgres)
        let settings = StateSettings(
            driver: .postgres, directory: base.directory,
            postgres: PostgresEndpoint(
                host: endpoint.host, port: endpoint.port, database: endpoint.database, user: role, password: .file("\(directory.path)/role-password"),
                sslMode: .disable, connectTimeout: .wall(seconds: 3)),
            cluster: cluster)
        let store = try PostgresStateStore(settings: settings, role: .instance, environment: [:], logger: Logger(label: "test"))
        try await store.prepare(create: true)
        #expect(try await store.tryAcquire())
        var commit = StateStore.Commit()
        commit.meta = ["status": "written by the state role"]
        try await store.commit(commit, at: Date())
        #expect(try await store.meta()["status"] == "written by the state role")
        #expect(throws: (any Error).self) { try server.psql("SET ROLE \(role); INSERT INTO public.orders_elsewhere VALUES ('x')", database: "escalator_state") }
        await store.close()
    }

    /// Exactly one holder of the active lock; when its session ends, a standby gets the lock, and the old holder
    /// can no longer write anything (its writes are fenced by the session that held the lock).
    @Test func oneActiveInstanceAndTheOldOneIsFencedWhenItsSessionEnds() async throws {
        let directory = try TemporaryDirectory("escalator-lock")
        defer { directory.remove() }
        let cluster = SharedStateServer.uniqueCluster("lock")
        let first = try await SharedStateServer.store(cluster: cluster, directory: directory.path)
        let second = try await SharedStateServer.store(cluster: cluster, directory: directory.path)
        let other = try await SharedStateServer.store(cluster: SharedStateServer.uniqueCluster("other"), directory: directory.path)
        #expect(try await first.tryAcquire())
        #expect(try await !second.tryAcquire())
        #expect(try await other.tryAcquire(), "another cluster on the same database has its own lock")
        let holder = try #require(await second.activeHolder())
        #expect(holder.contains("escalator ") && holder.contains(String(getpid())), "\(holder)")
        #expect(try await first.tryAcquire(), "the holder keeps holding")

        // The server ends the holder's session (as it does when the host goes silent past the keepalives).
        let server = try SharedStateServer.shared.get()
        try server.psql(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_namespace n ON true WHERE l.locktype = 'advisory' AND n.nspname = '\(cluster)' AND l.granted AND l.objid::bigint = (hashtextextended('escalator active instance ' || n.nspname, 0) & 4294967295)",
            database: "escalator_state")
        var acquired = false
        for _ in 0..<50 where !acquired {
            acquired = try await second.tryAcquire()
            if !acquired { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(acquired, "the standby did not get the lock after the holder's session ended")
        var commit = StateStore.Commit()
        commit.meta = ["status": "written by a fenced instance"]
        await #expect(throws: PostgresStateStore.LostLock.self) { try await first.commit(commit, at: Date()) }
        await #expect(throws: PostgresStateStore.LostLock.self) { try await first.tryAcquire() }
        #expect(try await second.meta()["status"] != "written by a fenced instance")
        for store in [first, second, other] { await store.close() }
    }
}

/// Two `escalator run` processes on one shared state in a real PostgreSQL, during an escalation storm on a virtual
/// clock: one is active and the other a standby; SIGKILL the active one and the standby takes over within
/// failover_after; the killed one, restarted, waits as a standby; SIGTERM the new active one and it takes over
/// again; end its session on the server and it exits 75. The notices are exactly `simulate`'s, each emailed once (the two instances share one spool, as on shared
/// storage) and journaled at least once.
@Suite(.serialized) struct FailoverTests {
    @Test func theStandbyTakesOverWithinFailoverAfterAndNothingIsLostOrDuplicated() async throws {
        let probe = try TemporaryDirectory("escalator-failover")
        defer { probe.remove() }
        let cluster = SharedStateServer.uniqueCluster("failover")
        let failoverAfter = 6
        let settings = try SharedStateServer.settings(cluster: cluster, directory: probe.path, failoverAfter: failoverAfter)
        let server = try #require(settings.postgres)
        let stateSection = [
            "  driver: postgres", "  host: 127.0.0.1", "  port: \(server.port)", "  database: escalator_state", "  user: postgres",
            "  password_file: \(probe.path)/state-password", "  sslmode: disable", "  cluster: \(cluster)", "  failover_after: \(failoverAfter)s",
        ].joined(separator: "\n")
        let fixture = try StormFixture(cases: 2_000, state: stateSection)
        defer { fixture.directory.remove() }
        let speed = 240.0
        let realStart = Date()
        let realEnd = realStart.addingTimeInterval(fixture.end.timeIntervalSince(fixture.start) / speed)
        func start(_ name: String) throws -> (BackgroundProcess, NotifySocket) {
            let socket = try NotifySocket(path: "\(fixture.directory.path)/\(name)-\(UUID().uuidString.prefix(4)).sock")
            let process = try BackgroundProcess(
                [escalatorBinary, "run", "--config", fixture.configDirectory],
                environment: [
                    DaemonClock.variable: DaemonClock.value(virtual: fixture.start, real: realStart, speed: speed), "NOTIFY_SOCKET": socket.path,
                    "STATE_DIRECTORY": "\(fixture.directory.path)/local-\(name)",
                ])
            return (process, socket)
        }
        let isActive: ([String: String]) -> Bool = { $0["STATUS"]?.hasPrefix("rules v") == true }
        let isStandby: ([String: String]) -> Bool = { $0["STATUS"]?.hasPrefix("standby: cluster \(cluster) is active on escalator ") == true }
        var logs: [String] = []

        let (first, firstSocket) = try start("a")
        #expect(firstSocket.receive(timeout: 60, until: isActive), "\(first.log.suffix(2000))")
        let (second, secondSocket) = try start("b")
        #expect(secondSocket.receive(timeout: 60, until: isStandby), "\(second.log.suffix(2000))")
        #expect(secondSocket.messages.contains { $0["READY"] == "1" }, "a standby is a started unit")
        #expect(secondSocket.messages.last?["STATUS"]?.contains(" \(first.pid) from ") == true, "the standby names the active instance")

        // Mid-storm, with notices flowing, the active instance dies.
        while (try? FileManager.default.contentsOfDirectory(atPath: "\(fixture.spoolDirectory)/new").count) ?? 0 < 500 && Date() < realEnd {
            usleep(50_000)
        }
        kill(first.pid, SIGKILL)
        let killedAt = Date()
        #expect(first.wait(timeout: 30) == .signal(SIGKILL))
        logs.append(first.log)
        #expect(secondSocket.receive(timeout: 60, until: isActive), "\(second.log.suffix(2000))")
        let takeover = Date().timeIntervalSince(killedAt)
        #expect(takeover <= Double(failoverAfter), "the standby took \(takeover) s to take over")
        print("failover: the standby was active \(String(format: "%.2f", takeover)) s after the active instance was killed")

        // The killed instance comes back as a standby.
        let (third, thirdSocket) = try start("a")
        #expect(thirdSocket.receive(timeout: 60, until: isStandby), "\(third.log.suffix(2000))")

        // After the storm, hand over cleanly: SIGTERM the active one; the standby takes over.
        let remaining = realEnd.timeIntervalSinceNow
        if remaining > 0 { try await Task.sleep(for: .milliseconds(Int(remaining * 1000))) }
        let reader = try await SharedStateServer.store(cluster: cluster, directory: probe.path, role: .tool)
        let deadline = Date().addingTimeInterval(120)
        while try await reader.outboxDepth() > 0 && Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
        kill(second.pid, SIGTERM)
        #expect(second.wait(timeout: 60) == .status(0))
        logs.append(second.log)
        #expect(thirdSocket.receive(timeout: 60, until: isActive), "\(third.log.suffix(2000))")
        let settled = Date().addingTimeInterval(120)
        while try await reader.meta()["pid"] != String(third.pid) && Date() < settled { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try await reader.meta()["pid"] == String(third.pid), "the third instance never completed a cycle as the active one")
        // The server ends the active instance's session (a network cut would): it stops and exits 75, for systemd
        // to restart it as a standby.
        try SharedStateServer.shared.get().psql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'escalator % \(third.pid)'", database: "escalator_state")
        #expect(third.wait(timeout: 120) == .status(75), "\(third.log.suffix(2000))")
        #expect(third.log.contains("escalator is no longer the active instance"))
        logs.append(third.log)

        let notices = try await reader.queuedNoticeIDs()
        let expected = try await fixture.simulated()
        #expect(expected.count == 2 * fixture.cases)
        #expect(Set(notices).count == notices.count)
        #expect(StormFixture.difference(notices, expected) == "", "\(logs.map { String($0.suffix(1500)) })")
        #expect(try await reader.outboxDepth() == 0)
        let repeats = try fixture.checkDelivery(of: notices, logs: logs)
        print("failover: \(notices.count) notices, \(repeats) journal entries repeated after the kill")
        await reader.close()
    }
}
