import ArgumentParser
import EscalatorConfig
import EscalatorCore
import EscalatorDaemon
import EscalatorOutputs
import EscalatorRuntime
import EscalatorSources
import EscalatorState
import EscalatorTestKit
import Foundation
import GRDB
import Logging
import PostgresNIO
import Systemd

/// The benchmark harness of docs/benchmarks.md. For each size and driver it writes a synthetic order database
/// (about 10 activity rows per order), then measures, in one process and one run: the database's own floor
/// (sqlite3 / psql COPY of the same queries to /dev/null), escalator's full cycle (load and evaluate every case,
/// cold), an incremental tick with 1% of the cases changed, an idle tick, peak RSS, the daemon's first cycle
/// with its durable state, outbox delivery to spool and journal, start to READY=1, and `simulate`.
///
///     swift build -c release && .build/release/escalator-bench --cases 10000,100000 --drivers sqlite,postgres
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "escalator-bench", abstract: "Measure escalator against its targets.")

    @Option(help: "Comma-separated case counts.") var cases = "10000,100000"
    @Option(help: "Comma-separated drivers: sqlite, postgres.") var drivers = "sqlite,postgres"
    @Option(help: "Work directory (databases, state, spool).") var work = "/var/tmp/escalator-bench"
    @Option(help: "Run `escalator simulate` over 54 days for sizes up to this many cases.") var simulateUpTo = 100_000
    @Option(help: "Measure the daemon's first cycle and outbox delivery for sizes up to this many cases.") var daemonUpTo = 100_000
    @Option(help: "Load and evaluate in this process for sizes up to this many cases (above, only the floor and READY).") var loadUpTo = 100_000
    @Option(help: "The escalator binary for READY and simulate (default: next to this one).") var escalator: String?
    @Option(help: "Spread the orders over this many reps (default: one per 500 orders, at least 4).") var reps: Int?
    @Option(help: "Instead of the table: a soak of this many virtual days on the first size (sqlite), a JSON line per day.") var soakDays: Int?

    /// The synthetic data ends here; the benchmark's "now" is an hour later.
    static let end = Date(timeIntervalSince1970: 1_777_593_600)

    func run() async throws {
        let sizes = cases.split(separator: ",").compactMap { Int($0) }
        if let soakDays {
            try await Soak.run(cases: sizes.first ?? 10_000, days: soakDays, step: 900, work: work)
            return
        }
        let kinds = drivers.split(separator: ",").compactMap { SourceSettings.Driver(rawValue: String($0)) }
        let binary = escalator ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("escalator").path
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let server = kinds.contains(.postgres) ? try PostgresServer() : nil
        defer { server?.destroy() }
        FileHandle.standardOutput.write(Data("# machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory / 1_073_741_824) GiB; journal: \(Journal.isReachable ? "a real journald" : "none (entries to /dev/null)")\n".utf8))
        for driver in kinds {
            for size in sizes {
                let row = try await Measurement.run(driver: driver, cases: size, work: "\(work)/\(driver.rawValue)-\(size)", server: server, binary: binary, simulate: size <= simulateUpTo, daemon: size <= daemonUpTo, load: size <= loadUpTo, reps: reps)
                // Unbuffered, so each row shows as soon as it is measured.
                FileHandle.standardOutput.write(Data((row.json + "\n").utf8))
            }
        }
    }
}

/// One row of the table.
struct Row {
    var values: [(String, String)] = []
    mutating func set(_ key: String, _ value: Double) { values.append((key, String(format: "%.3f", value))) }
    mutating func set(_ key: String, _ value: Int) { values.append((key, String(value))) }
    mutating func set(_ key: String, _ value: String) { values.append((key, "\"\(value)\"")) }
    var json: String { "{" + values.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}" }
}

