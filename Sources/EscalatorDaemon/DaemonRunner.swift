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
        // One instance per state directory on a host, whichever store holds the state.
        let lock = try StateLock(directory: stateDirectory)
        let manager = ServiceManager()
        let reloadStatus = ReloadStatusFile(stateDirectory: stateDirectory)
        var configuration = configuration
        let store: any EscalationStore
        switch configuration.state.driver {
        case .sqlite:
            store = try StateStore(directory: stateDirectory)
        case .postgres:
            let shared = try PostgresStateStore(settings: configuration.state, role: .instance, environment: environment, logger: logger)
            let standby = Standby(
                store: shared, manager: manager, reloadStatus: reloadStatus, events: events, logger: logger,
                retry: Standby.retryInterval(configuration.state), failoverAfter: configuration.state.failoverAfter)
            guard let active = await standby.waitUntilActive(configuration) else {
                await shared.close()
                manager.stopping(status: "stopping (standby)")
                logger.notice("escalator stopped (it was a standby)")
                return
            }
            configuration = active
            store = shared
        }
        try await store.pruneDelivered(olderThan: DaemonClock(environment: environment).now().addingTimeInterval(-30 * 86_400))
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
        let daemon = try await Daemon(configuration: configuration, store: store, events: events, logger: logger, faults: faults)
        let heartbeat = Heartbeat()
        let outboxWaker = Waker()
        let watchdog = manager.watchdogInterval()
        let maximumSleep = min(watchdog.map { $0 / 2 } ?? .seconds(30), .seconds(30))
        let clock = DaemonClock(environment: environment)
        let scheduler = SchedulerService(
            daemon: daemon, manager: manager, heartbeat: heartbeat, outboxWaker: outboxWaker,
            reloadStatus: reloadStatus, events: events, logger: logger,
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
            await store.close()
            throw error
        }
        await daemon.close()
        let left = (try? await store.outboxDepth()) ?? 0
        await store.close()
        logger.notice("escalator stopped\(left > 0 ? "; \(left) notices wait in the outbox for the next start" : "")")
        withExtendedLifetime(lock) {}
    }
}
