import ArgumentParser
import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import EscalatorState
import Foundation

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the daemon is doing: open cases per policy, next deadlines, the outbox, the last poll, the source.",
        discussion: """
            Reads the daemon's state store (SQLite in WAL mode, or the shared PostgreSQL store) without blocking the daemon, whether it runs or \
            not. Run it as root or as the escalator user.
            """)

    @OptionGroup var options: ConfigOptions
    @Option(help: "text or json.") var format: DemoCommand.OutputFormat = .text
    @Option(help: "How many upcoming deadlines to list.") var deadlines = 10

    func run() async throws {
        let settings = try stateSettings(options)
        let directory = settings.resolvedDirectory()
        let store: any EscalationStore
        do {
            store = try await EscalationStores.open(settings, for: .read)
        } catch {
            print("status: \(error)", to: &standardError)
            throw ExitCode.failure
        }
        let now = Date()
        let meta = try await store.meta()
        let holder = StateLock.runningHolder(directory: directory)
        let running = holder != nil
        let policies = try await store.openOccurrences(now: now)
        let upcoming = try await store.nextDeadlines(limit: deadlines)
        let depth = try await store.outboxDepth()
        let failing = try await store.failingOutbox(limit: 5)
        // With a shared store, the instance on this host may be a standby; the store knows which one is active.
        let active = await (store as? PostgresStateStore)?.activeHolder()
        await store.close()

        switch format {
        case .json:
            var daemon: [String: Any] = ["running": running, "state_directory": directory, "state_store": store.location]
            if running, let holder { daemon["pid"] = Int(holder) }
            if settings.driver == .postgres { daemon["active_instance"] = active ?? NSNull() }
            for key in ["status", "last_tick", "last_poll", "source", "generation", "open_cases", "config"] {
                if let value = meta[key] { daemon[key] = value }
            }
            let object: [String: Any] = [
                "daemon": daemon,
                "outbox": ["waiting": depth, "failing": failing.map { ["notice_id": $0.noticeID, "attempts": $0.attempts, "error": $0.error] }],
                "policies": policies.map { ["policy": $0.policy, "open": $0.open, "breached": $0.breached] },
                "next_deadlines": upcoming.map { ["case": $0.caseID, "due": UTCTimestamp.format($0.due)] },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        case .text:
            let local = TimeZone.current
            func time(_ iso: String?) -> String {
                guard let iso, let date = ISO8601DateFormatter().date(from: iso) else { return "never" }
                return LocalTime.format(date, in: local)
            }
            if settings.driver == .postgres {
                print("shared state store \(store.location): active instance \(active ?? "none")")
                print(running ? "an instance runs on this host (pid \(holder!))" : "no instance runs on this host")
                print("last status of the active instance: \(meta["status"] ?? "none yet")")
            } else if running, let holder {
                print("escalator is running (pid \(holder)): \(meta["status"] ?? "starting")")
            } else {
                print("escalator is not running (state in \(directory))")
            }
            print("last tick \(time(meta["last_tick"])) · last poll \(time(meta["last_poll"])) · source \(meta["source"] ?? "unknown")")
            print("outbox: \(depth) notices waiting\(failing.isEmpty ? "" : ", failing: \(failing[0].error) (\(failing[0].attempts) attempts)")")
            print("")
            if policies.isEmpty {
                print("No open escalations.")
            } else {
                let width = max(6, policies.map(\.policy.count).max() ?? 0)
                print("policy".padding(toLength: width, withPad: " ", startingAt: 0) + "    open  breached")
                for row in policies {
                    print(row.policy.padding(toLength: width, withPad: " ", startingAt: 0) + String(row.open).rightAligned(8) + String(row.breached).rightAligned(10))
                }
            }
            if !upcoming.isEmpty {
                print("\nNext deadlines:")
                for (caseID, due) in upcoming { print("  \(LocalTime.format(due, in: local))  \(caseID)") }
            }
        }
    }
}

extension String {
    /// Right-aligned in `width` columns.
    fileprivate func rightAligned(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

/// The state directory of the configuration: its `state.directory`, else `$STATE_DIRECTORY`, else the default.
func stateSettings(_ options: ConfigOptions) throws -> StateSettings {
    let result = ConfigLoader.load(directory: options.config)
    guard let configuration = result.configuration else {
        for diagnostic in result.diagnostics where diagnostic.severity == .error { print(diagnostic, to: &standardError) }
        throw ExitCode.failure
    }
    return configuration.state
}
