import EscalatorOutputs
import EscalatorSources
import EscalatorState
import EscalatorTestKit
import Systemd
import Foundation
import GRDB
import Testing

@testable import EscalatorDaemon

/// The built `escalator` binary, run as a real process. The demo orders are months old, so on the real clock
/// every open one is overdue and the daemon has notices to deliver at once.
let escalatorBinary = "\(repositoryRoot)/.build/debug/escalator"

@Suite(.serialized) struct DaemonProcessTests {
    @Test func theNotifyProtocolRunsReadyStatusWatchdogReloadAndStopInOrder() throws {
        let fixture = try DaemonFixture(background: 3)
        defer { fixture.directory.remove() }
        let socket = try NotifySocket(path: "\(fixture.directory.path)/notify.sock")
        let daemon = try BackgroundProcess(
            [escalatorBinary, "run", "--config", fixture.configDirectory],
            environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "1000000"])
        defer { daemon.stop() }

        // READY once the store is open and the database answers, before the first full read.
        #expect(socket.receive(timeout: 60) { $0["READY"] == "1" }, "no READY=1; log:\n\(daemon.log)")
        let ready = try #require(socket.messages.last?["STATUS"])
        #expect(ready == "rules v1 · starting: first full read of the order database · source ok", "\(ready)")
        // Then a status line after every cycle.
        #expect(socket.receive(timeout: 60) { $0["STATUS"]?.contains(" open · ") == true })
        let status = try #require(socket.messages.last?["STATUS"])
        #expect(status.hasPrefix("rules v1 · 4 open · "), "\(status)")
        #expect(status.hasSuffix(" · source ok"))
        #expect(!status.contains("\n"))

