import EscalatorConfig
import EscalatorOutputs
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Systemd
import UnixSignals

/// A value shared between tasks, behind a lock.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}

extension Locked where Value == Int {
    /// The count so far, leaving zero behind (signals received since the last look).
    func take() -> Int {
        withLock { count in
            defer { count = 0 }
            return count
        }
    }
}

/// Wakes a sleeping service early: a new outbox entry, a SIGHUP, a shutdown.
final class Waker: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after `timeout`, on `wake()`, or when the task is cancelled, whichever comes first.
    func wait(upTo timeout: Duration) async {
        if state.withLock({ state in
            defer { state.pending = false }
            return state.pending
        }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                try? await Task.sleep(for: timeout)
                let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
            group.cancelAll()
        }
    }
}

/// When the scheduler last completed a cycle: the watchdog pings systemd only while it is recent.
final class Heartbeat: Sendable {
    private let last = Mutex<ContinuousClock.Instant?>(nil)
    private let stopped = Mutex(false)

    func beat() { last.withLock { $0 = .now } }
    func stop() { stopped.withLock { $0 = true } }

    /// True if the scheduler is alive: it beat within `limit`, or has finished.
    func isAlive(within limit: Duration) -> Bool {
        if stopped.withLock({ $0 }) { return true }
        guard let last = last.withLock({ $0 }) else { return true }
        return ContinuousClock.now - last < limit
    }
}

/// The scheduler: poll → deadline queue → engine → state store, then wake the outbox. Handles SIGHUP (reload),
/// sends READY, STATUS, RELOADING and STOPPING.
struct SchedulerService: Service {
    let daemon: Daemon
    let manager: ServiceManager
    let heartbeat: Heartbeat
    let outboxWaker: Waker
    let reloadStatus: ReloadStatusFile
    let events: EventWriter
    let logger: Logger
    /// The longest the scheduler sleeps, so it beats often enough for the watchdog.
    let maximumSleep: Duration
    let clock: DaemonClock

    func run() async throws {
        let waker = Waker()
        let stopping = Locked(false)
        let reloadRequests = Locked(0)
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        // SIGUSR1: `escalator ack` changed something; look now rather than at the next deadline.
        let pokes = await UnixSignalsSequence(trapping: .sigusr1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in hangups {
                    reloadRequests.withLock { $0 += 1 }
                    waker.wake()
                }
            }
            group.addTask {
                for await _ in pokes { waker.wake() }
            }
            try await withGracefulShutdownHandler {
                // Ready once the configuration is loaded, the store open and the database known to answer (or known
                // not to, which the status says): the first full read of a large database can take a while.
                let problem = await daemon.probe()
                let generation = await daemon.generation
                let starting = "rules v\(generation) · starting: first full read of the order database · "
                    + (problem == nil ? "source ok" : "source DOWN (degraded): \(problem!)")
                manager.ready(status: starting)
                let configuration = await daemon.configuration
                events.write(
                    priority: 5, message: "escalator started: \(starting)",
                    fields: [("MESSAGE_ID", EventID.started.messageID), ("ESCALATOR_CONFIG", configuration.directory)])
                var handledReloads = reloadStatus.handled()
                while !stopping.withLock({ $0 }) {
                    let requested = reloadRequests.take()
                    if requested > 0 {
                        handledReloads += requested
                        await reload(handled: handledReloads)
                    }
                    let now = clock.now()
                    let report = try await daemon.cycle(now: now)
                    heartbeat.beat()
                    if report.queued > 0 { outboxWaker.wake() }
                    manager.status(report.status)
                    let untilNext = clock.wait(report.nextWake.timeIntervalSince(clock.now()))
                    await waker.wait(upTo: max(.milliseconds(20), min(untilNext, maximumSleep)))
                }
                heartbeat.stop()
            } onGracefulShutdown: {
                stopping.withLock { $0 = true }
                manager.stopping(status: "stopping: finishing the current tick and delivering the outbox")
                waker.wake()
            }
            group.cancelAll()
        }
    }

    private func reload(handled: Int) async {
        manager.reloading(status: "reloading the configuration")
        let outcome = await daemon.reload(now: clock.now())
        switch outcome {
        case .applied(let generation, let removed):
            var message = "Configuration reloaded: rules v\(generation) in force"
            if !removed.isEmpty { message += "; removed policies stop escalating: \(removed.joined(separator: ", "))" }
            events.write(priority: 5, message: message, fields: [("MESSAGE_ID", EventID.reloaded.messageID), ("ESCALATOR_RULES_VERSION", String(generation))])
            reloadStatus.record(handled: handled, ok: true, detail: message)
        case .rejected(let diagnostics):
            let generation = await daemon.generation
            let lines = diagnostics.map(\.description)
            let first = lines.first ?? "the configuration is invalid"
            events.write(
                priority: 3, message: "Reload rejected, rules v\(generation) stay in force: \(first)\(lines.count > 1 ? " (and \(lines.count - 1) more)" : "")",
                fields: [("MESSAGE_ID", EventID.reloadFailed.messageID), ("ESCALATOR_DIAGNOSTICS", lines.joined(separator: "\n"))])
            for line in lines.dropFirst().prefix(50) { logger.error("reload: \(line)") }
            reloadStatus.record(handled: handled, ok: false, detail: lines.joined(separator: "\n"))
        }
        let status = await daemon.statusLine(now: clock.now())
        manager.ready(status: status)
    }
}