enum Measurement {
    static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// CPU seconds (user and system, all threads) this process has used so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Peak resident set size of this process, in bytes.
    static func peakRSS() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    static func run(driver: SourceSettings.Driver, cases: Int, work: String, server: PostgresServer?, binary: String, simulate: Bool, daemon measureDaemon: Bool, load measureLoad: Bool, reps: Int? = nil) async throws -> Row {
        var row = Row()
        row.set("driver", driver.rawValue)
        row.set("cases", cases)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let generator = SyntheticOrders(cases: cases, seed: 7, days: 60, end: Bench.end, reps: reps)
        row.set("reps", generator.reps)
        let database = "bench_\(cases)"
        row.set("generate_s", try await seconds {
            switch driver {
            case .sqlite: try generator.writeSQLite(path: "\(work)/orders.db")
            case .postgres:
                let server = server!
                try server.psql("DROP DATABASE IF EXISTS \(database)")
                try server.psql("CREATE DATABASE \(database)")
                try await generator.writePostgres(
                    PostgresConnection.Configuration(
                        host: "127.0.0.1", port: server.port, username: "postgres", password: server.superuserPassword, database: database, tls: .disable))
                try server.psql("ANALYZE", database: database)
            }
        })
        let configDirectory = try writeConfiguration(driver: driver, work: work, server: server, database: database)
        let configuration = try loadConfiguration(configDirectory)
        let settings = configuration.source!

        // The database's own floor: the same queries, output thrown away.
        let queries = [settings.cases.sql, settings.activity?.sql].compactMap { $0 }
        let floor = try await seconds {
            for sql in queries {
                let command: String
                switch driver {
                case .sqlite: command = "sqlite3 '\(work)/orders.db' \"\(sql)\" > /dev/null"
                case .postgres:
                    command = "PGPASSWORD='\(server!.superuserPassword)' psql -X -q -h 127.0.0.1 -p \(server!.port) -U postgres -d \(database) -c \"COPY (\(sql)) TO STDOUT\" > /dev/null"
                }
                let result = try Subprocess.run(["/bin/sh", "-c", command])
                guard result.succeeded else { throw ValidationError("baseline failed: \(result.output)") }
            }
        }
        row.set("floor_s", floor)
        // The same queries read by escalator's own driver into values, and nothing more done with them: how much of
        // the full cycle is reading alone, against the floor.
        let scanner = try CaseSources.open(settings)
        var scanned = 0
        row.set("bare_read_s", try await seconds { for sql in queries { scanned += try await scanner.scan(sql) } })
        await scanner.close()
        row.set("bare_read_rows", scanned)
        guard measureLoad else {
            row.set("ready_s", try startToReady(binary: binary, config: configDirectory, work: work))
            return row
        }

        // The full cycle, cold: read every case (the poller's first read is a full one) and evaluate them all.
        let rssBefore = peakRSS()
        let source = try CaseSources.open(settings)
        let poller = SourcePoller(source: source, settings: settings, packsCases: true, scratch: work)
        // As the daemon holds them: cases and states packed, on shelves (scratch files) in the work directory.
        var loop = EscalationLoop(packsStates: true, shelf: try Shelf(directory: work))
        loop.countedPolicies = Set(configuration.rules.policies.map(\.name))
        var byID = ShelvedRecords<PackedCase>(shelf: nil)
        let now = Bench.end.addingTimeInterval(3600)
        var loaded = 0
        var rules = configuration.rules
        let cpuBeforeLoad = cpuSeconds()
        let load = try await seconds {
            let outcome = await poller.poll(now: now)
            if outcome.failed {
                let error = await poller.health.lastError ?? ""
                throw ValidationError("the source failed: \(error)")
            }
            // As the daemon does after a full read: the directory query's people join the rule files'.
            if let people = try await source.readDirectory() { rules = rules.adding(people: people.people).rules }
            // A full read of a packing poller: the cases arrive packed, on the shelf it made.
            if let shelf = outcome.shelf { byID.adopt(shelf) }
            loaded = outcome.changedPacked.count
            byID.reserveCapacity(loaded)
            for subject in outcome.changedPacked {
                byID[subject.id] = subject
                loop.markChanged(subject.id)
            }
        }
        let loadCPU = cpuSeconds() - cpuBeforeLoad
        let rssAfterLoad = peakRSS()
        // As the daemon does between a full read and the tick that follows it.
        Daemon.returnFreedMemory()
        var decided = 0
        // As the daemon does: a batch of cases at a time, each batch's notices let go before the next, and the
        // states it changed taken for the store.
        func evaluateAll(_ loop: inout EscalationLoop) -> Int {
            var decided = 0
            while loop.hasWork(at: now) {
                decided += loop.tick(at: now, rules: rules, limit: Daemon.batchSize) { byID[$0] }.count
                _ = loop.drainTouched()
            }
            return decided
        }
        let cpuBeforeEvaluate = cpuSeconds()
        let evaluate = await seconds { decided = evaluateAll(&loop) }
        let evaluateCPU = cpuSeconds() - cpuBeforeEvaluate
        // Comparing two builds' evaluation: the same first tick again on fresh loops, each repeat's time and CPU
        // time printed (the machine's speed drifts more between runs than within one).
        let evaluateRepeats = Int(ProcessInfo.processInfo.environment["ESCALATOR_BENCH_EVALUATE_REPEATS"] ?? "") ?? 0
        for _ in 0..<evaluateRepeats {
            var again = EscalationLoop(packsStates: true, shelf: try Shelf(directory: work))
            again.countedPolicies = loop.countedPolicies
            for id in byID.records.keys { again.markChanged(id) }
            let cpu = cpuSeconds()
            let wall = await seconds { _ = evaluateAll(&again) }
            FileHandle.standardError.write(Data(String(format: "evaluate again: %.3f s, %.3f s CPU\n", wall, cpuSeconds() - cpu).utf8))
        }
        row.set("load_s", load)
        row.set("evaluate_s", evaluate)
        // CPU time of both (every thread's, user and system): how much work each is, apart from how well it uses
        // the cores, and steadier than the time on a shared machine.
        row.set("load_cpu_s", loadCPU)
        row.set("evaluate_cpu_s", evaluateCPU)
        row.set("full_cycle_s", load + evaluate)
        row.set("full_vs_floor", (load + evaluate) / floor)
        row.set("loaded_cases", loaded)
        // The scratch files (disk, and page cache while it is warm) that hold what memory no longer does.
        row.set("scratch_cases_mb", Double(byID.shelf?.size ?? 0) / 1_048_576)
        row.set("scratch_states_mb", Double(loop.stateShelf?.size ?? 0) / 1_048_576)
        row.set("notices_first_tick", decided)
        let rss = peakRSS()
        row.set("peak_rss_mb", Double(rss) / 1_048_576)
        row.set("peak_rss_after_load_mb", Double(rssAfterLoad) / 1_048_576)
        row.set("rss_bytes_per_case", (rss - rssBefore) / max(cases, 1))
        // As the daemon does after a full read: freed pages go back, and glibc's free lists are consolidated now
        // rather than at the next allocation (which made the first idle tick at 1M cost 5 ms).
        Daemon.returnFreedMemory()

        // Idle: nothing changed since the full read, 30 seconds later (whatever falls due in them is evaluated). The
        // first poll after a full read is reported on its own: SQLite's page cache then holds the tables the full
        // read scanned, not the change index, and reading it back in costs a few milliseconds once. The figure is the
        // mean of the polls after it.
        let idleAt = now.addingTimeInterval(30)
        var idleChanged = 0
        var idleRowsRead = 0
        var idleDue = 0
        let repeats = max(1, Int(ProcessInfo.processInfo.environment["ESCALATOR_BENCH_IDLE_REPEATS"] ?? "") ?? 3)
        let firstIdlePoll = await seconds { _ = await poller.poll(now: idleAt) }
        row.set("idle_first_poll_ms", firstIdlePoll * 1000)
        let idlePoll = await seconds {
            for _ in 0..<repeats {
                let one = await seconds {
                    let outcome = await poller.poll(now: idleAt)
                    idleChanged += outcome.changed.count
                    idleRowsRead += outcome.rowsRead
                }
                if repeats > 3 { FileHandle.standardError.write(Data("idle poll \(Int(one * 1000)) ms\n".utf8)) }
            }
        } / Double(repeats)
        // The tick likewise: the first after the big one reported apart (it touches memory the first tick left
        // cold), the figure the mean of the three after it.
        let firstIdleTick = await seconds { idleDue = loop.tick(at: idleAt, rules: rules) { byID[$0] }.count }
        row.set("idle_first_tick_ms", firstIdleTick * 1000)
        let idleTick = await seconds {
            for _ in 0..<3 { idleDue += loop.tick(at: idleAt, rules: rules) { byID[$0] }.count }
        } / 3
        row.set("idle_ms", (idlePoll + idleTick) * 1000)
        row.set("idle_poll_ms", idlePoll * 1000)
        row.set("idle_tick_ms", idleTick * 1000)
        row.set("idle_changed", idleChanged)
        row.set("idle_rows_read", idleRowsRead)
        row.set("idle_notices", idleDue)
        row.set("idle_evaluated", loop.lastTickEvaluated)

        // 1% of the cases change: their row is touched and each gets a customer message.
        let changed = max(1, cases / 100)
        let later = now.addingTimeInterval(60)
        try touch(driver: driver, work: work, server: server, database: database, count: changed, cases: cases, at: now.addingTimeInterval(30))
        var seen = 0
        let incremental = await seconds {
            let outcome = await poller.poll(now: later)
            seen = outcome.changed.count
            for subject in outcome.changed {
                byID[subject.id] = PackedCase(subject)
                loop.markChanged(subject.id)
            }
            _ = loop.tick(at: later, rules: rules) { byID[$0] }
        }
        row.set("incremental_s", incremental)
        row.set("incremental_vs_full", incremental / (load + evaluate))
        row.set("incremental_changed", seen)

        // What the process holds once the first tick is done, and how much of it is the escalation states, the
        // cases and the poller's fingerprints (each measured after giving freed pages back).
        func held() -> Double {
            Daemon.returnFreedMemory()
            return Double(Soak.currentRSS()) / 1_048_576
        }
        let holding = held()
        row.set("held_mb", holding)
        loop = EscalationLoop(packsStates: true)
        let withoutStates = held()
        row.set("held_states_mb", holding - withoutStates)
        byID = ShelvedRecords(shelf: nil)
        let withoutCases = held()
        row.set("held_cases_mb", withoutStates - withoutCases)
        await source.close()
        _ = consume poller
        row.set("held_poller_mb", withoutCases - held())

        if measureDaemon { try await daemonRows(&row, configuration: configuration, work: work, now: now) }

        // Start to READY=1: the real binary, on a fresh state directory.
        row.set("ready_s", try startToReady(binary: binary, config: configDirectory, work: work))

        if simulate {
            let from = ISO8601DateFormatter().string(from: Bench.end.addingTimeInterval(-54 * 86_400))
            let to = ISO8601DateFormatter().string(from: Bench.end)
            var status: Int32 = 0
            row.set("simulate_54d_s", try await seconds {
                status = try Subprocess.run(["/bin/sh", "-c", "'\(binary)' simulate --config '\(configDirectory)' --from \(from) --to \(to) --step 15m --format json > /dev/null"]).status
            })
            row.set("simulate_status", Int(status))
        }
        return row
    }

