import EscalatorRuntime
import EscalatorSources
import EscalatorState
import Foundation
import GRDB
import Testing

@testable import EscalatorDaemon

@Suite struct SourceReloadTests {
    /// A reload that points the source at another database forgets the cases only the old one had.
    @Test func aNewSourceReplacesTheCasesOfTheOldOne() async throws {
        let fixture = try DaemonFixture(background: 10)
        defer { fixture.directory.remove() }
        let (_, daemon, _) = try await fixture.openDaemon()
        let before = try await DaemonFixture.run(daemon, from: DemoStory.day(1, "00:00"), to: DemoStory.day(30, "00:00"))
        #expect(before.contains { !$0.hasPrefix("TT-1001/") }, "the old database had no other escalating order: the test proves nothing")
        // The new database has only the story's order.
        let smaller = "\(fixture.directory.path)/smaller.db"
        try FileManager.default.copyItem(atPath: fixture.demo.databasePath, toPath: smaller)
        let writer = try DatabaseQueue(path: smaller)
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM order_activity WHERE order_id <> 'TT-1001'")
            try db.execute(sql: "DELETE FROM orders WHERE id <> 'TT-1001'")
        }
        try writer.close()
        let main = "\(fixture.configDirectory)/escalator.yaml"
        try (try String(contentsOfFile: main, encoding: .utf8)).replacingOccurrences(of: fixture.demo.databasePath, with: smaller)
            .write(toFile: main, atomically: true, encoding: .utf8)
        guard case .applied = await daemon.reload(now: DemoStory.day(30, "00:00")) else {
            Issue.record("the reload was rejected")
            return
        }
        let after = try await DaemonFixture.run(daemon, from: DemoStory.day(30, "00:00"), to: DemoStory.day(54, "00:00"))
        let status = await daemon.statusLine(now: DemoStory.day(54, "00:00"))
        await daemon.close()
        #expect(!after.isEmpty)
        #expect(after.allSatisfy { $0.hasPrefix("TT-1001/") }, "a case only the old database had was still escalated")
        #expect(status.contains(" 1 open · ") || status.contains(" 0 open · "), "\(status)")
    }
}