/// Delivers the outbox whenever the scheduler queues notices, retrying failures with backoff, and empties it
/// on shutdown.
struct OutboxService: Service {
    let daemon: Daemon
    let waker: Waker
    let logger: Logger
    let clock: DaemonClock
    let idleWait: Duration

    func run() async throws {
        let stopping = Locked(false)
        try await withGracefulShutdownHandler {
            var failing: String?
            var backoff = Duration.seconds(1)
            while true {
                let stop = stopping.withLock { $0 }
                let delivery = await daemon.delivery
                let report = try await delivery.deliver(now: clock.now())
                if let failure = report.failure {
                    let waiting = (try? await delivery.store.outboxDepth()) ?? 0
                    if failing == nil {
                        logger.error("Delivering notices fails: \(failure). \(waiting) notices wait in the outbox and are retried; nothing is lost.")
                    }
                    failing = failure
                    backoff = min(backoff * 2, .seconds(60))
                } else {
                    if failing != nil { logger.notice("Delivering notices works again; the outbox is empty.") }
                    failing = nil
                    backoff = .seconds(1)
                }
                if stop { break }
                await waker.wait(upTo: failing == nil ? idleWait : backoff)
            }
        } onGracefulShutdown: {
            stopping.withLock { $0 = true }
            waker.wake()
        }
    }
}

/// Sends `WATCHDOG=1` at half the interval systemd asked for, but only while the scheduler keeps beating: a hung
/// poll or tick stops the pings and systemd restarts the daemon.
struct WatchdogService: Service {
    let manager: ServiceManager
    let heartbeat: Heartbeat
    let interval: Duration?
    let logger: Logger

    func run() async throws {
        guard let interval else {
            try? await gracefulShutdown()
            return
        }
        let stopping = Locked(false)
        let waker = Waker()
        await withGracefulShutdownHandler {
            var withheld = false
            while !stopping.withLock({ $0 }) {
                if heartbeat.isAlive(within: interval) {
                    manager.watchdog()
                    withheld = false
                } else if !withheld {
                    withheld = true
                    logger.critical("The scheduler has not completed a cycle within the watchdog interval; withholding the watchdog ping so systemd restarts escalator.")
                }
                await waker.wait(upTo: interval / 2)
            }
        } onGracefulShutdown: {
            stopping.withLock { $0 = true }
            waker.wake()
        }
    }
}
