import EscalatorConfig
import EscalatorCore
import EscalatorOutputs
import EscalatorState
import Foundation
import Logging
import Systemd
import UnixSignals

/// A hot standby: the configuration is loaded and checked, the shared state store is reachable (or the status says
/// it is not), and the instance tries the cluster's active lock every `retry` until it holds it.
///
/// Under systemd the unit is started (`READY=1`) as soon as the standby is in place; `STATUS=` starts with
/// `standby`. SIGHUP reloads and checks the configuration (so `systemctl reload` works on a standby too), and
/// SIGTERM stops the wait.
struct Standby {
    let store: PostgresStateStore
    let manager: ServiceManager
    let reloadStatus: ReloadStatusFile
    let events: EventWriter
    let logger: Logger
    /// How often the lock is tried.
    let retry: Duration
    /// What the status says of the time to take over.
    let failoverAfter: EscalatorCore.Span

    /// How often a standby tries the lock: a third of failover_after, from 1 to 10 seconds.
    static func retryInterval(_ settings: StateSettings) -> Duration {
        .seconds(min(10, max(1, (settings.failoverAfter.fixedSeconds ?? 30) / 3)))
    }

    /// Returns the configuration in force once this instance is active, or nil if it was asked to stop first.
    func waitUntilActive(_ initial: Configuration) async -> Configuration? {
        var configuration = initial
        let stop = Locked(false)
        let hangups = Locked(0)
        let waker = Waker()
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup)
        let listener = Task {
            for await signal in signals {
                if signal == .sighup {
                    hangups.withLock { $0 += 1 }
                } else {
                    stop.withLock { $0 = true }
                }
                waker.wake()
            }
        }
        defer { listener.cancel() }

        var prepared = false
        var announced = false
        var lastStatus = ""
        var handledReloads = reloadStatus.handled()
        while !stop.withLock({ $0 }) {
            let requested = hangups.take()
            if requested > 0 {
                handledReloads += requested
                configuration = reload(configuration, handled: handledReloads)
            }
            let status: String
            do {
                if !prepared {
                    try await store.prepare(create: true)
                    prepared = true
                }
                if try await store.tryAcquire() {
                    events.write(
                        priority: 5, message: "This instance is now the active one of cluster \(store.cluster) on the shared state store \(store.location)",
                        fields: [("MESSAGE_ID", EventID.active.messageID), ("ESCALATOR_CLUSTER", store.cluster)])
                    return configuration
                }
                let holder = await store.activeHolder() ?? "another instance"
                status = "standby: cluster \(store.cluster) is active on \(holder); this instance takes over within \(failoverAfter) of its loss"
            } catch {
                status = "standby: the shared state store is unreachable (\(error)); retrying"
            }
            if !announced {
                manager.ready(status: status)
                events.write(
                    priority: 5, message: "escalator started as a standby: \(status)",
                    fields: [("MESSAGE_ID", EventID.standby.messageID), ("ESCALATOR_CLUSTER", store.cluster)])
                announced = true
            } else if status != lastStatus {
                manager.status(status)
                logger.notice("\(status)")
            }
            lastStatus = status
            manager.watchdog()
            await waker.wait(upTo: retry)
        }
        return nil
    }

    /// Checks the configuration on disk and keeps it if valid; records the verdict for `escalator reload`.
    private func reload(_ current: Configuration, handled: Int) -> Configuration {
        let result = ConfigLoader.load(directory: current.directory)
        guard let next = result.configuration else {
            let lines = result.diagnostics.filter { $0.severity == .error }.map(\.description)
            events.write(
                priority: 3, message: "Reload rejected on a standby, the configuration checked before stays: \(lines.first ?? "the configuration is invalid")",
                fields: [("MESSAGE_ID", EventID.reloadFailed.messageID), ("ESCALATOR_DIAGNOSTICS", lines.joined(separator: "\n"))])
            reloadStatus.record(handled: handled, ok: false, detail: lines.joined(separator: "\n"))
            return current
        }
        if next.state != current.state {
            logger.warning("the state section changed; it takes effect at the next start")
        }
        let message = "Configuration reloaded on a standby; it is the one in force when this instance takes over"
        events.write(priority: 5, message: message, fields: [("MESSAGE_ID", EventID.reloaded.messageID)])
        reloadStatus.record(handled: handled, ok: true, detail: message)
        return next
    }
}