    /// The daemon's own first cycle: the same work plus rendering each notice's email and committing the state
    /// and the outbox; then delivering that outbox to the spool and the journal.
    static func daemonRows(_ row: inout Row, configuration: EscalatorConfig.Configuration, work: String, now: Date) async throws {
        let events = Journal.isReachable ? EventWriter(mode: .journal) : EventWriter(mode: .pipe, output: FileHandle(forWritingAtPath: "/dev/null")!)
        let store = try StateStore(directory: "\(work)/state")
        // Its scratch files in the directory of the store it is given, as a daemon keeps them in its state directory.
        let daemon = try await Daemon(configuration: configuration, store: store, events: events, logger: Logger(label: "bench"), scratch: "\(work)/state")
        var queued = 0
        row.set("daemon_first_cycle_s", try await seconds { queued = try await daemon.cycle(now: now).queued })
        row.set("daemon_queued", queued)
        // Idle cycles of the daemon itself (poll, acknowledgements, tick, status, state store), a minute apart so
        // that each polls. The first reads again the rows touched above (30 s after `now`): the clock of the poll
        // before it (`now`) is not yet an overlap (5 minutes) past them. The next two read nothing, and are the
        // figure.
        var idle: [Double] = []
        var idleNotices = 0
        var idleEvaluated = 0
        var idleRowsRead = 0
        for minute in 1...3 {
            idle.append(try await seconds {
                let report = try await daemon.cycle(now: now.addingTimeInterval(339 + Double(minute) * 61))
                idleNotices += report.notices.count
                if minute > 1 {
                    idleEvaluated += report.evaluated
                    idleRowsRead += report.rowsRead
                }
            })
        }
        row.set("daemon_idle_first_ms", idle[0] * 1000)
        row.set("daemon_idle_ms", idle.dropFirst().reduce(0, +) / Double(idle.count - 1) * 1000)
        row.set("daemon_idle_notices", idleNotices)
        // Cases that fell due in the minutes between those cycles: evaluated, so not a pure idle cycle.
        row.set("daemon_idle_evaluated", idleEvaluated)
        row.set("daemon_idle_rows_read", idleRowsRead)
        let delivery = await daemon.delivery
        await daemon.close()
        try MailSpool(root: "\(work)/spool").prepare()
        var delivered = 0
        let deliver = try await seconds { delivered = try await delivery.deliver(now: now).emailed }
        row.set("delivered", delivered)
        row.set("notices_per_s", Double(delivered) / max(deliver, 1e-9))
    }