        // The watchdog is pinged at half the interval (1 s): two pings come within 2 s.
        var pings = 0
        #expect(socket.receive(timeout: 5) { message in
            if message["WATCHDOG"] == "1" { pings += 1 }
            return pings >= 2
        })

        kill(daemon.pid, SIGHUP)
        #expect(socket.receive(timeout: 30) { $0["RELOADING"] == "1" })
        let reloading = try #require(socket.messages.last)
        let monotonic = try #require(reloading["MONOTONIC_USEC"].flatMap(UInt64.init))
        #expect(monotonic > 0 && monotonic <= ServiceManager.monotonicMicroseconds())
        #expect(socket.receive(timeout: 30) { $0["READY"] == "1" })
        #expect(socket.messages.last?["STATUS"]?.hasPrefix("rules v2 · ") == true)

        kill(daemon.pid, SIGTERM)
        #expect(socket.receive(timeout: 30) { $0["STOPPING"] == "1" })
        #expect(daemon.wait(timeout: 60) == .status(0), "log:\n\(daemon.log)")

        // The order of the protocol's milestones.
        let milestones = socket.messages.compactMap { message -> String? in
            if message["RELOADING"] == "1" { return "RELOADING" }
            if message["READY"] == "1" { return "READY" }
            if message["STOPPING"] == "1" { return "STOPPING" }
            return nil
        }
        #expect(milestones == ["READY", "RELOADING", "READY", "STOPPING"])
        // The status line followed the daemon between the milestones too.
        #expect(socket.messages.filter { $0["STATUS"] != nil }.count >= 4)
    }

    @Test func statusReadsTheRunningDaemonAndAckReachesItsNextTick() throws {
        let fixture = try DaemonFixture(background: 20)
        defer { fixture.directory.remove() }
        let socket = try NotifySocket(path: "\(fixture.directory.path)/notify.sock")
        let daemon = try BackgroundProcess([escalatorBinary, "run", "--config", fixture.configDirectory], environment: ["NOTIFY_SOCKET": socket.path])
        defer { daemon.stop() }
        #expect(socket.receive(timeout: 60) { $0["STATUS"]?.contains(" open · ") == true })
        let store = try StateStore(directory: fixture.stateDirectory, readOnly: true)
        let delivered = Date().addingTimeInterval(30)
        while try store.outboxDepth() > 0 && Date() < delivered { usleep(50_000) }

        let status = try Subprocess.run([escalatorBinary, "status", "--config", fixture.configDirectory, "--format", "json"])
        #expect(status.succeeded, "\(status.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])
        let running = try #require(object["daemon"] as? [String: Any])
        #expect(running["running"] as? Bool == true)
        #expect(running["pid"] as? Int == Int(daemon.pid))
        #expect((running["status"] as? String)?.hasPrefix("rules v1 · ") == true)
        let policies = try #require(object["policies"] as? [[String: Any]])
        #expect(!policies.isEmpty)
        let counts = try store.openOccurrences(now: Date())
        #expect(policies.compactMap { $0["open"] as? Int }.reduce(0, +) == counts.map(\.open).reduce(0, +))
        #expect((object["outbox"] as? [String: Any])?["waiting"] as? Int == 0)
        let text = try Subprocess.run([escalatorBinary, "status", "--config", fixture.configDirectory])
        #expect(text.output.contains("escalator is running (pid \(daemon.pid))"))
        #expect(text.output.contains(try #require(counts.first).policy))

        // Acknowledge the story case; the daemon is poked and applies it at once.
        let ack = try Subprocess.run([escalatorBinary, "ack", "TT-1001", "--config", fixture.configDirectory, "--by", "rep5", "--for", "2d", "--note", "calling\nthe customer"])
        #expect(ack.succeeded, "\(ack.output)")
        #expect(ack.output.contains("Case TT-1001 acknowledged by rep5 (every policy) until "))
        #expect(try store.acknowledgements(caseID: "TT-1001").first?.note == "calling the customer")
        let deadline = Date().addingTimeInterval(20)
        while !daemon.log.contains("Acknowledgement by rep5 of case TT-1001 (every policy)") && Date() < deadline { usleep(50_000) }
        #expect(daemon.log.contains("Acknowledgement by rep5 of case TT-1001 (every policy)"), "\(daemon.log.suffix(2000))")

        let unack = try Subprocess.run([escalatorBinary, "unack", "TT-1001", "--config", fixture.configDirectory, "--by", "rep5"])
        #expect(unack.succeeded, "\(unack.output)")
        #expect(try store.acknowledgements(caseID: "TT-1001").isEmpty)
        let again = try Subprocess.run([escalatorBinary, "unack", "TT-1001", "--config", fixture.configDirectory, "--by", "rep5"])
        #expect(again.status == 1)
        #expect(again.output.contains("has no acknowledgement in force"))

        let nobody = try Subprocess.run([escalatorBinary, "ack", "TT-1001", "--config", fixture.configDirectory, "--by", "nobody", "--for", "1h"])
        #expect(nobody.status != 0)
        #expect(nobody.output.contains("--by nobody is not a person of the rules"))
        #expect(try Subprocess.run([escalatorBinary, "ack", "TT-1001", "--config", fixture.configDirectory, "--by", "rep5"]).output.contains("give exactly one of --until and --for"))
    }

    @Test func aSecondDaemonOnTheSameStateIsRefusedWithAClearMessage() throws {
        let fixture = try DaemonFixture(background: 0)
        defer { fixture.directory.remove() }
        let socket = try NotifySocket(path: "\(fixture.directory.path)/notify.sock")
        let first = try BackgroundProcess([escalatorBinary, "run", "--config", fixture.configDirectory], environment: ["NOTIFY_SOCKET": socket.path])
        defer { first.stop() }
        #expect(socket.receive(timeout: 60) { $0["READY"] == "1" })
        let second = try BackgroundProcess([escalatorBinary, "run", "--config", fixture.configDirectory])
        #expect(second.wait(timeout: 60) == .status(1))
        #expect(second.log.contains("is in use by escalator run (pid \(first.pid))"), "\(second.log)")
    }

    @Test func anInvalidConfigurationExitsWithExConfigAndNamesTheLine() throws {
        let fixture = try DaemonFixture(background: 0)
        defer { fixture.directory.remove() }
        let policies = "\(fixture.configDirectory)/rules.d/40-policies.yaml"
        try (try String(contentsOfFile: policies, encoding: .utf8) + "\n  - name: broken\n    measure: nonsense\n").write(toFile: policies, atomically: true, encoding: .utf8)
        let daemon = try BackgroundProcess([escalatorBinary, "run", "--config", fixture.configDirectory])
        #expect(daemon.wait(timeout: 60) == .status(78))
        #expect(daemon.log.contains("\(policies):"), "\(daemon.log)")
    }

    /// SIGKILL between the state commit and the spool write, then between the spool write and the outbox
    /// recording it; after a clean restart there is exactly one email per notice.
    @Test func aKillAtEitherDeliveryInstantNeverLosesOrDuplicatesAnEmail() throws {
        let fixture = try DaemonFixture(background: 20)
        defer { fixture.directory.remove() }
        let spool = "\(fixture.spoolDirectory)/new"
        func spooled() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).sorted() }

        let killedAfterCommit = try BackgroundProcess(
            [escalatorBinary, "run", "--config", fixture.configDirectory], environment: [FaultPoints.variable: "after-commit"])
        #expect(killedAfterCommit.wait(timeout: 60) == .signal(SIGKILL), "\(killedAfterCommit.log)")
        let store = try StateStore(directory: fixture.stateDirectory, readOnly: true)
        let committed = try store.queuedNoticeIDs()
        #expect(!committed.isEmpty)
        #expect(try store.outboxDepth() == committed.count)
        #expect(spooled().isEmpty)

        let killedAfterSpool = try BackgroundProcess(
            [escalatorBinary, "run", "--config", fixture.configDirectory], environment: [FaultPoints.variable: "after-spool"])
        #expect(killedAfterSpool.wait(timeout: 60) == .signal(SIGKILL), "\(killedAfterSpool.log)")
        #expect(!spooled().isEmpty)
        #expect(try store.outboxDepth() > 0, "the kill came after the outbox recorded the delivery")

        let socket = try NotifySocket(path: "\(fixture.directory.path)/notify.sock")
        let clean = try BackgroundProcess([escalatorBinary, "run", "--config", fixture.configDirectory], environment: ["NOTIFY_SOCKET": socket.path])
        #expect(socket.receive(timeout: 60) { $0["STATUS"]?.contains(" open · ") == true })
        let deadline = Date().addingTimeInterval(60)
        while try store.outboxDepth() > 0 && Date() < deadline { usleep(50_000) }
        kill(clean.pid, SIGTERM)
        #expect(clean.wait(timeout: 60) == .status(0), "\(clean.log)")

        let notices = try store.queuedNoticeIDs()
        #expect(try store.outboxDepth() == 0)
        #expect(spooled() == notices.map { MailSpool.fileName(noticeID: $0) }.sorted())
        let messageIDs = try spooled().map { name -> String in
            let text = try String(contentsOfFile: "\(spool)/\(name)", encoding: .utf8)
            return try #require(OutboxDelivery.messageID(text))
        }
        #expect(Set(messageIDs).count == notices.count)
    }
}

