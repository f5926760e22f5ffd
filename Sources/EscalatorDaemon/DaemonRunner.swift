import EscalatorConfig
import EscalatorOutputs
import EscalatorState
import Foundation
import Logging
import ServiceLifecycle
import Systemd

/// Builds the daemon from a loaded configuration and runs its three services in a ServiceGroup until SIGTERM.
///
/// Services shut down in reverse order: the scheduler finishes its tick first, then the outbox is delivered,
/// then the watchdog stops.
public enum DaemonRunner {
    public static func run(
        configuration: Configuration, events: EventWriter, logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws {
        let stateDirectory = configuration.state.resolvedDirectory(environment: environment)
        let lock = try StateLock(directory: stateDirectory)
        let store = try StateStore(directory: stateDirectory)
        try store.pruneDelivered(olderThan: Date().addingTimeInterval(-30 * 86_400))
        if let mail = configuration.mail {
            do {
                let spool = MailSpool(root: mail.spool)
                try spool.prepare()
                spool.removeAbandonedTemporaryFiles()
            } catch {
                throw StateError("cannot prepare the mail spool \(mail.spool): \(error)")
            }
        }
        let faults = FaultPoints(environment: environment)
        let daemon = try Daemon(configuration: configuration, store: store, events: events, logger: logger, faults: faults)
        let manager = ServiceManager()
        let heartbeat = Heartbeat()
        let outboxWaker = Waker()
        let watchdog = manager.watchdogInterval()
        let maximumSleep = min(watchdog.map { $0 / 2 } ?? .seconds(30), .seconds(30))
        let clock: @Sendable () -> Date = { Date() }
        let scheduler = SchedulerService(
            daemon: daemon, manager: manager, heartbeat: heartbeat, outboxWaker: outboxWaker,
            reloadStatus: ReloadStatusFile(stateDirectory: stateDirectory), events: events, logger: logger,
            maximumSleep: maximumSleep, clock: clock)
        let outbox = OutboxService(daemon: daemon, waker: outboxWaker, logger: logger, clock: clock, idleWait: .seconds(30))
        let watchdogService = WatchdogService(manager: manager, heartbeat: heartbeat, interval: watchdog, logger: logger)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: watchdogService, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "watchdog"),
                    .init(service: outbox, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "outbox"),
                    .init(service: scheduler, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "scheduler"),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            await daemon.close()
            throw error
        }
        await daemon.close()
        let left = (try? store.outboxDepth()) ?? 0
        logger.notice("escalator stopped\(left > 0 ? "; \(left) notices wait in the outbox for the next start" : "")")
        withExtendedLifetime(lock) {}
    }
}