    static func writeConfiguration(
        driver: SourceSettings.Driver, work: String, server: PostgresServer?, database: String, sourceKeys: [String] = ["poll_every: 1m"]
    ) throws -> String {
        let directory = "\(work)/config"
        let manager = FileManager.default
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Config").path
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for item in try manager.contentsOfDirectory(atPath: shipped) where item != "tests" && item != "escalator.yaml" {
            try manager.copyItem(atPath: "\(shipped)/\(item)", toPath: "\(directory)/\(item)")
        }
        let connection: [String]
        switch driver {
        case .sqlite:
            connection = ["driver: sqlite", "path: \(work)/orders.db"]
        case .postgres:
            try server!.superuserPassword.write(toFile: "\(work)/pgpassword", atomically: true, encoding: .utf8)
            connection = [
                "driver: postgres", "host: 127.0.0.1", "port: \(server!.port)", "database: \(database)", "user: postgres",
                "password_file: \(work)/pgpassword", "sslmode: disable",
            ]
        }
        try """
            defaults:
              calendar: store-hours
            \(ReferenceSchema.sourceSection(connection + sourceKeys, withDirectory: true))\
            mail:
              from: escalator@shop.example
              spool: \(work)/spool
            state:
              directory: \(work)/daemon-state

            """.write(toFile: "\(directory)/escalator.yaml", atomically: true, encoding: .utf8)
        return directory
    }

