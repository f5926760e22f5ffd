import EscalatorConfig
import EscalatorCore
import EscalatorDaemon
import EscalatorOutputs
import EscalatorSources
import EscalatorState
import Foundation
import GRDB
import Logging

/// The bounded soak: the daemon (in this process, with its SQLite state store, delivering to a spool) runs a
/// virtual week at 15-minute steps against an order database that keeps changing as a shop's would. Every step,
/// about 1 in 400 open orders gets activity (a customer message, a reply, an internal note) and 1 in 500 is
/// closed and replaced by a new order, so the open count stays steady; once a day, orders closed more than two
/// days before are archived (deleted from the tables the daemon reads).
/// Once per virtual day it prints one JSON line: resident memory, what the daemon holds, notices and time.
enum Soak {
    static func run(cases: Int, days: Int, step: TimeInterval, work: String) async throws {
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let start = Bench.end.addingTimeInterval(3600)
        let generator = SyntheticOrders(cases: cases, seed: 11, days: 30, end: Bench.end)
        try generator.writeSQLite(path: "\(work)/orders.db")
        let config = try Measurement.writeConfiguration(
            driver: .sqlite, work: work, server: nil, database: "", sourceKeys: ["poll_every: 1m", "full_resync_every: 24h"])
        let configuration = try Measurement.loadConfiguration(config)
        let spool = MailSpool(root: "\(work)/spool")
        try spool.prepare()
        let store = try StateStore(directory: "\(work)/daemon-state")
        let events = EventWriter(mode: .pipe, output: FileHandle(forWritingAtPath: "/dev/null")!)
        let daemon = try await Daemon(configuration: configuration, store: store, events: events, logger: Logger(label: "soak"))

        let database = try DatabaseQueue(path: "\(work)/orders.db")
        var open = try await database.read { try String.fetchAll($0, sql: "SELECT id FROM orders WHERE closed_at IS NULL") }
        let owners = try await database.read { try String.fetchAll($0, sql: "SELECT id FROM staff WHERE id LIKE 'rep%'") }
        var random = SyntheticOrders.Random(state: 2026)
        var opened = 0
        var activity = 0
        var now = start
        var day = 0
        var dayNotices = 0
        var dayStarted = ContinuousClock.now
        let steps = Int(Double(days) * 86_400 / step)
        for index in 1...steps {
            let stamp = TimestampParser.format(now)
            // Each order at most once per step: the schema's trigger would stamp a second update with the wall clock.
            let touched = Set((0..<max(1, open.count / 400)).map { _ in open[random.below(open.count)] })
            var closing: [Int] = []
            for _ in 0..<max(1, open.count / 500) { closing.append(random.below(open.count)) }
            let closed = Set(closing).map { open[$0] }
            open.removeAll { closed.contains($0) }
            var newOrders: [String] = []
            for _ in closed {
                opened += 1
                newOrders.append("SOAK-\(String(opened).leftPadded(7))")
            }
            open += newOrders
            var notes: [(id: String, order: String, kind: String)] = []
            for id in touched where !closed.contains(id) {
                activity += 1
                notes.append(("SOAK-A\(activity)", id, ["customer_message", "customer_update", "internal_update"][random.below(3)]))
            }
            let fresh = newOrders.map { ($0, owners[random.below(owners.count)], owners[random.below(owners.count)]) }
            try await database.write { [notes, fresh, closed] db in
                for note in notes {
                    try db.execute(
                        sql: "INSERT INTO order_activity (id, order_id, kind, at, actor, text) VALUES (?, ?, ?, ?, ?, 'soak')",
                        arguments: [note.id, note.order, note.kind, stamp, note.kind == "customer_message" ? "customer" : "rep1"])
                    try db.execute(sql: "UPDATE orders SET updated_at = ? WHERE id = ?", arguments: [stamp, note.order])
                }
                for id in closed {
                    try db.execute(sql: "UPDATE orders SET status = 'delivered', closed_at = ?, updated_at = ? WHERE id = ?", arguments: [stamp, stamp, id])
                }
                for (id, owner, rep) in fresh {
                    try db.execute(
                        sql: "INSERT INTO orders (id, kind, status, owner, sales_rep, opened_at, updated_at) VALUES (?, 'custom-order', 'open', ?, ?, ?, ?)",
                        arguments: [id, owner, rep, stamp, stamp])
                }
            }
            dayNotices += try await daemon.cycle(now: now).queued
            _ = try await daemon.delivery.deliver(now: now)
            // The flusher's part: sent mail leaves the spool.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: spool.path(.new))) ?? [] {
                unlink("\(spool.path(.new))/\(name)")
            }
            now += step
            if Double(index) * step >= Double(day + 1) * 86_400 {
                day += 1
                // The shop archives orders closed more than two days ago: the next full read no longer has them.
                let cutoff = TimestampParser.format(now.addingTimeInterval(-2 * 86_400))
                try await database.write { db in
                    try db.execute(sql: "DELETE FROM order_activity WHERE order_id IN (SELECT id FROM orders WHERE closed_at < ?)", arguments: [cutoff])
                    try db.execute(sql: "DELETE FROM orders WHERE closed_at < ?", arguments: [cutoff])
                }
                Daemon.returnFreedMemory()
                let footprint = await daemon.footprint()
                let elapsed = ContinuousClock.now - dayStarted
                var row = Row()
                row.set("soak_day", day)
                row.set("rss_mb", Double(currentRSS()) / 1_048_576)
                row.set("open_orders", open.count)
                row.set("orders_ever", cases + opened)
                row.set("cases_in_memory", footprint.cases)
                row.set("states_in_memory", footprint.states)
                row.set("queue_entries", footprint.queue)
                row.set("released", footprint.released)
                row.set("known_to_poller", footprint.known)
                row.set("scratch_mb", Double(footprint.scratchBytes) / 1_048_576)
                row.set("notices", dayNotices)
                row.set("outbox_rows", try store.queuedNoticeIDs().count)
                row.set("seconds", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                FileHandle.standardOutput.write(Data((row.json + "\n").utf8))
                dayNotices = 0
                dayStarted = ContinuousClock.now
            }
        }
        await daemon.close()
    }

    /// Resident memory now (VmRSS), in bytes.
    static func currentRSS() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
}