/// The README's first command, as a user runs it: from the repository, with the default relative `--out`.
@Suite struct DemoCommandTests {
    @Test func theDemoRunsFromARelativeOutputFolderAndLeavesAWorkingConfiguration() throws {
        let work = try TemporaryDirectory("escalator-demo-cwd")
        defer { work.remove() }
        let result = try Subprocess.run(["/bin/sh", "-c", "cd '\(work.path)' && '\(escalatorBinary)' demo --rules '\(repositoryRoot)/Config' 2>&1"])
        #expect(result.succeeded, "\(result.output.suffix(2000))")
        #expect(result.output.contains("supervisor"), "\(result.output.suffix(2000))")
        let spooled = try FileManager.default.contentsOfDirectory(atPath: "\(work.path)/demo-out/spool/new")
        #expect(spooled.count > 1000)
        let check = try Subprocess.run([escalatorBinary, "check", "--config", "\(work.path)/demo-out/config"])
        #expect(check.succeeded, "\(check.output)")
    }
}

/// The tools that replay or preview must see the people the daemon sees: those of the rule files and those of the
/// source's directory query. Here the owner and the supervisor exist only in the order database.
@Suite struct DirectoryQueryToolTests {
    @Test func simulateAndExplainKnowThePeopleOfTheDirectoryQuery() throws {
        let work = try TemporaryDirectory("escalator-directory-tools")
        defer { work.remove() }
        let database = "\(work.path)/orders.db"
        let config = "\(work.path)/config"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: database)
        try queue.write { db in
            try db.execute(sql: ReferenceSchema.sqlite)
            try db.execute(sql: """
                INSERT INTO staff (id, name, email, supervisor) VALUES ('lead1', 'Team Lead', 'lead1@shop.example', NULL);
                INSERT INTO staff (id, name, email, supervisor) VALUES ('rep1', 'Rep One', 'rep1@shop.example', 'lead1');
                INSERT INTO orders (id, owner, opened_at, updated_at) VALUES ('Q-1', 'rep1', '2026-06-01 01:00:00', '2026-06-01 01:00:00');
                """)
        }
        // A supervisor missing from the directory (a database without the reference schema's foreign keys).
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            try db.execute(sql: "INSERT INTO staff (id, name, email, supervisor) VALUES ('rep2', 'Rep Two', 'rep2@shop.example', 'ghost')")
        }
        try queue.close()
        try """
            people:
              desk: { name: Service Desk, email: desk@shop.example }
            raci:
              fallback_owner: desk
            ladder:
              - { at: breach, to: responsible }
              - { at: breach + 1h, to: supervisor }
            policies:
              - name: two-hours
                measure: deadline
                deadline: opened_at + 2h
            \(ReferenceSchema.sourceSection(["driver: sqlite", "path: \(database)"], withDirectory: true))
            """.write(toFile: "\(config)/escalator.yaml", atomically: true, encoding: .utf8)

        let simulate = try Subprocess.run([
            escalatorBinary, "simulate", "--config", config, "--from", "2026-06-01T01:00:00Z", "--to", "2026-06-01T05:00:00Z",
            "--format", "json",
        ])
        #expect(simulate.succeeded, "\(simulate.output)")
        let lines = simulate.output.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(lines.count == 2, "\(simulate.output)")
        #expect(lines.first?.contains("\"step\":1,\"steps\":2,\"to\":[\"rep1\"]") == true, "\(simulate.output)")
        #expect(lines.last?.contains("\"step\":2,\"steps\":2,\"to\":[\"lead1\"]") == true, "\(simulate.output)")

        let explain = try Subprocess.run([escalatorBinary, "explain", "Q-1", "--config", config, "--at", "2026-06-01T02:30:00Z", "--replay"])
        #expect(explain.succeeded, "\(explain.output)")
        let next = explain.output.split(separator: "\n").first { $0.contains("next: step 1") }
        #expect(next?.hasSuffix("at Mon 2026-06-01 03:00 +00:00 to rep1") == true, "\(explain.output)")

        // `plan` combines the directory's people with two rule sets (here the same one): a problem of both is
        // said once.
        let plan = try Subprocess.run([escalatorBinary, "plan", "--config", config, "--current", config])
        #expect(plan.succeeded, "\(plan.output)")
        let ghost = "plan: warning: directory query: person rep2: supervisor ghost is not in the directory"
        #expect(plan.output.components(separatedBy: ghost).count - 1 == 1, "\(plan.output)")

        // A directory query that fails is a warning, as in the daemon: the rule files' people are used alone, and
        // the case without a known owner goes to the fallback owner.
        let broken = try DatabaseQueue(path: database)
        try broken.write { try $0.execute(sql: "ALTER TABLE staff RENAME TO former_staff") }
        try broken.close()
        let alone = try Subprocess.run([
            escalatorBinary, "simulate", "--config", config, "--from", "2026-06-01T01:00:00Z", "--to", "2026-06-01T05:00:00Z",
            "--format", "json",
        ])
        #expect(alone.succeeded, "\(alone.output)")
        #expect(alone.output.contains("simulate: warning: directory query failed, using the rule files' people only"), "\(alone.output)")
        #expect(alone.output.contains("\"step\":1,\"steps\":2,\"to\":[\"desk\"]"), "\(alone.output)")
    }
}