    static func loadConfiguration(_ directory: String) throws -> EscalatorConfig.Configuration {
        let result = ConfigLoader.load(directory: directory)
        guard let configuration = result.configuration else {
            throw ValidationError(result.diagnostics.map(\.description).joined(separator: "\n"))
        }
        return configuration
    }

    /// Changes `count` orders spread over the table, as the shop's software would.
    static func touch(driver: SourceSettings.Driver, work: String, server: PostgresServer?, database: String, count: Int, cases: Int, at: Date) throws {
        let stamp = TimestampParser.format(at)
        let stride = max(1, cases / count)
        let ids = (0..<count).map { "ORD-\(String($0 * stride + 1).leftPadded(7))" }
        switch driver {
        case .sqlite:
            let writer = try DatabaseQueue(path: "\(work)/orders.db")
            try writer.write { db in
                for id in ids {
                    try db.execute(sql: "UPDATE orders SET updated_at = ? WHERE id = ?", arguments: [stamp, id])
                    try db.execute(
                        sql: "INSERT INTO order_activity (id, order_id, kind, at, actor, text) VALUES (?, ?, 'customer_message', ?, 'customer', 'Any news?')",
                        arguments: ["\(id)-BENCH", id, stamp])
                }
            }
        case .postgres:
            let list = ids.map { "'\($0)'" }.joined(separator: ",")
            // The schema's trigger would stamp the rows with the server's clock; the harness writes its own time,
            // as on SQLite, so that the idle cycles after it see a database quiet for longer than the overlap.
            try server!.psql(
                """
                ALTER TABLE orders DISABLE TRIGGER orders_touch;
                UPDATE orders SET updated_at = '\(stamp)' WHERE id IN (\(list));
                ALTER TABLE orders ENABLE TRIGGER orders_touch;
                INSERT INTO order_activity (id, order_id, kind, at, actor, text)
                SELECT id || '-BENCH', id, 'customer_message', '\(stamp)', 'customer', 'Any news?' FROM orders WHERE id IN (\(list));
                """, database: database)
        }
    }

    /// Seconds from starting `escalator run` to its READY=1.
    static func startToReady(binary: String, config: String, work: String) throws -> Double {
        try? FileManager.default.removeItem(atPath: "\(work)/daemon-state")
        let socket = try NotifySocket(path: "\(work)/notify.sock")
        let start = Date()
        let daemon = try BackgroundProcess([binary, "run", "--config", config], environment: ["NOTIFY_SOCKET": socket.path])
        defer { daemon.stop() }
        guard socket.receive(timeout: 600, until: { $0["READY"] == "1" }) else { throw ValidationError("no READY=1: \(daemon.log.suffix(2000))") }
        return Date().timeIntervalSince(start)
    }
}
